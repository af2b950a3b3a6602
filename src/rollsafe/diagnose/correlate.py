"""Correlation: the four sources joined per target (IP:port) and per pod, as plain Python objects read
from the store. Per pod: when it was created, got its IP, was Ready, was told to terminate, exited, was
removed, left the EndpointSlice. Per target: when the LB controller and CloudTrail say it was registered
and deregistered, and the ALB's first and last request to it. Also the rollouts found in the audit log.

It reads the store; it decides no cause (attribute.py does).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from rollsafe.model.timeline import Event, EventKind

NODE_PORTS = range(30000, 32768)  # the default NodePort range (Kubernetes Service docs)


def utc(value: datetime | None) -> datetime | None:
    """DuckDB hands TIMESTAMP values back naive; they hold UTC."""
    return None if value is None else value.replace(tzinfo=UTC)


@dataclass
class PodLife:
    name: str
    namespace: str = ""
    replicaset: str | None = None
    ips: list[str] = field(default_factory=list)
    created: datetime | None = None
    ip_at: datetime | None = None
    containers_ready: datetime | None = None
    ready: datetime | None = None  # the first Ready=True
    not_ready: datetime | None = None
    gate: datetime | None = None  # the readiness gate condition set True
    deleted: datetime | None = None  # the graceful delete: deletionTimestamp
    exited: datetime | None = None  # containers terminated (kubelet status patch)
    removed: datetime | None = None  # the final delete
    in_slice: datetime | None = None  # first seen ready in an EndpointSlice
    left_slice: datetime | None = None  # first slice write after which it no longer takes new traffic

    @property
    def first_seen(self) -> datetime | None:
        times = [t for t in (self.created, self.ip_at, self.in_slice, self.ready) if t is not None]
        return min(times) if times else None


@dataclass
class Membership:
    """A target's registrations and deregistrations as each source recorded them."""

    target: str  # IP:port
    registered: list[tuple[datetime, str]] = field(default_factory=list)  # (when, source)
    deregistered: list[tuple[datetime, str]] = field(default_factory=list)

    @staticmethod
    def _best(records: list[tuple[datetime, str]]) -> list[datetime]:
        """The controller's times when it logged the calls (sub-second), else CloudTrail's (whole
        seconds)."""
        own = sorted(t for t, s in records if s == "controller")
        return own or sorted(t for t, _ in records)

    @property
    def registrations(self) -> list[datetime]:
        return self._best(self.registered)

    @property
    def deregistrations(self) -> list[datetime]:
        return self._best(self.deregistered)


@dataclass
class SliceState:
    """EndpointSlice writes in time order: who was in, with which conditions."""

    times: list[datetime] = field(default_factory=list)
    members: list[dict[str, tuple[str | None, bool, bool]]] = field(
        default_factory=list
    )  # pod -> (ip, ready, terminating)

    # before the first write seen: the pods that were already there, taken as ready (MODEL ASSUMPTION:
    # a rollout starts from a settled Deployment)
    initial: dict[str, tuple[str | None, bool, bool]] | None = None

    def at(self, when: datetime) -> dict[str, tuple[str | None, bool, bool]] | None:
        i = bisect.bisect_right(self.times, when) - 1
        return self.members[i] if i >= 0 else self.initial


@dataclass
class Rollout:
    deployment: str | None
    started: datetime | None
    replicasets: dict[str, list[tuple[datetime, int]]]
    ended: datetime | None


@dataclass
class World:
    pods: dict[str, PodLife]
    by_ip: dict[str, list[PodLife]]
    membership: dict[str, Membership]
    slices: SliceState
    rollouts: list[Rollout]
    instance_targets: bool  # the target group holds instances (node IP:NodePort), not pods
    has_audit: bool
    has_audit_bodies: bool  # Request level or higher: pod IPs and endpoints are known
    has_controller: bool
    has_cloudtrail: bool
    gates_in_use: bool

    def pod_at(self, ip: str, when: datetime) -> PodLife | None:
        """The pod that held ``ip`` at ``when``: the latest one first seen at or before it (an IP is
        reused only after its pod is gone)."""
        cands = self.by_ip.get(ip)
        if not cands:
            return None
        best = None
        for p in cands:
            seen = p.first_seen
            if (seen is None or seen <= when) and (
                best is None
                or (seen or datetime.min.replace(tzinfo=UTC))
                >= (best.first_seen or datetime.min.replace(tzinfo=UTC))
            ):
                best = p
        return best or cands[0]


