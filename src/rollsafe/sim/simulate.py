"""The public entry: ``simulate(scenario, seed)`` runs the control plane on virtual time, then the data
plane over its windows, and returns a RunResult. Many seeds (the Monte Carlo) go through rollsafe.runs.
"""

from __future__ import annotations

import bisect
import functools
import gc
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeVar

import numpy as np

from rollsafe.control.cluster import Cluster
from rollsafe.control.routing import RoutingView
from rollsafe.model.causes import CAUSES, STATUS_BY_CODE
from rollsafe.model.scenario import Scenario
from rollsafe.model.timeline import TimelineEvent
from rollsafe.sim.dataplane import Evaluator, PodWindows, Traffic
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler

DEFAULT_SEED: Final = 1
TRAFFIC_STREAMS: Final = ("arrivals", "node", "service", "pick")
WORST_WINDOW_S: Final = 10

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with Python's cyclic garbage collector paused (and restored after). A run builds a
    large, long-lived graph of objects and makes almost no cyclic garbage, so the collector's passes over
    it are pure overhead: about a tenth of a small run, more as the graph grows. Results are unchanged;
    the run's objects are collected as usual once it is over."""

    @functools.wraps(fn)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return paused


@dataclass
class RunResult:
    scenario: str
    seed: int
    duration_s: float  # simulated seconds of traffic
    traffic: Traffic
    timeline: list[TimelineEvent]
    replicas: int
    max_surge: int
    max_unavailable: int
    rollout_s: float | None  # start -> RolloutComplete
    settled_s: float | None  # start -> the LB routes only to new pods and old pods are gone
    steps: int
    registrations: int
    deregistrations: int
    no_healthy_target_s: float
    control_events: int
    milestones: list[tuple[float, str]] = field(default_factory=list)
    # longest time from an old pod's deletion until the last routing view stopped sending it new requests
    stop_routing_lag_s: float | None = None
    # per target registered during the run (ip targets), in registration order: seconds from its
    # RegisterTargets call returning until the first LB node sent it new requests; targets that never got
    # traffic in the run are left out
    registration_to_first_traffic_s: list[float] = field(default_factory=list)
    # the control plane itself, kept only with keep_requests (``simulate --emit-logs`` renders its pods)
    control: ControlPlane | None = None
    # the clients: "open" (Poisson at traffic.rps) or "closed" (traffic.clients, each waiting for its answer)
    traffic_model: str = "open"
    clients: int | None = None  # closed model only

    @property
    def failed(self) -> int:
        return int(self.traffic.total - self.traffic.by_code[0])

    def causes(self) -> dict[str, int]:
        return {c.id: int(self.traffic.by_code[i + 1]) for i, c in enumerate(CAUSES)}

    def status_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code, status in enumerate(STATUS_BY_CODE):
            out[str(status)] = out.get(str(status), 0) + int(self.traffic.by_code[code])
        return dict(sorted(out.items()))

    def worst_window(self, width: int = WORST_WINDOW_S) -> tuple[float, float, int]:
        """The ``width``-second window with the most failures: (start, end, failures)."""
        per_s = self.traffic.per_second[:, 1:].sum(axis=1)
        if per_s.sum() == 0:
            return (0.0, 0.0, 0)
        csum = np.concatenate([[0], np.cumsum(per_s)])
        w = min(width, len(per_s))
        sums = csum[w:] - csum[:-w]
        start = int(np.argmax(sums))
        return (float(start), float(start + w), int(sums[start]))


@dataclass
class ControlPlane:
    """The control plane after ``simulate()``'s part of a run: what the data plane joins against."""

    scenario: Scenario
    seed: int
    cluster: Cluster
    streams: SeededStreams
    duration_s: float
    settled_s: float | None
    events: int  # control-plane events the VirtualScheduler ran

    @property
    def views(self) -> list[RoutingView]:
        return self.cluster.views

    def windows(self) -> PodWindows:
        return PodWindows.of(self.cluster.api.pods, self.cluster.drain_deadlines())

    def traffic_rngs(self) -> dict[str, np.random.Generator]:
        """The data plane's streams, fresh: each call starts them where simulate() starts them."""
        return {name: self.streams.rng(f"traffic/{name}") for name in TRAFFIC_STREAMS}


@_gc_paused
def run_control_plane(scenario: Scenario, seed: int) -> ControlPlane:
    """The control plane of a run: it runs until the rollout has settled (or the fixed traffic duration, or
    simulation.maxSeconds), then on to the end of the traffic. The data plane joins against the result."""
    sched = VirtualScheduler()
    streams = SeededStreams(seed)
    cluster = Cluster(sched, streams, scenario)
    sched.call_at(0.0, cluster.start_rollout)
    horizon = scenario.simulation.max_seconds
    fixed = scenario.traffic.duration_seconds
    settled: float | None = None
    t = 0.0
    limit = min(horizon, fixed) if fixed is not None else horizon
    while t < limit:
        t = min(t + 1.0, limit)
        sched.run(until=t)
        if cluster.settled():
            settled = cluster.settle_time()
            break
    if fixed is not None:
        duration = fixed
    else:
        duration = min((settled if settled is not None else horizon) + scenario.traffic.tail_seconds, horizon)
    sched.run(until=duration)
    if settled is None and cluster.settled():
        settled = cluster.settle_time()
    return ControlPlane(scenario, seed, cluster, streams, duration, settled, sched.events)


