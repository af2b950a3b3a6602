"""The timeline: the one record of a rollout that ``simulate`` and ``diagnose`` both produce.

``TimelineEvent`` is what the control plane records, at seconds since the rollout began, with the
simulator's own short object names. ``Event`` is the common record: an absolute UTC instant, an
enumerated ``EventKind``, and real object names (pod, ReplicaSet, target group ARN, target IP:port, LB
node IP). ``absolute()`` turns the first into the second, in one place, so the control plane keeps its
strings. ``Outcome`` is one failed request: when, through which LB node, to which target, the status, the
cause and the evidence. Value types only: no I/O, no clocks (docs/timeline.md documents every kind).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

# The instant a simulated rollout starts (``kubectl set image``) unless the caller states another one
# (``rollsafe simulate --start``). Fixed, so the same seed gives the same logs byte for byte.
DEFAULT_START = datetime(2026, 3, 4, 10, 15, 0, tzinfo=UTC)


@dataclass(slots=True, init=False)
class TimelineEvent:
    """A control-plane change at simulated (or wall) time ``t_s`` seconds after the rollout began.

    ``source`` is the component that made the change (``deployment-controller``, ``kubelet``, ``alb``...),
    ``kind`` what it did (``ScaledReplicaSet``, ``SIGTERM``, ``TargetHealthy``...), ``object`` what it did
    it to (``pod/web-new-3``, ``replicaset/web-new``, ``target/10.0.1.5:8080@node-a``), ``attrs`` the details.

    A value: nothing changes one once recorded. It is not declared frozen only because a frozen dataclass
    builds each instance through ``object.__setattr__``, at about twice the cost, and a small run records
    hundreds (it could not be hashed anyway: ``attrs`` is a dict).
    """

    t_s: float
    source: str
    kind: str
    object: str
    attrs: dict[str, Any] = field(default_factory=dict)

    # written out, not generated: compiled with mypyc (tools/build_compiled.sh), a generated __init__ stays
    # interpreted, and a run records hundreds of events
    def __init__(
        self, t_s: float, source: str, kind: str, object: str, attrs: dict[str, Any] | None = None
    ) -> None:
        self.t_s = t_s
        self.source = source
        self.kind = kind
        self.object = object
        self.attrs = {} if attrs is None else attrs

    def to_json(self) -> str:
        """One JSON line; keys in a fixed order so the same run gives the same bytes."""
        return json.dumps(
            {
                "t_s": round(self.t_s, 6),
                "source": self.source,
                "kind": self.kind,
                "object": self.object,
                "attrs": self.attrs,
            },
            sort_keys=False,
            separators=(",", ":"),
        )


class EventKind(StrEnum):
    """Every kind of timeline event; docs/timeline.md gives each one's meaning and attrs."""

    ROLLOUT_STARTED = "RolloutStarted"
    SCALING_REPLICA_SET = "ScalingReplicaSet"
    ROLLOUT_COMPLETE = "RolloutComplete"
    POD_CREATED = "PodCreated"
    POD_DELETED = "PodDeleted"
    SANDBOX_READY = "SandboxReady"
    CONTAINER_STARTED = "ContainerStarted"
    CONTAINERS_READY = "ContainersReady"
    POD_READY = "PodReady"
    POD_NOT_READY = "PodNotReady"
    PRE_STOP_STARTED = "PreStopStarted"
    SIGTERM = "SIGTERM"
    SIGKILL = "SIGKILL"
    CONTAINER_EXITED = "ContainerExited"
    POD_REMOVED = "PodRemoved"
    POD_IP_GONE = "PodIPGone"
    LISTENING = "Listening"
    STOPPED_ACCEPTING = "StoppedAccepting"
    ENDPOINT_UPDATED = "EndpointUpdated"
    ENDPOINT_REMOVED = "EndpointRemoved"
    RULES_SYNCED = "RulesSynced"
    REGISTER_TARGETS = "RegisterTargets"
    DEREGISTER_TARGETS = "DeregisterTargets"
    READINESS_GATE_PATCHED = "ReadinessGatePatched"
    TARGET_REGISTERED = "TargetRegistered"
    TARGET_INITIAL_HEALTH_CHECKING = "TargetInitialHealthChecking"
    TARGET_HEALTH_CHANGED = "TargetHealthChanged"
    TARGET_DRAINING = "TargetDraining"
    NODE_STOPPED_ROUTING = "NodeStoppedRouting"
    TARGET_UNUSED = "TargetUnused"
    ROUTING_CHANGED = "RoutingChanged"


