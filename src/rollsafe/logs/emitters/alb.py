"""ALB access log lines and files, as the ALB writes them and S3 delivers them: one line per request,
29+ space-separated fields, gzip files per LB node per 5 minutes under
``AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/`` (AWS "Access logs for your
Application Load Balancer": file name format and field list). It renders; it never decides an outcome.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rollsafe.model.timeline import Names

FILE_PERIOD_S = (
    300  # "Elastic Load Balancing publishes a log file for each load balancer node every 5 minutes"
)


@dataclass(frozen=True, slots=True)
class AlbRequest:
    """What one access log line says. ``target`` None writes ``-`` (no target chosen); a processing time
    of None writes ``-1`` (AWS: "-1 if the load balancer can't dispatch the request to a target ... or
    the target closes the connection before the idle timeout")."""

    time: datetime  # when the LB answered the client
    created: datetime  # request_creation_time: when the LB received the request
    client: str
    target: str | None
    request_s: float | None
    target_s: float | None
    response_s: float | None
    elb_status: int
    target_status: int | None
    received: int
    sent: int
    request: str
    user_agent: str
    trace: str
    conn: str


def _t(x: float | None) -> str:
    return "-1" if x is None else f"{x:.3f}"


def format_line(r: AlbRequest, names: Names) -> str:
    """One access log line with the 30 fields of current ALBs (29 plus conn_trace_id)."""
    target = r.target or "-"
    tstatus = "-" if r.target_status is None else str(r.target_status)
    created = r.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000Z"
    time = r.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"http {time} {names.elb} {r.client} {target} {_t(r.request_s)} {_t(r.target_s)} "
        f"{_t(r.response_s)} {r.elb_status} {tstatus} {r.received} {r.sent} "
        f'"{r.request}" "{r.user_agent}" - - {names.target_group_arn} "{r.trace}" "-" "-" 0 {created} '
        f'"forward" "-" "-" "{target}" "{tstatus}" "-" "-" {r.conn}'
    )


def file_name(names: Names, node_ip: str, end: datetime, seq: int) -> str:
    """``<account>_elasticloadbalancing_<region>_app.<lb-name>.<lb-id>_<end-time>_<node-ip>_<random>``."""
    return (
        f"{names.account}_elasticloadbalancing_{names.region}_app.{names.lb_name}.{names.lb_id}_"
        f"{end.strftime('%Y%m%dT%H%MZ')}_{node_ip}_{names._hex(f'{node_ip}/{end.isoformat()}/{seq}', 8)}"
        ".log.gz"
    )


def period_end(at: datetime) -> datetime:
    """The end of the 5-minute period a line falls in (the file name's time)."""
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % FILE_PERIOD_S + FILE_PERIOD_S, UTC)


def write_files(
    root: Path, names: Names, lines: dict[tuple[str, datetime], list[tuple[datetime, str]]]
) -> list[Path]:
    """Writes each (node IP, period end) group as one gzip object, lines in time order, in the S3 layout.
    ``mtime=0`` in the gzip header keeps the bytes the same from run to run."""
    out = []
    for (node_ip, end), group in sorted(lines.items()):
        day = end - timedelta(seconds=1)
        folder = (
            root
            / "AWSLogs"
            / names.account
            / "elasticloadbalancing"
            / names.region
            / f"{day:%Y}"
            / f"{day:%m}"
            / f"{day:%d}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(names, node_ip, end, 0)
        group.sort(key=lambda x: x[0])
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write("".join(line + "\n" for _, line in group).encode())
        out.append(path)
    return out
