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

from rollsafe.control.api import ApiServer, Endpoint, Pod
from rollsafe.control.scheduler import Sampler, Streams, WorkQueue
from rollsafe.control.target_group import TargetGroup

CHUNK = 200  # defaultRegisterTargetsChunkSize / defaultDeregisterTargetsChunkSize (§3)
# pkg/aws/throttle/defaults.go: "^RegisterTargets|^DeregisterTargets" 4 per second, burst 20, one bucket
# for the whole controller process (shared by every TargetGroupBinding; this model has one).
TARGET_CALLS_PER_S = 4.0
TARGET_CALLS_BURST = 20.0


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
        api.watch("endpointslice", lambda _v: self.queue.add())
        if self.gate:
            # pod handler: only pods whose readiness gates reference this TargetGroupBinding (§4.4)
            api.watch("pod", lambda pod: self.queue.add() if pod.gated else None)

    def _reconcile(self) -> float:
        api, sched = self.api, self.api.sched
        now = sched.now()
        self.reconciles += 1
        wanted = select_endpoints(list(api.endpoints.values()))
        wanted_idx = {p.index for p in wanted}
        t = now + self.describe()  # ListTargets -> DescribeTargetHealth
        current = self.tg.registered()
        current_idx = {p.index for p in current}
        to_deregister = [p for p in current if p.index not in wanted_idx]
        to_register = [p for p in wanted if p.index not in current_idx]
        for chunk in _chunks(to_deregister):
            t = self.throttle.take(t) + self.deregister_call()
            sched.call_at(t, self._deregistered(chunk))
        for chunk in _chunks(to_register):
            t = self.throttle.take(t) + self.register_call()
            sched.call_at(t, self._registered(chunk))
        pending = False
        if self.gate:
            for pod in wanted:
                if not pod.gated:
                    continue
                # DescribeTargetHealth's state, asked only of the gated targets it is read for
                state = self.tg.api_state(pod) if pod.index in current_idx else "initial"
                status = state == "healthy"
                pending = pending or not status
                # once True the controller never flips it back: healthy targets are cached (§4.5)
                if status and not pod.gate_true:
                    t += api.api_latency()
                    sched.call_at(t, self._patched(pod, status, state or "initial"))
        if pending:
            self.queue.add_at(t + self.requeue_s)
        return t - now

    def _deregistered(self, pods: list[Pod]) -> Callable[[], None]:
        def run() -> None:
            self.api.rec.emit(
                "lb-controller",
                "DeregisterTargets",
                "targetgroup/" + self._tg_name(),
                targets=[p.ip for p in pods],
            )
            self.tg.deregister_targets(pods)

        return run

    def _registered(self, pods: list[Pod]) -> Callable[[], None]:
        def run() -> None:
            self.api.rec.emit(
                "lb-controller",
                "RegisterTargets",
                "targetgroup/" + self._tg_name(),
                targets=[p.ip for p in pods],
            )
            self.tg.register_targets(pods)

        return run

    def _patched(self, pod: Pod, status: bool, state: str) -> Callable[[], None]:
        def run() -> None:
            if pod.gone or pod.gate_true == status:
                return
            pod.gate_true = status
            self.api.rec.emit(
                "lb-controller", "ReadinessGatePatched", f"pod/{pod.name}", status=status, target_state=state
            )
            self.api.changed("pod", pod)

        return run

    def _tg_name(self) -> str:
        name = self.api.scenario.workload.name
        return f"k8s-default-{name[:8]}-0123456789"


def _chunks(pods: list[Pod]) -> list[list[Pod]]:
    return [pods[i : i + CHUNK] for i in range(0, len(pods), CHUNK)]