@dataclass(frozen=True, slots=True)
class Names:
    """The real names a simulated run's objects carry in its logs: AWS account, region, load balancer,
    target group ARN, LB node and worker node addresses. Derived from the workload name with SHA-256, so
    the same scenario always gets the same names. MODEL ASSUMPTION: the values are invented but shaped
    like the real ones (ARN layout, ``k8s-<namespace>-<name>-<hash>`` as the LB controller names its
    target groups, EC2 private DNS names)."""

    workload: str
    namespace: str = "default"
    account: str = "000011112222"
    region: str = "eu-west-1"
    target_port: int = 8080
    node_port: int = 30080

    def _hex(self, what: str, n: int) -> str:
        return hashlib.sha256(f"{what}/{self.namespace}/{self.workload}".encode()).hexdigest()[:n]

    @property
    def lb_name(self) -> str:
        return f"k8s-{self.namespace[:8]}-{self.workload[:8]}-{self._hex('lb', 10)}"

    @property
    def lb_id(self) -> str:
        return self._hex("lb-id", 16)

    @property
    def elb(self) -> str:
        """The access log's ``elb`` field: ``app/<name>/<id>``."""
        return f"app/{self.lb_name}/{self.lb_id}"

    @property
    def target_group_name(self) -> str:
        return f"k8s-{self.namespace[:8]}-{self.workload[:8]}-{self._hex('tg', 10)}"

    @property
    def target_group_arn(self) -> str:
        return (
            f"arn:aws:elasticloadbalancing:{self.region}:{self.account}:targetgroup/"
            f"{self.target_group_name}/{self._hex('tg-id', 16)}"
        )

    def lb_node_ip(self, n: int) -> str:
        """LB node n's private address: one node per subnet, 10.0.0.0/20 split over the AZs."""
        return f"10.0.{n % 3 * 4}.{10 + n}"

    def az(self, n: int) -> str:
        return f"{self.region}{'abc'[n % 3]}"

    def worker_ip(self, n: int) -> str:
        return f"10.0.{1 + n % 3 * 4}.{20 + n}"

    def worker_node(self, n: int) -> str:
        """A worker node's name as EKS gives it: the EC2 private DNS name."""
        return f"ip-{self.worker_ip(n).replace('.', '-')}.{self.region}.compute.internal"

    def instance_id(self, n: int) -> str:
        return "i-0" + self._hex(f"node-{n}", 16)

    def target(self, ip: str, port: int | None = None) -> str:
        return f"{ip}:{self.target_port if port is None else port}"


@dataclass(frozen=True, slots=True)
class Event:
    """One change on the common timeline, at an absolute UTC instant with real object names.

    ``object`` is ``deployment/NAME``, ``replicaset/NAME``, ``pod/NAME``, ``target/IP:PORT``,
    ``targetgroup/ARN``, ``lb-node/IP`` or ``node/NAME``."""

    at: datetime
    source: str
    kind: EventKind
    object: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, start: datetime | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"at": iso(self.at)}
        if start is not None:
            out["t_s"] = round((self.at - start).total_seconds(), 6)
        out |= {"source": self.source, "kind": str(self.kind), "object": self.object, "attrs": self.attrs}
        return out

    def to_json(self, *, start: datetime | None = None) -> str:
        return json.dumps(self.to_dict(start=start), sort_keys=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One failed request: when the LB answered, through which LB node (when known), to which target
    (``IP:PORT``, None when no target was chosen), the status the client saw, the cause id
    (model/causes.py, or ``unexplained`` in a diagnosis) and the evidence it rests on, in words."""

    at: datetime
    lb_node: str | None
    target: str | None
    status: int
    cause: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "lb_node": self.lb_node,
            "target": self.target,
            "status": self.status,
            "cause": self.cause,
            "evidence": list(self.evidence),
        }


def iso(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: ``2026-03-04T10:15:07.532870Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def at_offset(start: datetime, t_s: float) -> datetime:
    """The instant ``t_s`` seconds after ``start``, to the microsecond."""
    return start + timedelta(microseconds=round(t_s * 1e6))


def _rename(value: str, names: Names) -> str:
    if value.startswith("targetgroup/"):
        return f"targetgroup/{names.target_group_arn}"
    if value.startswith("lb-node-"):
        return f"lb-node/{names.lb_node_ip(int(value.removeprefix('lb-node-')))}"
    if value.startswith("node/node-"):
        return f"node/{names.worker_node(int(value.removeprefix('node/node-')))}"
    if value.startswith("node-") and value[5:].isdigit():
        return names.worker_node(int(value[5:]))
    return value


def absolute(events: list[TimelineEvent], *, start: datetime, names: Names) -> list[Event]:
    """The control plane's events on the common timeline: absolute instants from ``start``, kinds checked
    against ``EventKind`` (an unknown kind raises ValueError: document it first), the simulator's short
    names (``lb-node-0``, ``node-1``, its made-up target group) replaced by real-shaped ones."""
    out = []
    for e in events:
        attrs = dict(e.attrs)
        if isinstance(attrs.get("node"), str):
            node = attrs["node"]
            attrs["node"] = (
                names.lb_node_ip(int(node[8:])) if node.startswith("lb-node-") else _rename(node, names)
            )
        out.append(
            Event(at_offset(start, e.t_s), e.source, EventKind(e.kind), _rename(e.object, names), attrs)
        )
    return out
