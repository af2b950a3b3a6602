"""ALB access log lines (AWS "Access logs for your Application Load Balancer"): the streaming
line-by-line parser. Bulk loading goes through DuckDB's CSV reader (diagnose/store.py); this parser
takes the lines that reader refuses (a user agent with a stray quote, say), damaged files, and tests.

Accepts 29 fields or more (AWS only ever appends fields), every request type (``http``, ``https``,
``h2``, ``grpcs``, ``ws``, ``wss``), ``-`` user agents, bracketed IPv6 clients and the ``"- - - "``
request of a malformed request. It knows nothing of the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rollsafe.logs.parsers.common import FileReport, parse_time, read_lines

TYPES = frozenset({"http", "https", "h2", "grpcs", "ws", "wss"})

# The user agent is the one field whose quotes may hold anything; the target group ARN (or ``-``) after
# the two TLS fields anchors its end.
_LINE = re.compile(
    r"^(?P<type>\S+) (?P<time>\S+) (?P<elb>\S+) (?P<client>\S+) (?P<target>\S+) "
    r"(?P<rq>\S+) (?P<tg_s>\S+) (?P<rs>\S+) (?P<elb_status>\S+) (?P<target_status>\S+) "
    r"(?P<received>\S+) (?P<sent>\S+) \"(?P<request>.*?)\" \"(?P<ua>.*)\" (?P<cipher>\S+) (?P<proto>\S+) "
    r"(?P<tg>arn:\S+|-) \"(?P<trace>[^\"]*)\" \"(?P<domain>[^\"]*)\" \"(?P<cert>[^\"]*)\" (?P<prio>\S+) "
    r"(?P<created>\S+) \"(?P<actions>[^\"]*)\" \"(?P<redirect>[^\"]*)\" \"(?P<error>[^\"]*)\" "
    r"\"(?P<tlist>[^\"]*)\" \"(?P<slist>[^\"]*)\" \"(?P<cls>[^\"]*)\" \"(?P<cls_reason>[^\"]*)\""
    r"(?: (?P<conn>[^\s\"]+))?(?P<rest> .*)?$"
)
_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[^:\s]+)):(?P<port>\d{1,5})$")


@dataclass(frozen=True, slots=True)
class AlbRecord:
    type: str
    time: datetime
    created: datetime | None
    elb: str
    client_ip: str | None
    client_port: int | None
    target_ip: str | None
    target_port: int | None
    request_s: float
    target_s: float
    response_s: float
    elb_status: int | None
    target_status: int | None
    received: int | None
    sent: int | None
    request: str
    user_agent: str
    target_group_arn: str | None
    trace_id: str
    error_reason: str
    target_list: str
    target_status_list: str
    conn_trace_id: str | None


def split_endpoint(value: str) -> tuple[str | None, int | None]:
    """``10.0.1.2:8080`` or ``[2001:db8::1]:443`` -> (address, port); ``-`` -> (None, None)."""
    m = _ENDPOINT.match(value)
    if not m:
        return None, None
    return (m.group("v4") or m.group("v6")), int(m.group("port"))


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def parse_line(line: str) -> AlbRecord | str:
    """The record, or the reason the line is not one."""
    m = _LINE.match(line)
    if m is None:
        fields = len(line.split(" "))
        if line.split(" ", 1)[0] not in TYPES:
            return "not an ALB access log line"
        return f"fewer than 29 fields or misplaced quotes ({fields} space-separated tokens)"
    g = m.groupdict()
    if g["type"] not in TYPES:
        return f"unknown request type {g['type'][:20]!r}"
    time = parse_time(g["time"])
    if time is None:
        return "bad time field"
    times = [_num(g["rq"]), _num(g["tg_s"]), _num(g["rs"])]
    if any(t is None for t in times):
        return "bad processing time field"
    elb_status = _int(g["elb_status"])
    if elb_status is None and g["elb_status"] != "-":
        return "bad elb_status_code"
    target_status = _int(g["target_status"])
    if target_status is None and g["target_status"] != "-":
        return "bad target_status_code"
    client_ip, client_port = split_endpoint(g["client"])
    target_ip, target_port = split_endpoint(g["target"])
    if target_ip is None and g["target"] != "-":
        return "bad target:port field"
    return AlbRecord(
        type=g["type"],
        time=time,
        created=parse_time(g["created"]),
        elb=g["elb"],
        client_ip=client_ip,
        client_port=client_port,
        target_ip=target_ip,
        target_port=target_port,
        request_s=times[0],  # type: ignore[arg-type]
        target_s=times[1],  # type: ignore[arg-type]
        response_s=times[2],  # type: ignore[arg-type]
        elb_status=elb_status,
        target_status=target_status,
        received=_int(g["received"]),
        sent=_int(g["sent"]),
        request=g["request"],
        user_agent=g["ua"],
        target_group_arn=None if g["tg"] == "-" else g["tg"],
        trace_id=g["trace"],
        error_reason=g["error"],
        target_list=g["tlist"],
        target_status_list=g["slist"],
        conn_trace_id=g["conn"],
    )


def parse_file(path: Path, report: FileReport) -> Iterator[tuple[int, AlbRecord]]:
    """(line number, record) for every line that parses; the others are counted in ``report``."""
    for lineno, line in read_lines(path, report):
        if not line.strip():
            continue
        rec = parse_line(line)
        if isinstance(rec, str):
            report.bad_line(lineno, rec, line)
        else:
            report.records += 1
            yield lineno, rec
