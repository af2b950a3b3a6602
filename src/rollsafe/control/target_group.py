"""The ALB target group, per LB node: target states, health checks, registration and deregistration
propagation, draining and the deregistration delay, fail-open, and which targets get new requests.

Sources (shared/reference/aws-alb-and-lb-controller.md): states and transitions §1.1; health-check
semantics §1.2 ("Each load balancer node checks the health of each target"; thresholds count consecutive
results); new targets §1.3 (initialHealthChecksRequired is a parameter: AWS says one, practitioners see
HealthyThresholdCount); draining §1.4 ("stops routing requests to a target as soon as it is
deregistered", after a propagation lag the maintainers acknowledge); fail-open §1.6; no retries §1.9.

Propagation is drawn once per API call (a RegisterTargets or DeregisterTargets call is one change to the
target group, and every target in it travels together), plus a small jitter per LB node; docs/model.md
gives the evidence. A node's checks of a new target start at a random phase within the interval.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from rollsafe.control.api import INF, ApiServer, Pod
from rollsafe.control.app import App, accepts_at, answers_from_windows, window_fixed_from
from rollsafe.control.routing import RoutingView
from rollsafe.control.scheduler import Handle, Sampler, Streams
from rollsafe.model.scenario import as_stored

TARGET_PORT: Final = 8080


def next_state(
    state: str, *, ok: bool, run: int, healthy_needed: int, initial_needed: int, unhealthy_needed: int
) -> str:
    """One LB node's view of a target after a health check; ``run`` counts consecutive equal results,
    this one included."""
    if state == "initial":
        if ok and run >= initial_needed:
            return "healthy"
        if not ok and run >= unhealthy_needed:
            return "unhealthy"
        return "initial"
    if state == "healthy":
        return "unhealthy" if not ok and run >= unhealthy_needed else "healthy"
    return "healthy" if ok and run >= healthy_needed else "unhealthy"


def routable(
    states: list[tuple[int, str]], *, minimum_healthy: int, route_initial: bool
) -> tuple[list[int], bool]:
    """Which targets a node sends new requests to, and whether that is the fail-open set (§1.6).

    ``states`` is (pod index, state) in registration order, draining targets already excluded. Healthy
    targets when there are at least ``minimum_healthy``; otherwise every registered target including
    unhealthy ones (fail open); ``initial`` ones only when the scenario says the LB routes to them.
    """
    healthy = [i for i, s in states if s == "healthy"]
    if len(healthy) >= minimum_healthy:
        return healthy, False
    allowed = {"healthy", "unhealthy", "initial"} if route_initial else {"healthy", "unhealthy"}
    opened = [i for i, s in states if s in allowed]
    return opened, bool(opened) and len(opened) != len(healthy)


def next_change(
    state: str,
    *,
    run_ok: bool,
    run: int,
    t: float,
    interval: float,
    listen_s: float,
    stop_accept_s: float,
    ip_gone_s: float,
    healthy_needed: int,
    initial_needed: int,
    unhealthy_needed: int,
    settled_before: float = -INF,
) -> tuple[tuple[float, bool, int], tuple[float, bool, int, str] | None]:
    """The checks of one node's target from the one at ``t`` on, worked out instead of run one by one.

    The check times are t, t + interval, (t + interval) + interval, ...: the same repeated additions a
    ticking checker makes, so the same floats. Each check's result is window_accepts on the pod's
    windows (control/app.py), and ``run_ok``/``run`` carry the consecutive results before ``t``.

    Returns ``(settled, change)``. ``change`` is the first check that changes the state: (its time, its
    result, the run it ends, the new state), or None when no later check ever will (past every finite
    window edge the result is fixed, and ``healthy`` while accepted, ``unhealthy`` while refused stay).
    ``settled`` is (the time of the first check not folded in, its run_ok, run): the checks before
    ``settled_before`` that change nothing, folded in, since a later write to a window never alters a
    result before the moment it is written.
    """
    ok_prev = run_ok
    settled = (t, run_ok, run)
    last = window_fixed_from(listen_s, stop_accept_s, ip_gone_s)
    while True:
        ok = accepts_at(t, listen_s, stop_accept_s, ip_gone_s)
        run = run + 1 if ok == ok_prev else 1
        ok_prev = ok
        # next_state, inlined (this loop runs once a check)
        if state == "initial":
            new = (
                "healthy"
                if ok and run >= initial_needed
                else "unhealthy"
                if not ok and run >= unhealthy_needed
                else state
            )
        elif state == "healthy":
            new = "unhealthy" if not ok and run >= unhealthy_needed else state
        else:
            new = "healthy" if ok and run >= healthy_needed else state
        if new != state:
            return settled, (t, ok, run, new)
        nxt = t + interval
        if t < settled_before:
            settled = (nxt, ok, run)
        if t >= last and state == ("healthy" if ok else "unhealthy"):
            return settled, None
        t = nxt


# The __init__s below are written out, not generated: compiled with mypyc (tools/build_compiled.sh), a
# generated one stays interpreted.
@dataclass(slots=True, init=False)
class _NodeTarget:
    state: str = "initial"
    run_ok: bool = True
    run: int = 0
    handle: Handle | None = None
    seq: int = 0  # the place of the target in its node's registration order
    # computed checks: the time of the first check not yet applied (run_ok and run are as of before it)
    next_s: float = INF

    def __init__(
        self,
        state: str = "initial",
        run_ok: bool = True,
        run: int = 0,
        handle: Handle | None = None,
        seq: int = 0,
        next_s: float = INF,
    ) -> None:
        self.state = state
        self.run_ok = run_ok
        self.run = run
        self.handle = handle
        self.seq = seq
        self.next_s = next_s


@dataclass(slots=True, init=False)
class _Target:
    pod: Pod
    deregistered_s: float | None = None
    propagated: set[int] = field(default_factory=set)

    def __init__(
        self, pod: Pod, deregistered_s: float | None = None, propagated: set[int] | None = None
    ) -> None:
        self.pod = pod
        self.deregistered_s = deregistered_s
        self.propagated = set() if propagated is None else propagated


class TargetGroup:
    """One ALB target group of ``ip`` targets, seen by ``nodes`` LB nodes."""

    def __init__(self, api: ApiServer, streams: Streams, app: App) -> None:
        self.api = api
        self.app = app  # an HTTP health check succeeds when the app answers on the pod's IP
        lb = api.scenario.load_balancer
        self.lb = lb
        self.hc = lb.health_check
        self.initial_needed = lb.initial_health_checks_required or lb.health_check.healthy_threshold_count
        self.nodes = lb.nodes
        self.views = [RoutingView(f"lb-node-{n}", lb.algorithm) for n in range(lb.nodes)]
        # read once per event or more, so looked up once here: the scheduler, the timeline, whether checks
        # are computed from the pod's windows (the app is fixed for the target group's life)
        self._sched = api.sched
        self._rec = api.rec  # its emit called directly (compiled: a native call, no keyword parsing)
        self._computed_checks = answers_from_windows(app)
        self._on_windows_written = self._windows_written  # one bound method: Pod.watch_windows dedups it
        self.reg_prop = Sampler(streams, "alb/register-propagation", lb.register_propagation_seconds)
        self.reg_jitter = Sampler(
            streams, "alb/register-propagation-node", lb.register_propagation_node_jitter_seconds
        )
        self.dereg_prop = Sampler(streams, "alb/deregister-propagation", lb.deregister_propagation_seconds)
        self.dereg_jitter = Sampler(
            streams, "alb/deregister-propagation-node", lb.deregister_propagation_node_jitter_seconds
        )
        self.phase = streams.rng("alb/hc-phase")
        self._phases: list[float] = []  # drawn ahead, next last
        # (node, pod index) whose checks tick, one event per check, as the first checkers did: every key
        # when the app must be asked at each check; otherwise only a key whose target was placed again on
        # a node while its first checks still ran (the two chains then check the same entry, see _place)
        self._ticking: set[tuple[int, int]] = set()
        self.targets: dict[int, _Target] = {}  # by pod index; registered or draining
        # pod index -> the place of its entry in ``targets`` (dict order: where the key was first put in),
        # so a reader can list a few targets in ListTargets' order without walking them all
        self.listed_order: dict[int, int] = {}
        self._next_listed = 0
        # The pods whose entry in ``targets`` or DescribeTargetHealth state (api_state) may have changed
        # since the reader last emptied the set; None: no one reads it. The LB controller's reconcile
        # looks only at these instead of asking about every target.
        self.changed_targets: set[Pod] | None = None
        self.node_targets: list[dict[int, _NodeTarget]] = [{} for _ in range(lb.nodes)]
        # Per node, its healthy targets in registration order as routable() would list them: their seqs
        # (sorted) and pod indices side by side, updated per state change. The changes to that list since
        # the node's last _route (pod -> its seq, None when it left) go to the view as they are when the
        # view lists the healthy targets already: O(changes) per routing change, not O(targets).
        self._next_seq = [0] * lb.nodes
        self._hseq: list[list[int]] = [[] for _ in range(lb.nodes)]
        self._hidx: list[list[int]] = [[] for _ in range(lb.nodes)]
        self._hchanged: list[dict[int, int | None]] = [{} for _ in range(lb.nodes)]
        self._lists_healthy = [False] * lb.nodes  # the node's view ends with its healthy list
        self.drain_deadline: dict[int, float] = {}  # pod index -> when the deregistration delay ends
        self.registrations = 0
        self.deregistrations = 0
        # pod index -> when its RegisterTargets call returned (targets registered during the run)
        self.registered_at: dict[int, float] = {}
        # one entry per DeregisterTargets call: (when it returned, the call's propagation draw)
        self.deregister_calls: list[tuple[float, float]] = []

    # -- the AWS API --------------------------------------------------------------------------------
    def register(self, pod: Pod, *, healthy: bool = False) -> None:
        """A RegisterTargets call for one target. ``healthy`` seeds the steady state before the rollout."""
        if healthy:
            self._seed_healthy(pod)
        else:
            self.register_targets([pod])

    def register_targets(self, pods: list[Pod]) -> None:
        """RegisterTargets returned for ``pods``: one propagation draw for the call, a jitter per node."""
        call_at = self._sched.call_at
        now = self._sched.now()
        prop = self.reg_prop()
        arrive = [now + prop + self.reg_jitter() for _ in range(self.nodes)]
        for pod in pods:
            target = _Target(pod=pod)
            self._put(pod, target)
            self.registered_at[pod.index] = now
            self.registrations += 1
            self._rec.emit(
                "alb",
                "TargetRegistered",
                self._obj(pod),
                state="initial",
                reason="Elb.RegistrationInProgress",
            )
            for n, at in enumerate(arrive):
                call_at(at, self._propagated(n, target))

    def _seed_healthy(self, pod: Pod) -> None:
        now = self._sched.now()
        target = _Target(pod=pod)
        self._put(pod, target)
        for n in range(self.nodes):
            target.propagated.add(n)
            nt = _NodeTarget(state="healthy", run=self.hc.healthy_threshold_count)
            self._place(n, pod, nt)
            self._healthy_add(n, pod.index, nt)
            first = now + self._phase()
            self._start_checks(n, pod, nt, first)

    def deregister(self, pod: Pod) -> None:
        """A DeregisterTargets call for one target."""
        self.deregister_targets([pod])

    def deregister_targets(self, pods: list[Pod]) -> None:
        """DeregisterTargets returned for ``pods``: draining now in the API, and on each node after the
        call's propagation lag (one draw for the whole call) plus that node's jitter."""
        targets = self.targets
        pods = [p for p in pods if p.index in targets and targets[p.index].deregistered_s is None]
        if not pods:
            return
        call_at = self._sched.call_at
        now = self._sched.now()
        prop = self.dereg_prop()
        self.deregister_calls.append((now, prop))
        delay = self.lb.deregistration_delay_seconds
        deadline = now + delay
        # the timeline shows the setting as the scenario holds it (an int when left at its default)
        delay_attr = as_stored(self.lb, "deregistration_delay_seconds")
        # a node may lag in stopping new requests, but never past the end of the delay (then the target is
        # unused and gets nothing)
        stop = [min(now + prop + self.dereg_jitter(), deadline) for _ in range(self.nodes)]
        for pod in pods:
            targets[pod.index].deregistered_s = now
            self._touch(pod)
            self.deregistrations += 1
            self.drain_deadline[pod.index] = deadline
            self._rec.emit(
                "alb",
                "TargetDraining",
                self._obj(pod),
                reason="Target.DeregistrationInProgress",
                delay_s=delay_attr,
            )
            for n, at in enumerate(stop):
                call_at(at, self._stop_routing(n, pod))
            call_at(deadline, self._unused_later(pod))

    def _phase(self) -> float:
        """The next check phase, uniform over one interval: the same floats as drawing them one by one
        (numpy's uniform fills an array draw by draw), in blocks because a scalar draw costs more."""
        phases = self._phases
        if not phases:
            phases = self._phases = self.phase.uniform(0, self.hc.interval_seconds, 256).tolist()[::-1]
        return phases.pop()  # tolist() gives Python floats

    def _put(self, pod: Pod, target: _Target) -> None:
        if pod.index not in self.targets:
            self.listed_order[pod.index] = self._next_listed
            self._next_listed += 1
        self.targets[pod.index] = target
        self._touch(pod)

    def _touch(self, pod: Pod) -> None:
        if self.changed_targets is not None:
            self.changed_targets.add(pod)

    def _unused_later(self, pod: Pod) -> Callable[[], None]:
        return lambda: self._unused(pod)

    def api_state(self, pod: Pod) -> str | None:
        """DescribeTargetHealth's state for a target (MODEL ASSUMPTION: ``healthy`` only once every LB
        node considers it healthy; ``initial`` while any node is still registering or checking)."""
        target = self.targets.get(pod.index)
        if target is None:
            return None
        if target.deregistered_s is not None:
            return "draining"
        if len(target.propagated) < self.nodes:
            return "initial"
        states = {self.node_targets[n][pod.index].state for n in range(self.nodes)}
        if states == {"healthy"}:
            return "healthy"
        return "initial" if "initial" in states else "unhealthy"

    def registered(self) -> list[Pod]:
        """ListTargets, draining ones dropped (partitionTargetsByDrainingStatus, §4.2 step 4)."""
        return [t.pod for t in self.targets.values() if t.deregistered_s is None]

    def is_registered(self, pod: Pod) -> bool:
        """``pod in registered()``, for one pod."""
        target = self.targets.get(pod.index)
        return target is not None and target.deregistered_s is None

    # -- per node -----------------------------------------------------------------------------------
    def _propagated(self, node: int, target: _Target) -> Callable[[], None]:
        def run() -> None:
            pod = target.pod
            if target.deregistered_s is not None or pod.index not in self.targets:
                return
            target.propagated.add(node)
            nt = _NodeTarget()  # initial, no checks yet
            self._place(node, pod, nt)
            self._touch(pod)
            self._rec.emit(
                "alb",
                "TargetInitialHealthChecking",
                self._obj(pod),
                node=self.views[node].name,
                reason="Elb.InitialHealthChecking",
            )
            # The node's checks of the target start at a random phase within the interval, not the instant
            # the registration arrives: AWS documents only "every HealthCheckIntervalSeconds" ("approximate"),
            # and practitioners see about HealthyThresholdCount x interval before traffic (issue 6 item 3).
            # MODEL ASSUMPTION: the phase is uniform over one interval, independent per (target, node).
            first = self._sched.now() + self._phase()
            self._start_checks(node, pod, nt, first)
            self._route(node)

        return run

    # -- health checks ------------------------------------------------------------------------------
    # A node checks a target at its first check time, then every interval (each time the previous one
    # plus the interval). A check that changes nothing is not an event: when the app answers from the
    # pod's windows, the checks from now on are worked out (next_change) and only the first that changes
    # the target's state is scheduled; a write to the pod's windows plans again. Otherwise every check
    # is an event (_check), asking the app.

    def _start_checks(self, node: int, pod: Pod, nt: _NodeTarget, first: float) -> None:
        if not self._computed_checks or (self._ticking and (node, pod.index) in self._ticking):
            nt.handle = self._sched.call_at(first, self._checker(node, pod))
            return
        nt.next_s = first
        pod.watch_windows(self._on_windows_written)
        self._plan(node, pod, nt)

    def _plan(self, node: int, pod: Pod, nt: _NodeTarget) -> None:
        """Schedule the first of ``nt``'s checks that changes its state (none if no check will)."""
        if nt.handle is not None:
            nt.handle.cancel()
            nt.handle = None
        sched = self._sched
        hc = self.hc
        (nt.next_s, nt.run_ok, nt.run), change = next_change(
            nt.state,
            run_ok=nt.run_ok,
            run=nt.run,
            t=nt.next_s,
            interval=hc.interval_seconds,
            listen_s=pod.listen_s,
            stop_accept_s=pod.stop_accept_s,
            ip_gone_s=pod.ip_gone_s,
            healthy_needed=hc.healthy_threshold_count,
            initial_needed=self.initial_needed,
            unhealthy_needed=hc.unhealthy_threshold_count,
            settled_before=sched.now(),
        )
        if change is not None:
            nt.handle = sched.call_at(change[0], self._changer(node, pod, nt, change))

    def _changer(
        self, node: int, pod: Pod, nt: _NodeTarget, change: tuple[float, bool, int, str]
    ) -> Callable[[], None]:
        def run() -> None:
            if self.node_targets[node].get(pod.index) is not nt:
                return
            t, ok, count, state = change
            nt.handle = None
            nt.run_ok, nt.run = ok, count
            nt.next_s = t + self.hc.interval_seconds
            self._set_state(node, pod, nt, state)
            self._plan(node, pod, nt)

        return run

    def _windows_written(self, pod: Pod) -> None:
        index, ticking = pod.index, self._ticking
        for node, nts in enumerate(self.node_targets):
            nt = nts.get(index)
            if nt is not None and not (ticking and (node, index) in ticking):
                self._plan(node, pod, nt)

    def _checker(self, node: int, pod: Pod) -> Callable[[], None]:
        return lambda: self._check(node, pod)

    def _check(self, node: int, pod: Pod) -> None:
        """One check as an event: ask the app, count, maybe change state, schedule the next."""
        nt = self.node_targets[node].get(pod.index)
        if nt is None:
            return
        now = self._sched.now()
        ok = self.app.accepts(pod, now)
        nt.run = nt.run + 1 if ok == nt.run_ok else 1
        nt.run_ok = ok
        state = next_state(
            nt.state,
            ok=ok,
            run=nt.run,
            healthy_needed=self.hc.healthy_threshold_count,
            initial_needed=self.initial_needed,
            unhealthy_needed=self.hc.unhealthy_threshold_count,
        )
        if state != nt.state:
            self._set_state(node, pod, nt, state)
        nt.handle = self._sched.call_at(now + self.hc.interval_seconds, self._checker(node, pod))

    def _set_state(self, node: int, pod: Pod, nt: _NodeTarget, state: str) -> None:
        self._rec.emit(
            "alb",
            "TargetHealthChanged",
            self._obj(pod),
            node=self.views[node].name,
            old=nt.state,
            new=state,
        )
        if state == "healthy":
            self._healthy_add(node, pod.index, nt)
        elif nt.state == "healthy":
            self._healthy_drop(node, nt)
        nt.state = state
        self._touch(pod)
        if state == "healthy":
            nt.run = 0
        self._route(node)

    def _stop_routing(self, node: int, pod: Pod) -> Callable[[], None]:
        def run() -> None:
            nt = self.node_targets[node].pop(pod.index, None)
            self._touch(pod)
            if nt is not None:
                if nt.state == "healthy":
                    self._healthy_drop(node, nt)
                if nt.handle is not None:
                    nt.handle.cancel()
            self._rec.emit("alb", "NodeStoppedRouting", self._obj(pod), node=self.views[node].name)
            self._route(node)

        return run

    def _unused(self, pod: Pod) -> None:
        if self.targets.pop(pod.index, None) is not None:
            del self.listed_order[pod.index]
        self._touch(pod)
        self._rec.emit("alb", "TargetUnused", self._obj(pod), reason="Target.NotRegistered")

    def _route(self, node: int) -> None:
        # in the order the registrations reached this node: a target's key in the view is its seq
        changes = self._hchanged[node]
        healthy = self._hidx[node]
        size = len(healthy)
        view, now = self.views[node], self._sched.now()
        if size >= self.lb.minimum_healthy_targets:
            # routable()'s first branch, without rescanning the node's targets
            fail_open = False
            if self._lists_healthy[node]:
                if not changes:
                    # Fast path: the view already lists exactly these healthy targets, not fail-open, so
                    # view.change would record nothing (an initial target arriving, say).
                    return
                changed = view.change(now, changes)
            else:
                changed = view.set(now, healthy, keys=self._hseq[node])
            self._lists_healthy[node] = True
        else:
            nts = self.node_targets[node]
            targets, fail_open = routable(
                [(i, nt.state) for i, nt in nts.items()],
                minimum_healthy=self.lb.minimum_healthy_targets,
                route_initial=self.lb.only_initial_or_draining == "route",
            )
            size = len(targets)
            changed = view.set(now, targets, keys=[nts[i].seq for i in targets], fail_open=fail_open)
            self._lists_healthy[node] = False
        changes.clear()  # all passed on to the view (view.set needs none)
        if changed:
            self._rec.emit("alb", "RoutingChanged", view.name, targets=size, fail_open=fail_open)

    def _place(self, node: int, pod: Pod, nt: _NodeTarget) -> None:
        """Put ``nt`` in the node's targets: at the end, or in the place of the entry it replaces."""
        index = pod.index
        old = self.node_targets[node].get(index)
        if old is not None:
            nt.seq = old.seq
            if old.state == "healthy":
                self._healthy_drop(node, old)
            if (node, index) not in self._ticking and self._computed_checks:
                # The old entry's checks go on, checking the entry that replaces it (a checker finds its
                # target by pod index), beside the new entry's own: from here this key ticks, each chain
                # from its next check at or after now.
                self._ticking.add((node, index))
                if old.handle is not None:
                    old.handle.cancel()
                    old.handle = None
                t = old.next_s
                while t < self._sched.now():
                    t += self.hc.interval_seconds
                self._sched.call_at(t, self._checker(node, pod))
        else:
            nt.seq = self._next_seq[node]
            self._next_seq[node] += 1
        self.node_targets[node][index] = nt

    def _healthy_add(self, node: int, index: int, nt: _NodeTarget) -> None:
        seqs = self._hseq[node]
        at = bisect_left(seqs, nt.seq)
        seqs.insert(at, nt.seq)
        self._hidx[node].insert(at, index)
        self._hchanged[node][index] = nt.seq

    def _healthy_drop(self, node: int, nt: _NodeTarget) -> None:
        seqs = self._hseq[node]
        at = bisect_left(seqs, nt.seq)
        del seqs[at]
        self._hchanged[node][self._hidx[node].pop(at)] = None

    def _obj(self, pod: Pod) -> str:
        return f"target/{pod.ip}:{TARGET_PORT}"
