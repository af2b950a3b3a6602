"""Generated inputs for the diagnose benchmark: a day of logs from one ALB and one Deployment.

24 rollouts (one an hour, each a simulated eks-alb-defaults run with its own seed, written by
``rollsafe.logs.emitters``), steady traffic between them up to the requested number of ALB lines (gzip
files per LB node per 5 minutes, as S3 delivers them), and the day's background chatter: audit events
about other objects, the controller's reconcile lines and CloudTrail's DescribeTargetHealth calls. Kept in
a cache directory between runs; the marker file names what it holds.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from rollsafe.logs.emitters import emit_logs
from rollsafe.logs.emitters.alb import period_end
from rollsafe.model.timeline import Names
from rollsafe.scenarios import load_builtin
from rollsafe.sim.simulate import simulate

DAY = datetime(2026, 3, 4, tzinfo=UTC)
SCENARIO = "eks-alb-defaults"
ROLLOUTS = 24


def generate(root: Path, *, alb_lines: int) -> dict[str, int]:
    marker = root / f".complete-{alb_lines}"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    sc = load_builtin(SCENARIO)
    names = Names(sc.workload.name)
    counts = {"alb": 0, "controller": 0, "cloudtrail": 0, "audit": 0}
    windows: list[tuple[datetime, datetime, list[str], list[str]]] = []
    controller_lines: list[str] = []
    audit_lines: list[str] = []
    for h in range(ROLLOUTS):
        start = DAY + timedelta(hours=h, minutes=17)
        r = simulate(sc, h + 1, keep_requests=True)
        out = root / "tmp"
        emitted = emit_logs(r, sc, out, start=start)
        # every simulated run numbers its pods' IPs alike; a real day gives each rollout's pods their own
        _renumber(out, h)
        for f in emitted.files["alb"]:
            dest = root / f.relative_to(out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            f.rename(dest.with_name(dest.name.replace(".log.gz", f"-r{h:02d}.log.gz")))
        for f in emitted.files["cloudtrail"]:
            dest = root / f.relative_to(out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            f.rename(dest.with_name(dest.name.replace(".json.gz", f"-r{h:02d}.json.gz")))
        controller_lines += (out / "aws-load-balancer-controller.log").read_text().splitlines()
        audit_lines += (out / "kube-apiserver-audit.log").read_text().splitlines()
        shutil.rmtree(out)
        assert r.control is not None
        pods = r.control.cluster.api.pods
        old = [_ip(p.ip, h) for p in pods if p.created_s < 0]
        new = [_ip(p.ip, h) for p in pods if p.created_s >= 0 and p.deletion_s is None]
        windows.append((start, start + timedelta(seconds=r.duration_s + 15), old, new))
        counts["alb"] += emitted.lines["alb"]
        counts["cloudtrail"] += emitted.lines["cloudtrail"]
    counts["alb"] += _steady(root, names, windows, max(alb_lines - counts["alb"], 0))
    controller_lines += _controller_chatter(names)
    audit_lines += _audit_chatter()
    controller_lines.sort(key=lambda line: json.loads(line)["ts"])
    (root / "controller").mkdir()
    (root / "controller" / "aws-load-balancer-controller.log").write_text("\n".join(controller_lines) + "\n")
    (root / "audit").mkdir()
    with gzip.open(root / "audit" / "kube-apiserver-audit.log.gz", "wt", compresslevel=1) as fh:
        fh.write("\n".join(audit_lines) + "\n")
    counts["controller"] = len(controller_lines)
    counts["audit"] = len(audit_lines)
    counts["cloudtrail"] += _cloudtrail_chatter(root, names)
    marker.write_text(json.dumps(counts))
    return counts


def _ip(ip: str, hour: int) -> str:
    return ip.replace("10.0.16.", f"10.{1 + hour}.16.", 1) if ip.startswith("10.0.16.") else ip


def _renumber(folder: Path, hour: int) -> None:
    new = f"10.{1 + hour}.16.".encode()
    for f in folder.rglob("*"):
        if not f.is_file():
            continue
        packed = f.name.endswith(".gz")
        data = gzip.decompress(f.read_bytes()) if packed else f.read_bytes()
        data = data.replace(b"10.0.16.", new)
        f.write_bytes(gzip.compress(data, compresslevel=1, mtime=0) if packed else data)


def _steady(
    root: Path, names: Names, windows: list[tuple[datetime, datetime, list[str], list[str]]], n: int
) -> int:
    """``n`` successful requests spread over the day outside the rollouts, to whichever pods were up."""
    rng = np.random.default_rng(7)
    day_s = 86_400.0
    busy_s = sum((hi - lo).total_seconds() for lo, hi, _, _ in windows)
    t = np.sort(rng.uniform(0, day_s, int(n * day_s / (day_s - busy_s)) + 1))
    busy = np.zeros(len(t), dtype=bool)
    for lo, hi, _, _ in windows:
        a, b = (lo - DAY).total_seconds(), (hi - DAY).total_seconds()
        busy |= (t >= a) & (t < b)
    t = t[~busy][:n]
    starts = np.array([(lo - DAY).total_seconds() for lo, _, _, _ in windows])
    era = np.searchsorted(starts, t, side="right")  # 0: before the first rollout
    pools = [windows[0][2]] + [w[3] for w in windows]
    node = rng.integers(0, 3, len(t))
    pick = rng.integers(0, 10, len(t))
    dur = rng.lognormal(np.log(0.05), 0.4, len(t))
    client = rng.integers(1, 255, len(t))
    port = rng.integers(1024, 65535, len(t))
    ids = rng.integers(0, 2**62, len(t))
    groups: dict[tuple[int, int], list[str]] = {}
    base = DAY.timestamp()
    tg, elb = names.target_group_arn, names.elb
    agents = ("Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "okhttp/4.12.0", "python-requests/2.32.3")
    for i in range(len(t)):
        created = base + float(t[i])
        end = created + float(dur[i])
        pool = pools[int(era[i])]
        target = f"{pool[int(pick[i]) % len(pool)]}:{names.target_port}"
        ts = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cs = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000Z"
        line = (
            f"http {ts} {elb} 203.0.113.{client[i]}:{port[i]} {target} 0.000 {dur[i]:.3f} 0.000 200 200 "
            f'221 1630 "GET http://shop.example.org:80/api/items HTTP/1.1" "{agents[i % 4]}" - - {tg} '
            f'"Root=1-{int(created):08x}-{ids[i]:024x}" "-" "-" 0 {cs} "forward" "-" "-" "{target}" "200" '
            f'"-" "-" TID_{ids[i]:032x}'
        )
        groups.setdefault((int(node[i]), int(end // 300)), []).append(line)
    for (nd, period), lines in groups.items():
        end_at = period_end(datetime.fromtimestamp(period * 300 + 1, UTC))
        day = end_at - timedelta(seconds=1)
        folder = (
            root
            / "AWSLogs"
            / names.account
            / "elasticloadbalancing"
            / names.region
            / day.strftime("%Y/%m/%d")
        )
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            f"{names.account}_elasticloadbalancing_{names.region}_app.{names.lb_name}.{names.lb_id}_"
            f"{end_at:%Y%m%dT%H%MZ}_{names.lb_node_ip(nd)}_steady{period:06d}.log.gz"
        )
        with gzip.open(folder / name, "wt", compresslevel=1) as fh:
            fh.write("\n".join(lines) + "\n")
    return len(t)


def _controller_chatter(names: Names) -> list[str]:
    """A reconcile every 15 s with nothing to change, and the odd error."""
    out = []
    for i in range(0, 86_400, 15):
        ts = DAY.timestamp() + i
        out.append(
            json.dumps(
                {
                    "level": "info",
                    "ts": ts,
                    "msg": "Skipping targetgroupbinding reconcile",
                    "tgb": {"name": names.target_group_name, "namespace": names.namespace},
                    "calculated hash": "x",
                }
            )
        )
        if i % 3600 == 0:
            out.append(
                json.dumps({"level": "error", "ts": ts + 1, "msg": "Reconciler error", "error": "throttled"})
            )
    return out


def _audit_chatter() -> list[str]:
    """Lease renewals every 2 s by three components, and reads: what fills a real audit log."""
    out: list[str] = []
    for i in range(0, 86_400, 2):
        at = DAY + timedelta(seconds=i)
        out.extend(
            json.dumps(
                {
                    "kind": "Event",
                    "apiVersion": "audit.k8s.io/v1",
                    "level": "Metadata",
                    "auditID": f"{i:08d}-{who}",
                    "stage": "ResponseComplete",
                    "requestURI": f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{who}",
                    "verb": "update",
                    "user": {"username": f"system:{who}"},
                    "objectRef": {"resource": "leases", "namespace": "kube-system", "name": who},
                    "responseStatus": {"metadata": {}, "code": 200},
                    "requestReceivedTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "stageTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            )
            for who in ("kube-controller-manager", "kube-scheduler", "aws-load-balancer-controller")
        )
    return out


def _cloudtrail_chatter(root: Path, names: Names) -> int:
    """DescribeTargetHealth every 15 s, delivered in 5-minute files."""
    n = 0
    for start in range(0, 86_400, 300):
        recs = []
        for i in range(start, start + 300, 15):
            at = DAY + timedelta(seconds=i)
            recs.append(
                {
                    "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "eventSource": "elasticloadbalancing.amazonaws.com",
                    "eventName": "DescribeTargetHealth",
                    "eventID": f"dth-{i}",
                    "requestParameters": {"targetGroupArn": names.target_group_arn},
                }
            )
        folder = root / "AWSLogs" / names.account / "CloudTrail" / names.region / "2026/03/04"
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(
            folder / f"{names.account}_CloudTrail_{names.region}_{start:05d}_dth.json.gz", "wt"
        ) as fh:
            fh.write(json.dumps({"Records": recs}))
        n += len(recs)
    return n
