"""The diagnosis as one document (the JSON output; the text report draws it): the headline counts, the
rollouts found, the cause of every LB-generated 5xx with examples, the measured lags, the fix they size,
what could not be concluded and what was read. ``run()`` drives store -> correlate -> attribute.

Pure apart from the store it reads: same inputs, same document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rollsafe import __version__
from rollsafe.diagnose.attribute import UNEXPLAINED, Attributor, Failure, hms
from rollsafe.diagnose.correlate import World, load_world, observed_timeline, utc
from rollsafe.diagnose.proxyview import CONTEXT_S, ProxyViews, open_attempts
from rollsafe.diagnose.store import LoadReport, Progress, Store
from rollsafe.errors import RollsafeError
from rollsafe.logs.parsers.sniff import SOURCES
from rollsafe.model.causes import BY_ID, CAUSE_IDS
from rollsafe.model.outcome import FACTS
from rollsafe.model.timeline import Event, Outcome, iso

EXAMPLES = 3
PRE_STOP_MARGIN_S = 5.0  # added to the longest observed lag, or a quarter of it if that is more


@dataclass(frozen=True, slots=True)
class Options:
    since: datetime | None = None
    until: datetime | None = None
    target_group: str | None = None
    force: str | None = None
    db: Path | None = None
    timeline: Path | None = None  # write the observed timeline here (JSON lines, docs/timeline.md)


def run(paths: Sequence[Path], options: Options, progress: Progress | None = None) -> dict[str, Any]:
    store = Store(options.db)
    try:
        loaded = store.load(paths, force=options.force, progress=progress)
        if not loaded.usable():
            return {"usable": False, "inputs": _inputs(loaded)}
        return build(store, loaded, options)
    finally:
        store.close()


def _where(options: Options, alias: str = "") -> tuple[str, dict[str, Any]]:
    conds: list[str] = ["true"]
    params: dict[str, Any] = {}
    if options.since is not None:
        conds.append(f"{alias}time >= $since")
        params["since"] = options.since.astimezone(UTC).replace(tzinfo=None)
    if options.until is not None:
        conds.append(f"{alias}time < $until")
        params["until"] = options.until.astimezone(UTC).replace(tzinfo=None)
    if options.target_group is not None:
        conds.append(f"{alias}target_group_arn = $tg")
        params["tg"] = options.target_group
    return " AND ".join(conds), params


def build(store: Store, loaded: LoadReport, options: Options) -> dict[str, Any]:
    con = store.con
    world = load_world(con, target_group=options.target_group)
    if options.timeline is not None:
        _write_timeline(options.timeline, observed_timeline(con, world))
    where, params = _where(options)
    total, first, last = con.execute(
        f"SELECT count(*), min(time), max(time) FROM alb_requests WHERE {where}", params
    ).fetchone() or (0, None, None)
    status_counts = {
        str(s): int(n)
        for s, n in con.execute(
            f"SELECT elb_status, count(*) FROM alb_requests WHERE {where} AND elb_status IS NOT NULL "
            "GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
    }
    target_5xx = {
        str(s): int(n)
        for s, n in con.execute(
            f"SELECT elb_status, count(*) FROM alb_requests WHERE {where} AND elb_status >= 500 "
            "AND target_status IS NOT NULL GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
    }
    rows = con.execute(
        f"SELECT time, created, lb_node, target_ip, target_port, request_s, elb_status FROM alb_requests "
        f"WHERE {where} AND elb_status >= 500 AND target_status IS NULL ORDER BY time, created",
        params,
    ).fetchall()
    proxy = _proxy_views(store, world, options) if world.instance_targets else None
    attributor = Attributor(world, proxy)
    outcomes = attributor.outcomes(
        [
            Failure(
                time=utc(t) or datetime.min.replace(tzinfo=UTC),
                created=utc(c),
                lb_node=node,
                target_ip=ip,
                target_port=port,
                dispatched=rq is not None and rq >= 0,
                status=int(status),
            )
            for t, c, node, ip, port, rq, status in rows
        ]
    )
    _save_outcomes(store, outcomes)
    causes = dict.fromkeys([*CAUSE_IDS, UNEXPLAINED], 0)
    examples: dict[str, list[Outcome]] = {}
    status_by_cause: dict[str, dict[str, int]] = {}
    for o in outcomes:
        causes[o.cause] += 1
        examples.setdefault(o.cause, [])
        if len(examples[o.cause]) < EXAMPLES:
            examples[o.cause].append(o)
        sc = status_by_cause.setdefault(o.cause, {})
        sc[str(o.status)] = sc.get(str(o.status), 0) + 1
    per_target = _per_target(store, options)
    lags = _lags(world, per_target)
    doc: dict[str, Any] = {
        "rollsafe_version": __version__,
        "usable": True,
        "window": {
            "since": iso(options.since) if options.since else None,
            "until": iso(options.until) if options.until else None,
            "first_request": iso(utc(first)) if first else None,  # type: ignore[arg-type]
            "last_request": iso(utc(last)) if last else None,  # type: ignore[arg-type]
            "target_group": options.target_group,
        },
        "requests": {"total": int(total), "failed": len(outcomes), "target_5xx": sum(target_5xx.values())},
        "status_counts": status_counts,
        "target_status_counts": target_5xx,
        "causes": causes,
        "cause_status": status_by_cause,
        "cause_help": {
            c: {"status": BY_ID[c].status, "meaning": BY_ID[c].meaning, "fix": BY_ID[c].fix}
            for c in CAUSE_IDS
            if causes[c]
        },
        "examples": {c: [o.to_dict() for o in v] for c, v in examples.items()},
        "unexplained": _unexplained(outcomes),
        # instance targets: a refusal with both a terminating and a just-added pod behind the Service could
        # be either; such outcomes say "ambiguous" in their evidence
        "ambiguous": sum(1 for o in outcomes if any(e.startswith("ambiguous") for e in o.evidence)),
        "apportioned": _apportioned(attributor),
        "target_type": "instance" if world.instance_targets else "ip",
        "rollouts": [
            {
                "deployment": r.deployment,
                "started": iso(r.started) if r.started else None,
                "ended": iso(r.ended) if r.ended else None,
                "replicasets": {
                    rs: [{"at": iso(t), "replicas": n} for t, n in steps]
                    for rs, steps in r.replicasets.items()
                },
            }
            for r in world.rollouts
        ],
        "lags": lags,
        "sizing": _sizing(world, lags, per_target, causes),
        "not_concluded": _not_concluded(world, loaded),
        "targets": _targets_doc(world, per_target, outcomes),
        "inputs": _inputs(loaded),
    }
    return doc


def _apportioned(a: Attributor) -> dict[str, Any]:
    """Instance targets: the ambiguous refusals split between the causes, their expected counts (the
    posterior, before rounding) and the standard deviation of either count: how far the logs let the
    split be trusted."""
    cause = {fact: a.precedence[False].cause(tuple(f == fact for f in FACTS)) for fact in a.expected}
    return {
        "requests": a.apportioned,
        "expected": {cause[f]: round(v, 2) for f, v in a.expected.items()},
        "sd": round(a.sd, 2),
    }


def _write_timeline(path: Path, events: list[Event]) -> None:
    try:
        with path.open("w", encoding="utf-8") as fh:
            for e in events:
                fh.write(e.to_json())
                fh.write("\n")
    except OSError as exc:
        raise RollsafeError(f"--timeline {path}: cannot write: {exc.strerror or exc}") from None


def _save_outcomes(store: Store, outcomes: list[Outcome]) -> None:
    """The outcomes table, for SQL after the run (``--db``)."""
    store.con.execute(
        "CREATE TABLE outcomes (time TIMESTAMP, lb_node VARCHAR, target VARCHAR, status INTEGER, "
        "cause VARCHAR, "
        "evidence VARCHAR)"
    )
    rows = [
        (o.at.replace(tzinfo=None), o.lb_node, o.target, o.status, o.cause, " | ".join(o.evidence))
        for o in outcomes
    ]
    if rows:
        store._insert(
            "outcomes",
            (
                ("time", "TIMESTAMP"),
                ("lb_node", "VARCHAR"),
                ("target", "VARCHAR"),
                ("status", "INTEGER"),
                ("cause", "VARCHAR"),
                ("evidence", "VARCHAR"),
            ),
            ((r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in rows),
        )


def _spans_table(store: Store, name: str, spans: list[tuple[datetime, datetime]]) -> None:
    store.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (lo TIMESTAMP, hi TIMESTAMP)")
    if spans:
        store.con.executemany(
            f"INSERT INTO {name} VALUES (?, ?)",
            [
                (lo.astimezone(UTC).replace(tzinfo=None), hi.astimezone(UTC).replace(tzinfo=None))
                for lo, hi in spans
            ],
        )


def _proxy_views(store: Store, world: World, options: Options) -> ProxyViews:
    """Instance targets: the kube-proxy views, the open attempts near refusals (refused: not dispatched
    and answered without a connect timeout; accepted: dispatched; a connect timeout says nothing about
    listening and is left out) and the listen delay fitted to them."""
    proxy = ProxyViews(world)
    if proxy.t0 is None:
        return proxy
    con = store.con
    where, params = _where(options, "r.")
    refused = "(r.target_status IS NULL AND coalesce(r.request_s, -1) < 0 AND r.elb_status <> 504)"
    dispatched = "(r.target_status IS NOT NULL OR r.request_s >= 0)"
    t = "coalesce(r.created, r.time)"

    def base(table: str) -> str:
        return (
            f"SELECT {t} AS t, r.lb_node AS lb_node, r.target_ip AS node, {refused} AS refused "
            "FROM alb_requests r "
            f"JOIN {table} s ON {t} >= s.lo AND {t} < s.hi "
            f"WHERE {where} AND r.target_ip IS NOT NULL AND ({refused} OR {dispatched})"
        )

    # every request near a refusal, per (LB node, worker node): the open attempts are among them
    near = con.execute(
        f"SELECT {t} FROM alb_requests r WHERE {where} AND r.target_ip IS NOT NULL AND {refused} ORDER BY 1",
        params,
    ).fetchall()
    pad = timedelta(seconds=CONTEXT_S)
    merged: list[tuple[datetime, datetime]] = []
    for (x,) in near:
        at = utc(x)
        assert at is not None
        if merged and at - pad <= merged[-1][1]:
            merged[-1] = (merged[-1][0], at + pad)
        else:
            merged.append((at - pad, at + pad))
    _spans_table(store, "near_spans", merged)
    rows = con.execute(
        f"SELECT t, coalesce(lb_node, ''), node, refused FROM ({base('near_spans')}) ORDER BY t, node",
        params,
    ).fetchall()
    proxy.attempts = open_attempts(
        [(utc(x) or datetime.min.replace(tzinfo=UTC), str(lb), str(n), bool(r)) for x, lb, n, r in rows],
        proxy.stops(),
    )
    proxy.fit_listen_delay(proxy.attempts)
    con.execute("DROP TABLE near_spans")
    return proxy


@dataclass(frozen=True, slots=True)
class TargetTraffic:
    requests: int
    first: datetime
    last: datetime


def _per_target(store: Store, options: Options) -> dict[str, TargetTraffic]:
    where, params = _where(options)
    out = {}
    for ip, port, n, lo, hi in store.con.execute(
        "SELECT target_ip, target_port, count(*), min(coalesce(created, time)), "
        "max(coalesce(created, time)) "
        f"FROM alb_requests WHERE {where} AND target_ip IS NOT NULL GROUP BY 1, 2",
        params,
    ).fetchall():
        out[f"{ip}:{port}"] = TargetTraffic(int(n), utc(lo), utc(hi))  # type: ignore[arg-type]
    return out


def _dist(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0, "p50": None, "p95": None, "max": None}
    v = sorted(values)

    def pct(q: float) -> float:
        # nearest rank, so every figure is an observed value
        return v[max(0, math.ceil(q * len(v)) - 1)]

    return {"samples": len(v), "p50": round(pct(0.5), 3), "p95": round(pct(0.95), 3), "max": round(v[-1], 3)}


def _targets_of(world: World, ip: str) -> list[str]:
    return [k for k in world.membership if k.rsplit(":", 1)[0] == ip]


def _lags(world: World, per_target: dict[str, TargetTraffic]) -> dict[str, Any]:
    dereg, last_req, first_req, ready_reg = [], [], [], []
    for pod in world.pods.values():
        for ip in pod.ips:
            keys = _targets_of(world, ip) or [k for k in per_target if k.rsplit(":", 1)[0] == ip]
            for key in keys:
                m = world.membership.get(key)
                traffic = per_target.get(key)
                if pod.deleted is not None:
                    if m is not None:
                        after = [t for t in m.deregistrations if t >= pod.deleted]
                        if after:
                            dereg.append((after[0] - pod.deleted).total_seconds())
                    if traffic is not None and traffic.last >= pod.deleted - timedelta(seconds=60):
                        last_req.append((traffic.last - pod.deleted).total_seconds())
                if m is not None and m.registered:
                    reg = m.registrations[0]
                    if traffic is not None and traffic.first >= reg:
                        first_req.append((traffic.first - reg).total_seconds())
                    # with readiness gates a pod is Ready only after its target is healthy: the
                    # controller registers it once its containers are ready
                    ready = pod.containers_ready if world.gates_in_use else pod.ready
                    if ready is not None and pod.first_seen is not None and reg >= pod.first_seen:
                        ready_reg.append((reg - ready).total_seconds())
    return {
        "deletion_to_deregistration_s": _dist(dereg),
        "deletion_to_last_request_s": _dist(last_req),
        "registration_to_first_request_s": _dist(first_req),
        "ready_to_registration_s": _dist(ready_reg),
    }


def _sizing(
    world: World, lags: dict[str, Any], per_target: dict[str, TargetTraffic], causes: dict[str, int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    last = lags["deletion_to_last_request_s"]
    dereg = lags["deletion_to_deregistration_s"]
    worst = max([x for x in (last["max"], dereg["max"]) if x is not None], default=None)
    if worst is not None:
        margin = max(PRE_STOP_MARGIN_S, 0.25 * worst)
        pre_stop = math.ceil(max(worst, 0.0) + margin)
        out["pre_stop_sleep_seconds"] = pre_stop
        out["pre_stop_basis"] = (
            f"the LB sent new requests to a deleted pod for up to {last['max']} s "
            f"({last['samples']} pods) and deregistration came up to {dereg['max']} s after deletion "
            f"({dereg['samples']} pods); preStop {pre_stop} s covers the longest with a {margin:.0f} s "
            "margin, "
            f"and terminationGracePeriodSeconds must exceed preStop plus the longest request"
        )
    else:
        out["pre_stop_sleep_seconds"] = None
        out["pre_stop_basis"] = "no deleted pod with traffic or deregistration records: nothing to size from"
    # readiness gates: were old pods deleted while newly registered targets still took no traffic?
    held = []
    deletions = sorted(p.deleted for p in world.pods.values() if p.deleted is not None)
    for key, m in world.membership.items():
        if not m.registered:
            continue
        reg = m.registrations[0]
        first = per_target.get(key)
        serving = first.first if first is not None else None
        during = [d for d in deletions if d >= reg and (serving is None or d < serving)]
        if during:
            held.append((key, reg, serving, len(during)))
    out["readiness_gates"] = {
        "in_use": world.gates_in_use,
        "would_have_held_back_deletions": len({d for *_, d in held}) if held else 0,
        "targets_not_yet_serving_at_a_deletion": len(held),
        "assessment": _gate_assessment(world, held, causes),
    }
    return out


def _gate_assessment(
    world: World, held: list[tuple[str, datetime, datetime | None, int]], causes: dict[str, int]
) -> str:
    if world.instance_targets:
        return "instance targets: readiness gates do not apply (they need ip targets)"
    if not world.membership:
        return "no registration records (controller log or CloudTrail): cannot tell"
    if world.gates_in_use:
        return "readiness gates were in use (the LB controller patched their conditions)"
    if held:
        key, reg, serving, n = held[0]
        return (
            f"yes: {len(held)} new targets were registered but not yet taking traffic when old pods were "
            f"deleted (e.g. {key}, registered {hms(reg)}, first request {hms(serving)}, {n} deletions in "
            "between); with readiness gates those deletions would have waited for the targets to be healthy"
        )
    if causes.get("no-healthy-targets"):
        return "503s with no healthy target, but no deletion overlapped a new target's initial health checks"
    return "no: every old pod was deleted after the new targets were already taking traffic"


def _unexplained(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    groups: dict[str, int] = {}
    for o in outcomes:
        if o.cause != UNEXPLAINED:
            continue
        missing = next((e for e in o.evidence if e.startswith("missing: ")), "missing: ?")
        groups[missing[9:]] = groups.get(missing[9:], 0) + 1
    return [{"count": n, "missing": m} for m, n in sorted(groups.items(), key=lambda x: -x[1])]


def _not_concluded(world: World, loaded: LoadReport) -> list[dict[str, str]]:
    out = []
    present = {s for s, files in loaded.by_source().items() if any(f.records for f in files)}
    if "alb" not in present:
        out.append(
            {
                "what": "no request counts, statuses or causes: there were no ALB access log records",
                "needs": "the ALB access logs (S3: AWSLogs/<account>/elasticloadbalancing/<region>/...)",
            }
        )
    if "audit" not in present:
        out.append(
            {
                "what": "pod names, creation, Ready, deletion and exit times; causes that depend on them are "
                "unexplained; no lag from deletion or Ready",
                "needs": "the kube-apiserver audit log (EKS: CloudWatch log group "
                "/aws/eks/<cluster>/cluster, "
                "streams kube-apiserver-audit-*), at Request level for pod IPs and EndpointSlices",
            }
        )
    elif not world.has_audit_bodies:
        out.append(
            {
                "what": "pod IPs and EndpointSlice membership (the audit events are at Metadata level, "
                "with no bodies): requests cannot be tied to pods",
                "needs": "an audit policy at Request level for pods/status and endpointslices",
            }
        )
    if world.instance_targets:
        out.append(
            {
                "what": "instance targets: the access log names the node a request went to, not the pod "
                "kube-proxy chose, so per-pod traffic lags cannot be measured and causes are inferred from "
                "the pods behind the Service at that moment",
                "needs": "ip targets (alb.ingress.kubernetes.io/target-type: ip) make the pod visible",
            }
        )
    if "controller" not in present and "cloudtrail" not in present:
        out.append(
            {
                "what": "when targets were registered and deregistered: no deletion -> deregistration lag, "
                "no drain-timeout attribution, no readiness-gate assessment",
                "needs": "the AWS Load Balancer Controller's log (kubectl logs -n kube-system "
                "deploy/aws-load-balancer-controller) or CloudTrail RegisterTargets/DeregisterTargets events",
            }
        )
    elif "controller" not in present:
        out.append(
            {
                "what": "sub-second registration times (CloudTrail has whole seconds only)",
                "needs": "the AWS Load Balancer Controller's log",
            }
        )
    return out


def _targets_doc(
    world: World, per_target: dict[str, TargetTraffic], outcomes: list[Outcome]
) -> list[dict[str, Any]]:
    fails: dict[str, dict[str, int]] = {}
    for o in outcomes:
        if o.target:
            d = fails.setdefault(o.target, {})
            d[o.cause] = d.get(o.cause, 0) + 1
    keys = sorted(set(per_target) | set(world.membership))
    out = []
    for key in keys:
        ip = key.rsplit(":", 1)[0]
        traffic = per_target.get(key)
        m = world.membership.get(key)
        pod = world.pod_at(ip, traffic.first if traffic else datetime.max.replace(tzinfo=UTC))
        entry: dict[str, Any] = {"target": key, "pod": pod.name if pod else None}
        if pod is not None:
            for name in ("created", "ready", "deleted", "left_slice", "exited", "removed"):
                v = getattr(pod, name)
                entry[name] = iso(v) if v else None
            # healthy in the target group: known when a readiness gate reported it
            entry["healthy"] = iso(pod.gate) if pod.gate else None
        entry["registered"] = [{"at": iso(t), "source": s} for t, s in sorted(m.registered)] if m else []
        entry["deregistered"] = [{"at": iso(t), "source": s} for t, s in sorted(m.deregistered)] if m else []
        entry["requests"] = traffic.requests if traffic else 0
        entry["first_request"] = iso(traffic.first) if traffic else None
        entry["last_request"] = iso(traffic.last) if traffic else None
        entry["failures"] = dict(sorted(fails.get(key, {}).items()))
        out.append(entry)
    return out


def _inputs(loaded: LoadReport) -> dict[str, Any]:
    by = loaded.by_source()
    return {
        "sources": {
            s: {
                "files": len(by[s]),
                "lines": sum(f.lines for f in by[s]),
                "records": sum(f.records for f in by[s]),
                "bad_lines": sum(f.bad_total for f in by[s]),
            }
            for s in SOURCES
        },
        "duplicates_dropped": loaded.duplicates,
        "duplicate_files": [{"copy": c, "of": o} for c, o in loaded.duplicate_files],
        "files": [f.to_dict() for f in loaded.files],
    }
