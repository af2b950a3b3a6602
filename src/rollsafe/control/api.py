"""The API server's objects and its two delays: a write lands after the API latency, a watcher hears of a
change after the watch latency. Components read the stored objects when their handler runs.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from rollsafe.control.scheduler import Sampler, Scheduler, Streams
from rollsafe.model.scenario import Scenario
from rollsafe.model.timeline import TimelineEvent

INF: Final = math.inf


# the Pod fields endpointslice.endpoint_for reads
_SLICE_FIELDS: Final = frozenset({"gone", "terminal", "has_ip", "serving", "deletion_s"})
# the Pod fields a ReplicaSet's active set (FilterActivePods), ready count and available count depend on
_OWNER_FIELDS: Final = frozenset({"gone", "terminal", "deletion_s", "ready", "ready_since_s"})
# the Pod fields a simulated app's answer to a connection depends on (control/app.py window_accepts)
_WINDOW_FIELDS: Final = frozenset({"listen_s", "stop_accept_s", "ip_gone_s"})
# field -> (owner field, slice field, window field), for the fields Pod.__setattr__ tells someone of
_HOOKED: Final = {
    name: (name in _OWNER_FIELDS, name in _SLICE_FIELDS, name in _WINDOW_FIELDS)
    for name in _OWNER_FIELDS | _SLICE_FIELDS | _WINDOW_FIELDS
}


@dataclass(eq=False, init=False)
class Pod:
    """A pod, plus the data-plane windows its life defines (when its server accepts, when it exits)."""

    index: int  # dense index: the data plane's row for this pod
    name: str
    uid: str
    rs: str
    ip: str
    node: int
    created_s: float
    gated: bool
    deletion_s: float | None = None  # deletionTimestamp set (graceful delete accepted)
    scheduled: bool = False  # bound to a node (spec.nodeName set)
    running: bool = False  # phase Running: a container has started
    has_ip: bool = False  # sandbox ready, pod IP in status
    containers_ready: bool = False
    gate_true: bool = False
    ready: bool = False
    ready_since_s: float = -INF  # Ready condition lastTransitionTime
    serving: bool = False  # EndpointSlice 'serving' (= the pod's Ready, kept while terminating)
    terminal: bool = False  # containers exited, phase Succeeded/Failed
    gone: bool = False  # object deleted from the API
    gone_s: float | None = None
    # data-plane windows (seconds since rollout start)
    listen_s: float = INF
    stop_accept_s: float = INF
    exit_s: float = INF
    ip_gone_s: float = INF
    closes_idle_at_stop: bool = False
    # The EndpointSlice controller's set of pods changed since its last sync (None: nobody watches). A
    # write to a field podToEndpoint reads adds the pod, so a sync re-derives only those pods' endpoints.
    touched: set[Pod] | None = field(default=None, repr=False)
    owner: ReplicaSet | None = field(default=None, repr=False)  # keeps its active set and ready count
    # Told after each write to a window field: the health checkers that compute, rather than tick, when a
    # check changes something (control/target_group.py, control/kubelet.py) plan again.
    window_watchers: list[Callable[[Pod], None]] | None = field(default=None, repr=False)

    def __init__(
        self,
        index: int,
        name: str,
        uid: str,
        rs: str,
        ip: str,
        node: int,
        created_s: float,
        gated: bool,
        *,
        deletion_s: float | None = None,
        scheduled: bool = False,
        running: bool = False,
        has_ip: bool = False,
        containers_ready: bool = False,
        gate_true: bool = False,
        ready: bool = False,
        ready_since_s: float = -INF,
        serving: bool = False,
        terminal: bool = False,
        gone: bool = False,
        gone_s: float | None = None,
        listen_s: float = INF,
        stop_accept_s: float = INF,
        exit_s: float = INF,
        ip_gone_s: float = INF,
        closes_idle_at_stop: bool = False,
        touched: set[Pod] | None = None,
        owner: ReplicaSet | None = None,
        window_watchers: list[Callable[[Pod], None]] | None = None,
    ) -> None:
        # the fields set past __setattr__: no write to a new Pod has anyone to tell (a generated init would
        # go through it once a field). object.__setattr__ with a literal name, not __dict__: compiled with
        # mypyc, Pod is a native class, which has no __dict__ (each of these becomes a direct slot write)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "uid", uid)
        object.__setattr__(self, "rs", rs)
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "created_s", created_s)
        object.__setattr__(self, "gated", gated)
        object.__setattr__(self, "deletion_s", deletion_s)
        object.__setattr__(self, "scheduled", scheduled)
        object.__setattr__(self, "running", running)
        object.__setattr__(self, "has_ip", has_ip)
        object.__setattr__(self, "containers_ready", containers_ready)
        object.__setattr__(self, "gate_true", gate_true)
        object.__setattr__(self, "ready", ready)
        object.__setattr__(self, "ready_since_s", ready_since_s)
        object.__setattr__(self, "serving", serving)
        object.__setattr__(self, "terminal", terminal)
        object.__setattr__(self, "gone", gone)
        object.__setattr__(self, "gone_s", gone_s)
        object.__setattr__(self, "listen_s", listen_s)
        object.__setattr__(self, "stop_accept_s", stop_accept_s)
        object.__setattr__(self, "exit_s", exit_s)
        object.__setattr__(self, "ip_gone_s", ip_gone_s)
        object.__setattr__(self, "closes_idle_at_stop", closes_idle_at_stop)
        object.__setattr__(self, "touched", touched)
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "window_watchers", window_watchers)

    def __setattr__(self, name: str, value: object) -> None:
        hooks = _HOOKED.get(name)
        if hooks is None:  # most writes: no one keeps anything derived from the field
            object.__setattr__(self, name, value)
            return
        owner_field, slice_field, window_field = hooks
        if owner_field:
            owner = self.owner
            if owner is not None:
                was_ready, was_since = self.ready, self.ready_since_s
                object.__setattr__(self, name, value)
                owner.pod_changed(self, was_ready=was_ready, was_since=was_since)
            else:
                object.__setattr__(self, name, value)
        else:
            object.__setattr__(self, name, value)
        if slice_field:
            touched = self.touched
            if touched is not None:
                touched.add(self)
        elif window_field:
            watchers = self.window_watchers
            if watchers:
                for watcher in watchers:
                    watcher(self)

    def write_windows(self, **windows: float) -> None:
        """Write several window fields, then tell the window watchers once."""
        for name, value in windows.items():
            if name not in _WINDOW_FIELDS:
                raise AttributeError(f"{name} is not a window field")
            object.__setattr__(self, name, value)
        for watcher in self.window_watchers or ():
            watcher(self)

    def watch_windows(self, watcher: Callable[[Pod], None]) -> None:
        """Call ``watcher(pod)`` after each later write to listen_s, stop_accept_s or ip_gone_s."""
        watchers = self.window_watchers
        if watchers is None:
            self.window_watchers = [watcher]
        elif watcher not in watchers:
            watchers.append(watcher)

    @property
    def active(self) -> bool:
        """Counted by the ReplicaSet and Deployment controllers (FilterActivePods)."""
        return self.deletion_s is None and not self.terminal and not self.gone

    def available(self, now: float, min_ready_s: float) -> bool:
        # IsPodAvailable: Ready and lastTransitionTime + minReadySeconds <= now (pod/util.go, §1.4).
        return self.ready and (min_ready_s == 0 or self.ready_since_s + min_ready_s <= now)


@dataclass(eq=False)
class ReplicaSet:
    name: str
    revision: int
    created_s: float
    replicas: int  # spec.replicas
    status_replicas: int = 0
    status_ready: int = 0
    status_available: int = 0
    pods: list[Pod] = field(default_factory=list)  # every pod it ever had
    # the active ones in pods order, how many of them are Ready, and the Ready ones as (Ready since, index)
    # in ascending order: kept up to date by Pod.__setattr__
    _active: dict[Pod, None] = field(default_factory=dict)
    _ready: int = 0
    _since: list[tuple[float, int]] = field(default_factory=list)

    def add_pod(self, pod: Pod) -> None:
        self.pods.append(pod)
        if pod.active:
            self._active[pod] = None
            self._ready += pod.ready
            if pod.ready:
                insort(self._since, (pod.ready_since_s, pod.index))
        pod.owner = self

    def pod_changed(self, pod: Pod, *, was_ready: bool, was_since: float) -> None:
        """A field of ``pod`` that activeness, readiness or availability depends on was just written. A
        pod never becomes active again, so the set only shrinks."""
        if pod not in self._active:
            return
        before = (was_since, pod.index) if was_ready else None
        if not pod.active:
            del self._active[pod]
            self._ready -= was_ready
            after = None
        else:
            self._ready += pod.ready - was_ready
            after = (pod.ready_since_s, pod.index) if pod.ready else None
        if before != after:
            if before is not None:
                del self._since[bisect_left(self._since, before)]
            if after is not None:
                insort(self._since, after)

    def active_pods(self) -> list[Pod]:
        """Pods not terminating, not terminal, not gone (FilterActivePods), in creation order."""
        return list(self._active)

    @property
    def active_count(self) -> int:
        return len(self._active)

    @property
    def active_ready(self) -> int:
        """How many of the active pods are Ready."""
        return self._ready

    def active_available(self, now: float, min_ready_s: float) -> int:
        """How many of the active pods are available at ``now`` (Pod.available): Ready, and Ready since
        at least ``min_ready_s``. ``since + min_ready_s`` rises with ``since``, so the available ones are
        a prefix of the ordered Ready ones, found by bisection with the very test Pod.available makes."""
        return bisect_right(self._since, now, key=lambda e: e[0] + min_ready_s)


@dataclass(frozen=True, slots=True, init=False)
class Endpoint:
    pod: Pod
    ready: bool
    serving: bool
    terminating: bool

    # written out, not generated: compiled with mypyc (tools/build_compiled.sh), a generated __init__ stays
    # interpreted (frozen: through object.__setattr__, as the generated one does)
    def __init__(self, pod: Pod, ready: bool, serving: bool, terminating: bool) -> None:
        object.__setattr__(self, "pod", pod)
        object.__setattr__(self, "ready", ready)
        object.__setattr__(self, "serving", serving)
        object.__setattr__(self, "terminating", terminating)

    # __eq__ and __hash__ as dataclass would generate them
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Endpoint) or other.__class__ is not self.__class__:
            return NotImplemented
        return (self.pod, self.ready, self.serving, self.terminating) == (
            other.pod,
            other.ready,
            other.serving,
            other.terminating,
        )

    def __hash__(self) -> int:
        return hash((self.pod, self.ready, self.serving, self.terminating))


class Recorder:
    """Collects TimelineEvents in the order they happen."""

    def __init__(self, sched: Scheduler) -> None:
        self._now = sched.now
        self.events: list[TimelineEvent] = []

    def emit(self, source: str, kind: str, obj: str, **attrs: Any) -> None:
        self.events.append(TimelineEvent(self._now(), source, kind, obj, attrs))


class ApiServer:
    """Objects of one namespace: the Deployment's ReplicaSets, their pods, the Service's EndpointSlice."""

    def __init__(self, sched: Scheduler, streams: Streams, scenario: Scenario, rec: Recorder) -> None:
        self.sched = sched
        self.rec = rec
        self.scenario = scenario
        self.api_latency = Sampler(streams, "api/latency", scenario.cluster.api_latency_seconds)
        self.watch_latency = Sampler(streams, "api/watch", scenario.cluster.watch_latency_seconds)
        self.replicasets: list[ReplicaSet] = []
        self.pods: list[Pod] = []
        self.endpoints: dict[str, Endpoint] = {}  # the EndpointSlice, by pod uid
        # the pods whose entry in ``endpoints`` a slice write set or removed, in write order (not the steady
        # state seeded before the rollout): a reader keeps its place and looks only at the entries since
        self.endpoint_writes: list[Pod] = []
        self.slice_version = 0
        self._watchers: dict[str, list[Callable[[Any], None]]] = {}

    # -- watches --------------------------------------------------------------------------------
    def watch(self, kind: str, handler: Callable[[Any], None]) -> None:
        self._watchers.setdefault(kind, []).append(handler)

    def changed(self, kind: str, obj: Any) -> None:
        """Tell every watcher of ``kind`` after one watch latency: the API server's watch cache fans the
        same event out to every informer, so they hear of it together, in the order they subscribed."""
        handlers = self._watchers.get(kind)
        if handlers:
            at = self.sched.now() + self.watch_latency()
            self.sched.call_each_at(at, [_bind(handler, obj) for handler in handlers])

    # -- writes ---------------------------------------------------------------------------------
    def write_at(self, start_s: float, apply: Callable[[], None]) -> float:
        """Issue a write at ``start_s``; it takes effect one API latency later. Returns that time."""
        done = start_s + self.api_latency()
        self.sched.call_at(done, apply)
        return done


def _bind(handler: Callable[[Any], None], obj: Any) -> Callable[[], None]:
    return lambda: handler(obj)
