"""A simulated run written as the four log sources an SRE would pull after an incident: ALB access logs
(S3 layout, gzip), the LB controller's log, CloudTrail records and the kube-apiserver audit log.

Rendered from the run's timeline and its request outcomes, never re-decided: how each outcome looks in an
access log is documented in docs/diagnose.md ("What each cause looks like in the access log"). It needs
a run made with ``keep_requests=True`` (the per-request arrays and the control plane).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from rollsafe.errors import RollsafeError
from rollsafe.logs.emitters import alb, audit, cloudtrail, controller
from rollsafe.model.causes import CAUSES
from rollsafe.model.scenario import Scenario
from rollsafe.model.timeline import Names, absolute
from rollsafe.sim.rng import stream_seed
from rollsafe.sim.simulate import RunResult

REFUSED_S = 0.0005  # a refused connect is answered at once (MODEL ASSUMPTION: half a millisecond)
RESET_S = 0.0008  # a request written on a connection the server is closing: answered at once
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "-",
)
PATHS = ("/api/cart", "/api/items", "/", "/api/order")


@dataclass
class Emitted:
    """What was written, per source."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def emit_logs(result: RunResult, scenario: Scenario, out_dir: Path, *, start: datetime) -> Emitted:
    if result.control is None or result.traffic.requests is None:
        raise RollsafeError("internal: emit_logs needs a run simulated with keep_requests=True")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RollsafeError(
            f"--emit-logs {out_dir}: cannot create the directory: {exc.strerror or exc}"
        ) from None
    names = Names(scenario.workload.name)
    instance_mode = scenario.load_balancer.target_type == "instance"
    events = absolute(result.timeline, start=start, names=names)
    cluster = result.control.cluster
    pods = {
        p.name: audit.PodFacts(
            name=p.name, uid=p.uid, replicaset=p.rs, ip=p.ip, node=names.worker_node(p.node)
        )
        for p in cluster.api.pods
    }
    old = [p.name for p in cluster.api.pods if p.created_s < 0]
    out = Emitted()
    try:
        out.files["alb"] = _alb(
            result, scenario, names, out_dir, start=start, instance_mode=instance_mode, out=out
        )
        lbc = controller.render(events, names, instance_mode=instance_mode)
        out.files["controller"] = [_write_lines(out_dir / "aws-load-balancer-controller.log", lbc)]
        out.lines["controller"] = len(lbc)
        out.files["cloudtrail"] = cloudtrail.write(out_dir, events, names, instance_mode=instance_mode)
        out.lines["cloudtrail"] = len(cloudtrail.records(events, names, instance_mode=instance_mode))
        lines = audit.render(events, names, pods, old_pods=old)
        out.files["audit"] = [_write_lines(out_dir / "kube-apiserver-audit.log", lines)]
        out.lines["audit"] = len(lines)
    except OSError as exc:
        raise RollsafeError(f"--emit-logs {out_dir}: cannot write: {exc.strerror or exc}") from None
    return out


def _alb(
    result: RunResult,
    scenario: Scenario,
    names: Names,
    root: Path,
    *,
    start: datetime,
    instance_mode: bool,
    out: Emitted,
) -> list[Path]:
    assert result.control is not None
    assert result.traffic.requests is not None
    req = result.traffic.requests
    w = result.control.windows()
    pods = result.control.cluster.api.pods
    lb = scenario.load_balancer
    rng = np.random.Generator(np.random.SFC64(stream_seed(result.seed, "logs/alb")))
    n = len(req["t"])
    clients = rng.integers(1, 255, n).tolist()
    ports = rng.integers(1024, 65535, n).tolist()
    agents = rng.integers(0, len(USER_AGENTS), n).tolist()
    paths = rng.integers(0, len(PATHS), n).tolist()
    lb_nodes = rng.integers(0, lb.nodes, n).tolist()
    ids = rng.integers(0, 2**63, (n, 2)).tolist()
    t_all, d_all = req["t"].tolist(), req["d"].astype(np.float64).tolist()
    views, targets, codes = req["view"].tolist(), req["target"].tolist(), req["code"].tolist()
    cause_of = {i + 1: c for i, c in enumerate(CAUSES)}
    groups: dict[tuple[str, datetime], list[tuple[datetime, str]]] = {}
    for i in range(n):
        t, d, code, tg = t_all[i], d_all[i], codes[i], targets[i]
        node = lb_nodes[i] if instance_mode else views[i]
        target: str | None
        if instance_mode:
            target = f"{names.worker_ip(views[i])}:{names.node_port}"
        else:
            target = f"{pods[tg].ip}:{names.target_port}" if tg >= 0 else None
        rq = rs = None
        tsv: float | None = None
        if code == 0:
            rq, tsv, rs, end, status, tstatus = 0.0, d, 0.0, t + d, 200, 200
        else:
            cause = cause_of[code].id
            status, tstatus = cause_of[code].status, None
            if cause == "no-healthy-targets":
                target, end = None, t
            elif cause in ("stopped-listening", "not-yet-listening"):
                end = t + REFUSED_S
            elif cause == "keepalive-race":
                rq, end = 0.0, t + RESET_S
            elif cause == "in-flight-killed":
                rq, end = 0.0, max(float(w.exit[tg]), t) if tg >= 0 else t
            elif cause == "drain-timeout":
                rq, end = 0.0, max(float(w.drain_deadline[tg]), t)
            elif cause == "target-unreachable":
                end = t + lb.connect_timeout_seconds
            else:  # response-timeout
                rq, end = 0.0, t + lb.idle_timeout_seconds
        created = start + timedelta(microseconds=round(t * 1e6))
        at = start + timedelta(microseconds=round(end * 1e6))
        a, b = ids[i]
        line = alb.format_line(
            alb.AlbRequest(
                time=at,
                created=created,
                client=f"203.0.113.{clients[i]}:{ports[i]}",
                target=target,
                request_s=rq,
                target_s=tsv,
                response_s=rs,
                elb_status=status,
                target_status=tstatus,
                received=214 + paths[i] * 7,
                sent=1630 if code == 0 else 277,
                request=f"GET http://shop.example.org:80{PATHS[paths[i]]} HTTP/1.1",
                user_agent=USER_AGENTS[agents[i]],
                trace=f"Root=1-{int(created.timestamp()):08x}-{a:016x}{b & 0xFFFFFFFF:08x}",
                conn=f"TID_{b:016x}{a & 0xFFFFFFFFFFFFFFFF:016x}",
            ),
            names,
        )
        node_ip = names.lb_node_ip(node)
        groups.setdefault((node_ip, alb.period_end(at)), []).append((at, line))
    out.lines["alb"] = n
    return alb.write_files(root, names, groups)
