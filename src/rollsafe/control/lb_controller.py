"""The AWS Load Balancer Controller's TargetGroupBinding reconciler for ``ip`` targets.

Follows pkg/targetgroupbinding/resource_manager.go reconcileWithIPTargetType and
pkg/backend/endpoint_resolver.go (shared/reference/aws-alb-and-lb-controller.md §4.2-§4.5): resolve
endpoints (ready ones, plus not-ready ones whose containers are ready and that are not terminating: the
pods held back only by the readiness gate), list targets without the draining ones, deregister first, then
register, then patch readiness-gate conditions; requeue after 15 s while any gate is not True.

Every target that left (or joined) the endpoint set since the previous reconcile goes into the same
DeregisterTargets (RegisterTargets) call, in chunks of 200, one chunk after the other; the calls pass the
controller's own ELB throttle first (a token bucket, pkg/aws/throttle/defaults.go).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from rollsafe.control.api import ApiServer, Endpoint, Pod
from rollsafe.control.scheduler import Sampler, Streams, WorkQueue
from rollsafe.control.target_group import TargetGroup

CHUNK: Final = 200  # defaultRegisterTargetsChunkSize / defaultDeregisterTargetsChunkSize (§3)
# pkg/aws/throttle/defaults.go: "^RegisterTargets|^DeregisterTargets" 4 per second, burst 20, one bucket
# for the whole controller process (shared by every TargetGroupBinding; this model has one).
TARGET_CALLS_PER_S: Final = 4.0
TARGET_CALLS_BURST: Final = 20.0


class TokenBucket:
    """golang.org/x/time/rate's limiter as the AWS SDK middleware uses it (Wait): a call goes when a token
    is there, else it waits for the next one. Times must not go backwards."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.t: float | None = None  # when ``tokens`` was last brought up to date

    def take(self, t: float) -> float:
        """When a call wanted at ``t`` may go."""
        if self.t is not None:
            t = max(t, self.t)
            self.tokens = min(self.burst, self.tokens + (t - self.t) * self.rate)
        self.t = t
        if self.tokens >= 1:
            self.tokens -= 1
            return t
        wait = (1 - self.tokens) / self.rate
        self.tokens = 0.0
        self.t = t + wait
        return self.t


def select_endpoints(endpoints: list[Endpoint]) -> list[Pod]:
    """The pods the controller wants registered (endpoint_resolver.go, §4.3).

    Include an endpoint whose ``ready`` is true (or unknown); else include it only if its pod's
    ContainersReady is true, its node is Ready and it is not terminating. Worker nodes are always Ready
    in this model.
    """
    return [ep.pod for ep in endpoints if ep.ready or (ep.pod.containers_ready and not ep.terminating)]