def _first(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def load_world(con: duckdb.DuckDBPyConnection, *, target_group: str | None = None) -> World:
    pods: dict[str, PodLife] = {}

    def pod(name: str, ns: str) -> PodLife:
        p = pods.get(name)
        if p is None:
            p = pods[name] = PodLife(name=name, namespace=ns)
        return p

    slices = SliceState()
    rs_steps: dict[str, list[tuple[datetime, int]]] = {}
    starts: list[tuple[datetime, str]] = []
    gates = False
    rows = con.execute(
        "SELECT time, audit_id, what, object, namespace, ip, value, ready, serving, terminating, level "
        "FROM audit_facts ORDER BY time, file, line"
    ).fetchall()
    has_audit = bool(rows)
    bodies = False
    snapshot: dict[str, tuple[str | None, bool, bool]] | None = None
    snap_key: tuple[datetime, str] | None = None

    def flush() -> None:
        if snapshot is not None and snap_key is not None:
            slices.times.append(snap_key[0])
            slices.members.append(snapshot)

    for raw_t, audit_id, what, obj, ns, ip, value, ready, _serving, terminating, level in rows:
        t = utc(raw_t)
        assert t is not None
        if level in ("Request", "RequestResponse"):
            bodies = True
        if what == "endpoint":
            key = (t, audit_id)
            if key != snap_key:
                flush()
                snapshot, snap_key = {}, key
            assert snapshot is not None
            if obj:
                snapshot[obj] = (ip, bool(ready), bool(terminating))
                p = pod(obj, ns)
                if ip and ip not in p.ips:
                    p.ips.append(ip)
            continue
        if what == "rollout-started":
            starts.append((t, obj))
            continue
        if what == "scaled":
            rs_steps.setdefault(obj, []).append((t, int(value)))
            continue
        p = pod(obj, ns)
        if what == "created":
            p.created = _first(p.created, t)
            p.replicaset = value or p.replicaset
        elif what == "bound":
            p.created = _first(p.created, t)
        elif what == "ip":
            p.ip_at = _first(p.ip_at, t)
            if ip and ip not in p.ips:
                p.ips.append(ip)
        elif what == "containers-ready":
            p.containers_ready = _first(p.containers_ready, t)
        elif what == "ready":
            p.ready = _first(p.ready, t)
            if ip and ip not in p.ips:
                p.ips.append(ip)
        elif what == "not-ready":
            p.not_ready = p.not_ready or t
        elif what == "gate":
            gates = True
            if value == "True":
                p.gate = _first(p.gate, t)
        elif what == "deleted":
            p.deleted = _first(p.deleted, t)
        elif what == "exited":
            p.exited = _first(p.exited, t)
        elif what == "removed":
            p.removed = _first(p.removed, t)
    flush()
    # who took new traffic when, from the slice writes: in while ready, out when not ready or gone
    if slices.members:
        slices.initial = {
            name: (ip, True, False)
            for name, (ip, _r, _t) in slices.members[0].items()
            if pods[name].created is None
        }
    prev: dict[str, tuple[str | None, bool, bool]] = dict(slices.initial or {})
    for when, members in zip(slices.times, slices.members, strict=True):
        for name, (_ip, ready, _term) in members.items():
            p = pods[name]
            if ready and p.in_slice is None and p.first_seen is not None:
                p.in_slice = when
        for name, (_ip, ready, _term) in prev.items():
            now = members.get(name)
            if ready and (now is None or not now[1]) and pods[name].left_slice is None:
                pods[name].left_slice = when
        prev = members
    for p in pods.values():
        if p.replicaset is None and p.name.count("-") >= 2:
            p.replicaset = p.name.rsplit("-", 1)[0]
    by_ip: dict[str, list[PodLife]] = {}
    for p in pods.values():
        for ip in p.ips:
            by_ip.setdefault(ip, []).append(p)

    membership: dict[str, Membership] = {}
    tg_filter = "" if target_group is None else " AND (arn = $tg OR arn IS NULL)"
    params = {} if target_group is None else {"tg": target_group}
    lbc = con.execute(
        f"SELECT time, phase, arn, target_id, target_port, file, line FROM lbc_events WHERE true{tg_filter} "
        "ORDER BY time, file, line",
        params,
    ).fetchall()
    # past-tense lines of older builds carry no targets: they close the present-tense line before them
    pending: dict[tuple[str | None, str], list[tuple[str, int | None]]] = {}
    instance = False
    for raw_t, phase, arn, tid, port, _f, _n in lbc:
        t = utc(raw_t)
        assert t is not None
        base = "register" if phase.startswith("reg") else "deregister"
        if tid is not None and tid.startswith("i-"):
            instance = True
        if phase in ("registering", "deregistering"):
            if tid is not None:
                pending.setdefault((arn, base), []).append((tid, port))
            continue
        done = [(tid, port)] if tid is not None else pending.pop((arn, base), [])
        if tid is not None:
            pending.pop((arn, base), None)
        for target_id, target_port in done:
            m = membership.setdefault(f"{target_id}:{target_port}", Membership(f"{target_id}:{target_port}"))
            (m.registered if base == "register" else m.deregistered).append((t, "controller"))
    # calls logged only as "registering" (the log was cut before the result): count them at that instant
    ct = con.execute(
        f"SELECT time, event_name, target_id, target_port FROM cloudtrail_events WHERE error_code IS NULL"
        f"{tg_filter} ORDER BY time, file, line",
        params,
    ).fetchall()
    for raw_t, name, tid, port in ct:
        t = utc(raw_t)
        if t is None or tid is None:
            continue
        if tid.startswith("i-"):
            instance = True
        m = membership.setdefault(f"{tid}:{port}", Membership(f"{tid}:{port}"))
        (m.registered if name == "RegisterTargets" else m.deregistered).append((t, "cloudtrail"))
    if not instance:
        ports = con.execute(
            "SELECT count(*) FILTER (WHERE target_port BETWEEN 30000 AND 32767), count(target_port) "
            "FROM alb_requests"
        ).fetchone()
        pod_ips = set(by_ip)
        if ports and ports[1] and ports[0] == ports[1]:
            sample = {
                r[0] for r in con.execute("SELECT DISTINCT target_ip FROM alb_requests LIMIT 100").fetchall()
            }
            instance = not (sample & pod_ips)
    rollouts = _rollouts(starts, rs_steps, pods)
    return World(
        pods=pods,
        by_ip=by_ip,
        membership=membership,
        slices=slices,
        rollouts=rollouts,
        instance_targets=instance,
        has_audit=has_audit,
        has_audit_bodies=bodies,
        has_controller=bool(lbc),
        has_cloudtrail=bool(ct),
        gates_in_use=gates,
    )


def _rollouts(
    starts: list[tuple[datetime, str]],
    rs_steps: dict[str, list[tuple[datetime, int]]],
    pods: dict[str, PodLife],
) -> list[Rollout]:
    """One rollout per Deployment change; without one, the scaling steps alone make one."""
    if not starts and not rs_steps:
        return []
    # over when the old pods are gone and the new ones Ready (the audit log has no Deployment status)
    ends = [p.removed for p in pods.values() if p.removed is not None]
    ends += [p.ready for p in pods.values() if p.created is not None and p.ready is not None]
    ends += [t for steps in rs_steps.values() for t, _ in steps]
    end = max(ends) if ends else None
    if not starts:
        first = min(t for steps in rs_steps.values() for t, _ in steps)
        return [Rollout(None, first, rs_steps, end)]
    out = []
    for i, (t, dep) in enumerate(starts):
        nxt = starts[i + 1][0] if i + 1 < len(starts) else None
        steps = {
            rs: [(st, n) for st, n in v if st >= t and (nxt is None or st < nxt)]
            for rs, v in rs_steps.items()
        }
        steps = {rs: v for rs, v in steps.items() if v}
        last = [st for v in steps.values() for st, _ in v]
        out.append(Rollout(dep, t, steps, max(last) if nxt is not None and last else end))
    return out


_AUDIT_KINDS = {
    "created": EventKind.POD_CREATED,
    "ip": EventKind.SANDBOX_READY,
    "containers-ready": EventKind.CONTAINERS_READY,
    "ready": EventKind.POD_READY,
    "not-ready": EventKind.POD_NOT_READY,
    "gate": EventKind.READINESS_GATE_PATCHED,
    "deleted": EventKind.POD_DELETED,
    "exited": EventKind.CONTAINER_EXITED,
    "removed": EventKind.POD_REMOVED,
    "scaled": EventKind.SCALING_REPLICA_SET,
    "rollout-started": EventKind.ROLLOUT_STARTED,
}


def observed_timeline(con: duckdb.DuckDBPyConnection, world: World) -> list[Event]:
    """What the logs say happened, as the common timeline (docs/timeline.md): the audit log's pod, ReplicaSet
    and Deployment writes (source ``kube-apiserver-audit``), EndpointSlice membership changes, and the
    target (de)registrations as the controller and CloudTrail recorded them. Time order; ties keep the
    order of the sources."""
    out: list[tuple[datetime, int, Event]] = []
    seq = 0

    def add(at: datetime, source: str, kind: EventKind, obj: str, **attrs: Any) -> None:
        nonlocal seq
        seq += 1
        out.append((at, seq, Event(at, source, kind, obj, attrs)))

    for raw_t, what, obj, ip, value in con.execute(
        "SELECT time, what, object, ip, value FROM audit_facts WHERE what <> 'endpoint' AND what <> 'bound' "
        "ORDER BY time, file, line"
    ).fetchall():
        t = utc(raw_t)
        assert t is not None
        kind = _AUDIT_KINDS[what]
        if what == "scaled":
            add(t, "kube-apiserver-audit", kind, f"replicaset/{obj}", new=int(value))
        elif what == "rollout-started":
            add(t, "kube-apiserver-audit", kind, f"deployment/{obj}")
        elif what == "ip":
            add(t, "kube-apiserver-audit", kind, f"pod/{obj}", ip=ip)
        elif what == "gate":
            add(t, "kube-apiserver-audit", kind, f"pod/{obj}", status=value == "True")
        elif what == "exited":
            add(t, "kube-apiserver-audit", kind, f"pod/{obj}", reason=value)
        else:
            add(t, "kube-apiserver-audit", kind, f"pod/{obj}")
    prev: dict[str, tuple[str | None, bool, bool]] = dict(world.slices.initial or {})
    for when, members in zip(world.slices.times, world.slices.members, strict=True):
        for name, (ip, ready, term) in members.items():
            if prev.get(name) != (ip, ready, term):
                add(
                    when,
                    "kube-apiserver-audit",
                    EventKind.ENDPOINT_UPDATED,
                    f"pod/{name}",
                    ip=ip,
                    ready=ready,
                    terminating=term,
                )
        for name, (ip, _r, _t) in prev.items():
            if name not in members:
                add(when, "kube-apiserver-audit", EventKind.ENDPOINT_REMOVED, f"pod/{name}", ip=ip)
        prev = members
    for m in world.membership.values():
        for kind, records in (
            (EventKind.REGISTER_TARGETS, m.registered),
            (EventKind.DEREGISTER_TARGETS, m.deregistered),
        ):
            for t, src in records:
                add(t, "lb-controller" if src == "controller" else "cloudtrail", kind, f"target/{m.target}")
    out.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in out]