@_gc_paused
def simulate(scenario: Scenario, seed: int = DEFAULT_SEED, *, keep_requests: bool = False) -> RunResult:
    cp = run_control_plane(scenario, seed)
    cluster, duration, settled = cp.cluster, cp.duration_s, cp.settled_s
    traffic = Evaluator(
        scenario,
        cp.views,
        cp.windows(),
        rngs=cp.traffic_rngs(),
        duration_s=duration,
        keep_requests=keep_requests,
    ).run()
    events = sorted(cluster.rec.events, key=lambda e: e.t_s)  # stable: same-time events keep their order
    dep = cluster.deployment
    return RunResult(
        scenario=scenario.name,
        seed=seed,
        duration_s=duration,
        traffic=traffic,
        timeline=events,
        replicas=scenario.workload.replicas,
        max_surge=dep.max_surge,
        max_unavailable=dep.max_unavailable,
        rollout_s=dep.complete_s,
        settled_s=settled,
        steps=dep.steps,
        registrations=cluster.target_group.registrations,
        deregistrations=cluster.target_group.deregistrations,
        no_healthy_target_s=_no_healthy_seconds(cluster.views, duration),
        stop_routing_lag_s=_stop_routing_lag(cluster),
        registration_to_first_traffic_s=_registration_to_first_traffic(cluster),
        control_events=cp.events,
        milestones=_milestones(events, settled),
        control=cp if keep_requests else None,
        traffic_model=scenario.traffic.model,
        clients=scenario.traffic.clients if scenario.traffic.model == "closed" else None,
    )


def _stop_routing_lag(cluster: Cluster) -> float | None:
    """The deregistration lag as the LB (or kube-proxy) lived it: for each deleted pod, from its
    deletionTimestamp until the last routing view dropped it; the longest."""
    deleted = {p.index: p.deletion_s for p in cluster.api.pods if p.deletion_s is not None}
    if not deleted:
        return None
    dropped: dict[int, float] = {}
    for view in cluster.views:
        log = view.log()
        pods, added, ends, times = log.pod, log.added, log.end, view.times
        start = ends[0] if ends else 0
        for seg in range(1, len(ends)):
            end = ends[seg]
            # a segment lists its removals first, then its additions
            first_add = start
            while first_add < end and not added[first_add]:
                first_add += 1
            if first_add > start:
                t = times[seg]
                # a pod removed and added again in one segment (a new key) was not dropped
                back: Collection[int] = (
                    pods[first_add:end] if end - first_add <= 8 else set(pods[first_add:end])
                )
                for pod in pods[start:first_add]:
                    if pod in deleted and pod not in back and t > dropped.get(pod, -math.inf):
                        dropped[pod] = t
            start = end
    lags = [dropped[i] - t for i, t in deleted.items() if i in dropped and t is not None]
    return max(lags) if lags else None


def _registration_to_first_traffic(cluster: Cluster) -> list[float]:
    """For each target registered during the run: from RegisterTargets returned until the first routing
    view (LB node) included it."""
    registered = cluster.target_group.registered_at
    first: dict[int, float] = {}
    for view in cluster.views:
        # each stretch of segments [a, b) that lists a registered target, from the log: the first segment
        # in it that starts at or after the registration is the earliest this stretch gives it
        log, times = view.log(), view.times
        since: dict[int, int] = {}  # registered targets listed now: the segment their stretch began
        stretches: list[tuple[int, int, int]] = []  # (target, first segment, segment after the last)
        start = 0
        for seg, end in enumerate(log.end):
            for i in range(start, end):
                pod = log.pod[i]
                if pod not in registered:
                    continue
                if log.added[i]:
                    since.setdefault(pod, seg)
                elif pod in since:
                    stretches.append((pod, since.pop(pod), seg))
            start = end
        stretches += [(pod, a, len(log.end)) for pod, a in since.items()]
        for pod, a, b in stretches:
            s = max(a, bisect.bisect_left(times, registered[pod]))
            if s < b and times[s] < first.get(pod, math.inf):
                first[pod] = times[s]
    return [first[i] - t for i, t in registered.items() if i in first]


def _no_healthy_seconds(views: list[RoutingView], duration: float) -> float:
    """Seconds in [0, duration] during which at least one routing view had no healthy target to send to
    (empty, or only its fail-open set)."""
    intervals = []
    for view in views:
        for i, start in enumerate(view.times):
            end = view.times[i + 1] if i + 1 < len(view.times) else duration
            if not view.sizes[i] or view.fail_open[i]:
                lo, hi = max(start, 0.0), min(end, duration)
                if hi > lo:
                    intervals.append((lo, hi))
    intervals.sort()
    total, cur_lo, cur_hi = 0.0, -math.inf, -math.inf
    for lo, hi in intervals:
        if lo > cur_hi:
            total += max(cur_hi - cur_lo, 0.0) if cur_hi > -math.inf else 0.0
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_hi > -math.inf:
        total += cur_hi - cur_lo
    return total


def _milestones(events: list[TimelineEvent], settled: float | None) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    for e in events:
        if e.kind == "RolloutStarted":
            out.append((e.t_s, "rollout started"))
        elif e.kind == "ScalingReplicaSet":
            verb = "scaled up" if e.attrs["new"] > e.attrs["old"] else "scaled down"
            out.append(
                (e.t_s, f"{verb} {e.object.removeprefix('replicaset/')} {e.attrs['old']} → {e.attrs['new']}")
            )
        elif e.kind == "RolloutComplete":
            out.append((e.t_s, "rollout complete (all new pods available)"))
    if settled is not None:
        out.append((settled, "load balancer settled (routes only to new pods; old pods gone)"))
    return sorted(out, key=lambda m: m[0])