class LbController:
    def __init__(self, api: ApiServer, streams: Streams, tg: TargetGroup) -> None:
        self.api = api
        self.tg = tg
        lbc = api.scenario.lb_controller
        self.requeue_s = lbc.requeue_seconds
        self.gate = api.scenario.workload.readiness_gate
        self.describe = Sampler(streams, "lbc/describe-target-health", lbc.describe_target_health_seconds)
        self.register_call = Sampler(streams, "lbc/register-targets", lbc.register_targets_seconds)
        self.deregister_call = Sampler(streams, "lbc/deregister-targets", lbc.deregister_targets_seconds)
        self.throttle = TokenBucket(TARGET_CALLS_PER_S, TARGET_CALLS_BURST)
        self.queue = WorkQueue(api.sched, self._reconcile)
        self.reconciles = 0
        self._tg_object = "targetgroup/" + self._tg_name()  # the timeline's name for the target group
        # What a reconcile decides from, kept up to date per change rather than rescanned each time (issue
        # 9): the endpoints the slice writes changed (api.endpoint_writes), the targets whose registration
        # or DescribeTargetHealth state changed (tg.changed_targets), the pods whose condition this
        # controller patched. A reconcile then costs about O(changes log n), not O(n). The first one lists
        # everything, as an informer's first List does.
        self._listed = False
        self._writes_seen = 0  # api.endpoint_writes[:_writes_seen] applied
        self._wanted: set[int] = set()  # pod indices select_endpoints picks from the slice
        # the slice's endpoints neither ready nor terminating: select_endpoints reads their pod's
        # ContainersReady as it is at the reconcile, so they are asked again each time
        self._live: dict[Pod, Endpoint] = {}
        self._mismatched: set[Pod] = set()  # wanted but not registered, or registered but not wanted
        self._unhealthy: set[Pod] = set()  # wanted, gated, target not healthy: the gate is pending
        self._to_patch: set[Pod] = set()  # wanted, gated, target healthy, condition not yet True
        self._touched: set[Pod] = set()  # pods to place again in the sets above
        tg.changed_targets = set()
        api.watch("endpointslice", lambda _v: self.queue.add())
        if self.gate:
            # pod handler: only pods whose readiness gates reference this TargetGroupBinding (§4.4)
            api.watch("pod", lambda pod: self.queue.add() if pod.gated else None)

    def _reconcile(self) -> float:
        api, sched = self.api, self.api.sched
        now = sched.now()
        self.reconciles += 1
        to_deregister, to_register, to_patch, pending = self._plan()
        t = now + self.describe()  # ListTargets -> DescribeTargetHealth
        if to_deregister:
            for chunk in _chunks(to_deregister):
                t = self.throttle.take(t) + self.deregister_call()
                sched.call_at(t, self._deregistered(chunk))
        if to_register:
            for chunk in _chunks(to_register):
                t = self.throttle.take(t) + self.register_call()
                sched.call_at(t, self._registered(chunk))
        # the gated pods whose target DescribeTargetHealth reports healthy get their condition patched True;
        # once True the controller never flips it back (healthy targets are cached, §4.5)
        for pod in to_patch:
            t += api.api_latency()
            sched.call_at(t, self._patched(pod, True, "healthy"))
        if pending:
            self.queue.add_at(t + self.requeue_s)
        return t - now

    def _plan(self) -> tuple[list[Pod], list[Pod], list[Pod], bool]:
        """What the reconcile does now: the targets to deregister (in ListTargets' order) and to register
        (in the slice's order, which is pod order), the gated pods whose condition to patch True (slice
        order), and whether a gate is still pending (then it requeues). The same as walking every endpoint
        and every target (tests/test_incremental_lbc.py checks that), from the changes since last time."""
        self._catch_up()
        mismatched = self._mismatched
        if mismatched:
            wanted = self._wanted
            to_register = sorted((p for p in mismatched if p.index in wanted), key=_index)
            order = self.tg.listed_order
            to_deregister = sorted(
                (p for p in mismatched if p.index not in wanted), key=lambda p: order[p.index]
            )
        else:  # the common reconcile: the targets match the endpoints already
            to_register, to_deregister = [], []
        if not self.gate:
            return to_deregister, to_register, [], False
        return to_deregister, to_register, sorted(self._to_patch, key=_index), bool(self._unhealthy)

    def _catch_up(self) -> None:
        api, tg, touched = self.api, self.tg, self._touched
        writes = api.endpoint_writes
        if not self._listed:
            self._listed = True
            for ep in api.endpoints.values():
                self._set_endpoint(ep.pod, ep)
            touched.update(t.pod for t in tg.targets.values())
        else:
            endpoints = api.endpoints
            for pod in writes[self._writes_seen :]:
                self._set_endpoint(pod, endpoints.get(pod.uid))
        self._writes_seen = len(writes)
        live = self._live
        if live:
            wanted = self._wanted
            picked = {p.index for p in select_endpoints(list(live.values()))}
            for pod in live:
                if (pod.index in picked) != (pod.index in wanted):
                    if pod.index in picked:
                        wanted.add(pod.index)
                    else:
                        wanted.discard(pod.index)
                    touched.add(pod)
        changed = tg.changed_targets
        if changed:
            touched |= changed
            changed.clear()
        for pod in touched:
            self._place(pod)
        touched.clear()

    def _set_endpoint(self, pod: Pod, ep: Endpoint | None) -> None:
        """The slice's entry for ``pod`` is now ``ep`` (None: no entry)."""
        self._live.pop(pod, None)
        if ep is None:
            self._wanted.discard(pod.index)
        elif not ep.ready and not ep.terminating:
            self._live[pod] = ep  # picked or not in _catch_up, from the pod as it is then
        elif select_endpoints([ep]):  # ready: picked whatever the pod; terminating, not ready: never
            self._wanted.add(pod.index)
        else:
            self._wanted.discard(pod.index)
        self._touched.add(pod)

    def _place(self, pod: Pod) -> None:
        """Put ``pod`` in or out of the reconcile's sets, from its slice entry, target and condition now."""
        wanted = pod.index in self._wanted
        registered = self.tg.is_registered(pod)
        if wanted != registered:
            self._mismatched.add(pod)
        else:
            self._mismatched.discard(pod)
        if not self.gate:
            return  # no readiness gate: the two sets below stay empty
        if pod.gated and wanted:
            state = self.tg.api_state(pod) if registered else "initial"
            if state != "healthy":
                self._unhealthy.add(pod)
                self._to_patch.discard(pod)
                return
            self._unhealthy.discard(pod)
            if pod.gate_true:
                self._to_patch.discard(pod)
            else:
                self._to_patch.add(pod)
            return
        self._unhealthy.discard(pod)
        self._to_patch.discard(pod)

    def _deregistered(self, pods: list[Pod]) -> Callable[[], None]:
        def run() -> None:
            self.api.rec.emit(
                "lb-controller", "DeregisterTargets", self._tg_object, targets=[p.ip for p in pods]
            )
            self.tg.deregister_targets(pods)

        return run

    def _registered(self, pods: list[Pod]) -> Callable[[], None]:
        def run() -> None:
            self.api.rec.emit(
                "lb-controller", "RegisterTargets", self._tg_object, targets=[p.ip for p in pods]
            )
            self.tg.register_targets(pods)

        return run

    def _patched(self, pod: Pod, status: bool, state: str) -> Callable[[], None]:
        def run() -> None:
            if pod.gone or pod.gate_true == status:
                return
            pod.gate_true = status
            self._touched.add(pod)
            self.api.rec.emit(
                "lb-controller", "ReadinessGatePatched", f"pod/{pod.name}", status=status, target_state=state
            )
            self.api.changed("pod", pod)

        return run

    def _tg_name(self) -> str:
        name = self.api.scenario.workload.name
        return f"k8s-default-{name[:8]}-0123456789"


def _index(pod: Pod) -> int:
    return pod.index


def _chunks(pods: list[Pod]) -> list[list[Pod]]:
    return [pods[i : i + CHUNK] for i in range(0, len(pods), CHUNK)]
