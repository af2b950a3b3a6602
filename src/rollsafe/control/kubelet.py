"""The kubelet: pod startup, readiness (probes, readiness gates) and termination (preStop, SIGTERM, the
grace period, SIGKILL).

It decides when to start, probe, signal and kill a container; what the app does in answer (when it
listens, whether a probe succeeds, when it exits) it only asks of the App (control/app.py), so a real
process can stand in for the simulated one. Sources: pkg/kubelet/prober/worker.go, status/generate.go,
kuberuntime_container.go killContainer (kubernetes-rollout-mechanics.md §3, §4). The kill arithmetic is a
plain function, table-tested.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rollsafe.control.api import INF, ApiServer, Pod
from rollsafe.control.app import App, accepts_at, answers_from_windows, window_fixed_from
from rollsafe.control.scheduler import Handle, Sampler, Streams

MINIMUM_GRACE_PERIOD_S: Final = 2.0  # kuberuntime minimumGracePeriodInSeconds


@dataclass(frozen=True, slots=True)
class KillPlan:
    """When the kubelet sends SIGTERM and SIGKILL, relative to the moment it starts killing the pod."""

    pre_stop_s: float  # how long the preStop hook ran (cut at the grace period)
    sigterm_s: float
    sigkill_s: float


def kill_plan(*, grace_s: float, pre_stop_sleep_s: float) -> KillPlan:
    """killContainer's arithmetic (§4.3).

    The preStop hook runs first, bounded by the grace period; its elapsed time counts against the grace
    period in whole seconds (``int64(time.Since(start).Seconds())``); what is left, but never less than
    2 s, is the window between SIGTERM and SIGKILL.
    """
    grace = grace_s
    pre_stop = 0.0
    if pre_stop_sleep_s > 0 and grace > 0:
        pre_stop = min(pre_stop_sleep_s, grace)
        grace -= math.floor(pre_stop)
    grace = max(grace, MINIMUM_GRACE_PERIOD_S)
    return KillPlan(pre_stop_s=pre_stop, sigterm_s=pre_stop, sigkill_s=pre_stop + grace)


def next_probe_action(
    k: int,
    runs: tuple[int, int, int],
    *,
    started_s: float,
    period_s: float,
    listen_s: float,
    stop_accept_s: float,
    ip_gone_s: float,
    ready: bool,
    success_threshold: int,
    failure_threshold: int,
    settled_before: float = -INF,
    success_acts: bool = True,
    failure_acts: bool = True,
) -> tuple[tuple[int, tuple[int, int, int]], tuple[int, tuple[int, int, int]] | None]:
    """A container's readiness probes from probe ``k`` on, worked out instead of run one by one.

    Probe k runs at ``started_s + k * period_s`` (the ticking prober's very expression) and succeeds when
    window_accepts would (control/app.py). ``runs`` is (probes run, consecutive successes, consecutive
    failures) before probe k; ``ready`` the container's readiness, which only a probe's action changes.

    Returns ``(settled, action)``. ``action`` is the first probe that acts (reaches successThreshold while
    not ready, or failureThreshold while ready): (k, runs after it), or None when none ever will (past
    every finite window edge the result is fixed). ``settled`` is (the first probe not folded in, runs
    before it): the probes before ``settled_before`` that do nothing, folded in, since a later write to
    a window never alters a result before the moment it is written. ``success_acts`` or
    ``failure_acts`` False: reaching that threshold is known to do nothing, so it is no action.
    """
    count, succ, fail = runs
    settled = (k, runs)
    last = window_fixed_from(listen_s, stop_accept_s, ip_gone_s)
    while True:
        t = started_s + k * period_s
        ok = accepts_at(t, listen_s, stop_accept_s, ip_gone_s)
        count += 1
        if ok:
            succ, fail = succ + 1, 0
        else:
            succ, fail = 0, fail + 1
        if (ok and not ready and succ >= success_threshold and success_acts) or (
            not ok and ready and fail >= failure_threshold and failure_acts
        ):
            return settled, (k, (count, succ, fail))
        if t < settled_before:
            settled = (k + 1, (count, succ, fail))
        if t >= last and (ok == ready or not (success_acts if ok else failure_acts)):
            return settled, None
        k += 1


class Kubelet:
    """All nodes' kubelets: they act alike, each on the pods bound to it."""

    def __init__(self, api: ApiServer, streams: Streams, app: App) -> None:
        self.api = api
        sc = api.scenario
        self.workload = sc.workload
        self.probe = sc.workload.readiness_probe
        self.app = app
        self.scheduling = Sampler(streams, "kubelet/scheduling", sc.cluster.scheduling_seconds)
        self.sandbox = Sampler(streams, "kubelet/sandbox", sc.cluster.sandbox_seconds)
        self.pull = Sampler(streams, "kubelet/image-pull", sc.cluster.image_pull_seconds)
        self.teardown = Sampler(streams, "kubelet/teardown", sc.cluster.pod_teardown_seconds)
        # every pod of the Deployment has the same grace period and preStop hook: one kill plan
        self._kill_plan = kill_plan(
            grace_s=sc.workload.termination_grace_period_seconds,
            pre_stop_sleep_s=sc.workload.pre_stop_sleep_seconds,
        )
        self._started: dict[str, float] = {}  # pod uid -> container start
        self._starting: set[str] = set()  # pods whose start the kubelet has begun
        # worker node -> when the new image is (or will be) present there: pulled once per node
        self._image_ready: dict[int, float] = {}
        self._killing: set[str] = set()
        self._exited: dict[str, float] = {}  # pod uid -> when its container exited
        self._unready_sent: set[str] = set()  # terminating pods whose not-ready status was written
        # pod uid -> [probes run, consecutive successes, consecutive failures]
        self._probes: dict[str, list[int]] = {}
        # computed probes: pod uid -> the first probe not yet applied, and the scheduled action
        self._probe_next: dict[str, int] = {}
        self._probe_handle: dict[str, Handle] = {}
        api.watch("pod", self._on_pod)

    def adopt_running(self, pod: Pod, *, started_s: float) -> None:
        """A pod that was already running before the simulation began (its probes tick from ``started_s``)."""
        self._started[pod.uid] = started_s
        pod.scheduled = pod.running = True
        if self.probe is not None:
            period = self.probe.period_seconds
            k = max(0, math.ceil((self.api.sched.now() - started_s) / period))
            self._probes[pod.uid] = [0, 0, 0]
            self._start_probes(pod, k)

    def _on_pod(self, pod: Pod) -> None:
        if pod.gone:
            return
        uid = pod.uid
        if pod.deletion_s is not None:
            if uid not in self._killing:
                self._kill(pod)
            return
        if uid not in self._starting and uid not in self._started and not pod.has_ip:
            self._start(pod)
            return
        self._update_ready(pod)

    # -- startup ----------------------------------------------------------------------------------
    def _start(self, pod: Pod) -> None:
        api = self.api
        sched = api.sched
        self._starting.add(pod.uid)
        admitted = sched.now() + self.scheduling()
        sandbox = admitted + self.sandbox()

        def bound() -> None:
            pod.scheduled = True

        def sandbox_ready() -> None:
            if pod.deletion_s is not None:
                return

            # the pod IP is published with a status PATCH
            def apply() -> None:
                pod.has_ip = True
                api.changed("pod", pod)

            api.rec.emit("kubelet", "SandboxReady", f"pod/{pod.name}", ip=pod.ip, node=f"node-{pod.node}")
            api.write_at(sched.now(), apply)
            self._pull_then_run(pod)

        sched.call_at(admitted, bound)
        sched.call_at(sandbox, sandbox_ready)

    def image_ready_at(self, node: int) -> float:
        """When the new image is present on ``node``; a pull starts now if none has (IfNotPresent: "the
        image is pulled only if it is not already present locally", kubernetes.io/docs/concepts/containers/
        images)."""
        ready = self._image_ready.get(node)
        if ready is None:
            ready = self._image_ready[node] = self.api.sched.now() + self.pull()
        return ready

    def _pull_then_run(self, pod: Pod) -> None:
        """After the sandbox: the image (pulled by the first pod on the node; a later pod finds it, or waits
        for the pull under way, as kubelet pulls serially by default), then the container starts."""
        api = self.api
        sched = api.sched
        started = max(sched.now(), self.image_ready_at(pod.node))
        self._started[pod.uid] = started

        def container_started() -> None:
            pod.running = True
            if pod.deletion_s is None:
                api.rec.emit("kubelet", "ContainerStarted", f"pod/{pod.name}")

        sched.call_at(started, container_started)
        self.app.start(pod, started)
        if self.probe is None:
            # "If a container does not provide a readiness probe, the default state is Success"
            sched.call_at(started, lambda: self._containers_ready(pod, probes=0))
        else:
            # the first probe runs right at container start (prober_manager.UpdatePodStatus triggers it),
            # then every periodSeconds; probes before initialDelaySeconds are skipped (worker.go)
            period = self.probe.period_seconds
            first_k = math.ceil(self.probe.initial_delay_seconds / period - 1e-9)
            self._probes[pod.uid] = [0, 0, 0]
            self._start_probes(pod, first_k)

    def _containers_ready(self, pod: Pod, *, probes: int) -> None:
        if pod.deletion_s is not None:
            return
        pod.containers_ready = True
        self.api.rec.emit("kubelet", "ContainersReady", f"pod/{pod.name}", probes=probes)
        self._update_ready(pod, force_patch=True)

    # -- readiness probes -------------------------------------------------------------------------
    # Probe k runs at container start + k periods. A probe that does nothing is not an event: when the
    # app answers from the pod's windows, the probes from now on are worked out (next_probe_action) and
    # only the first that acts is scheduled; a write to the pod's windows plans again. Otherwise every
    # probe is an event (_probe_tick), asking the app.
    def _start_probes(self, pod: Pod, k: int) -> None:
        if not answers_from_windows(self.app):
            assert self.probe is not None
            self.api.sched.call_at(
                self._started[pod.uid] + k * self.probe.period_seconds, self._prober(pod, k)
            )
            return
        self._probe_next[pod.uid] = k
        pod.watch_windows(self._windows_written)
        self._plan_probes(pod)

    def _probe_stopped(self, pod: Pod) -> bool:
        """The container no longer runs: its probe worker stops (for good: none of these turns back)."""
        return pod.gone or pod.terminal or pod.uid in self._exited or self.probe is None

    def _plan_probes(self, pod: Pod) -> None:
        """Schedule the first probe from the next one on that acts (none if no probe will)."""
        handle = self._probe_handle.pop(pod.uid, None)
        if handle is not None:
            handle.cancel()
        if self._probe_stopped(pod):
            return
        probe = self.probe
        assert probe is not None
        runs = self._probes[pod.uid]
        (k, (runs[0], runs[1], runs[2])), action = next_probe_action(
            self._probe_next[pod.uid],
            (runs[0], runs[1], runs[2]),
            started_s=self._started[pod.uid],
            period_s=probe.period_seconds,
            listen_s=pod.listen_s,
            stop_accept_s=pod.stop_accept_s,
            ip_gone_s=pod.ip_gone_s,
            ready=pod.containers_ready,
            success_threshold=probe.success_threshold,
            failure_threshold=probe.failure_threshold,
            settled_before=self.api.sched.now(),
            # what _probe_acts would do that is known to be nothing, for good: a terminating pod is never
            # made ready, and its not-ready status is written once (both only ever turn False)
            success_acts=pod.deletion_s is None,
            failure_acts=pod.deletion_s is None or pod.uid not in self._unready_sent,
        )
        self._probe_next[pod.uid] = k
        if action is not None:
            t = self._started[pod.uid] + action[0] * probe.period_seconds
            self._probe_handle[pod.uid] = self.api.sched.call_at(t, self._acter(pod, action))

    def _acter(self, pod: Pod, action: tuple[int, tuple[int, int, int]]) -> Callable[[], None]:
        def run() -> None:
            self._probe_handle.pop(pod.uid, None)
            if self._probe_stopped(pod):
                return
            k, (count, succ, fail) = action
            runs = self._probes[pod.uid]
            runs[0], runs[1], runs[2] = count, succ, fail
            self._probe_next[pod.uid] = k + 1
            self._probe_acts(pod, ok=succ > 0)
            self._plan_probes(pod)

        return run

    def _windows_written(self, pod: Pod) -> None:
        if pod.uid in self._probe_next:
            self._plan_probes(pod)

    def _prober(self, pod: Pod, k: int) -> Callable[[], None]:
        return lambda: self._probe_tick(pod, k)

    def _probe_tick(self, pod: Pod, k: int) -> None:
        """Probe ``k`` (at container start + k periods) as an event: an httpGet/tcpSocket probe succeeds when
        the app accepts the connection (a refused connection fails at once)."""
        if self._probe_stopped(pod):
            return
        assert self.probe is not None
        sched = self.api.sched
        ok = self.app.accepts(pod, sched.now())
        runs = self._probes[pod.uid]
        runs[0] += 1
        if ok:
            runs[1], runs[2] = runs[1] + 1, 0
        else:
            runs[1], runs[2] = 0, runs[2] + 1
        self._probe_acts(pod, ok=ok)
        started = self._started[pod.uid]
        sched.call_at(started + (k + 1) * self.probe.period_seconds, self._prober(pod, k + 1))

    def _probe_acts(self, pod: Pod, *, ok: bool) -> None:
        """After a probe: ``successThreshold`` consecutive successes make the container ready,
        ``failureThreshold`` consecutive failures unready (§3.3)."""
        assert self.probe is not None
        runs = self._probes[pod.uid]
        if ok and not pod.containers_ready and runs[1] >= self.probe.success_threshold:
            self._containers_ready(pod, probes=runs[0])
        elif not ok and pod.containers_ready and runs[2] >= self.probe.failure_threshold:
            if pod.deletion_s is not None:
                self._not_serving(pod)
            else:
                pod.containers_ready = False
                self._update_ready(pod)

    def _update_ready(self, pod: Pod, *, force_patch: bool = False) -> None:
        # GeneratePodReadyCondition: containers ready AND every readiness gate condition True (§3.4).
        if pod.deletion_s is not None:
            return
        want = pod.containers_ready and (pod.gate_true or not pod.gated)
        if want == pod.ready and not force_patch:
            return
        api = self.api
        decided = api.sched.now()

        def apply() -> None:
            if pod.deletion_s is not None or pod.ready == want:
                if force_patch:
                    api.changed("pod", pod)
                return
            pod.ready = want
            pod.serving = want
            pod.ready_since_s = decided
            api.rec.emit("kubelet", "PodReady" if want else "PodNotReady", f"pod/{pod.name}")
            api.changed("pod", pod)

        api.write_at(decided, apply)

    # -- termination ------------------------------------------------------------------------------
    def _not_serving(self, pod: Pod) -> None:
        """A terminating pod's Ready (and so its endpoint's serving) turns False: after failed probes, or
        when its container exits, whichever is first; written once."""
        if pod.uid in self._unready_sent:
            return
        self._unready_sent.add(pod.uid)
        api = self.api

        def apply() -> None:
            if pod.serving:
                pod.serving = False
                pod.ready = False
                api.changed("pod", pod)

        api.write_at(api.sched.now(), apply)

    def _kill(self, pod: Pod) -> None:
        api = self.api
        sched = api.sched
        self._killing.add(pod.uid)
        now = sched.now()
        plan = self._kill_plan
        sigterm, sigkill = now + plan.sigterm_s, now + plan.sigkill_s
        teardown = self.teardown()
        # a pod that never got a sandbox has no IP to release
        had_ip = pod.has_ip or pod.uid in self._started or pod.uid in self._starting
        if not had_ip:
            pod.ip_gone_s = now
        name = f"pod/{pod.name}"

        def sigkill_due() -> None:
            # SIGKILL goes out unless the container exited before the grace period ran out
            exited = self._exited.get(pod.uid)
            if exited is None or exited >= sigkill:
                api.rec.emit("kubelet", "SIGKILL", name)

        def exited(why: str) -> None:
            self._exited[pod.uid] = sched.now()
            self._not_serving(pod)
            api.rec.emit("kubelet", "ContainerExited", name, reason=why)
            if had_ip:
                pod.ip_gone_s = sched.now() + teardown
                sched.call_at(pod.ip_gone_s, lambda: api.rec.emit("kubelet", "PodIPGone", name, ip=pod.ip))

            def terminal() -> None:
                pod.terminal = True
                pod.serving = False
                pod.ready = False
                api.changed("pod", pod)
                # status manager: final DELETE with grace 0 once terminal (§4.3)
                api.write_at(sched.now(), removed)

            def removed() -> None:
                pod.gone = True
                pod.gone_s = sched.now()
                api.rec.emit("kubelet", "PodRemoved", name)
                api.changed("pod", pod)
                api.changed("pod-deleted", pod)

            api.write_at(sched.now(), terminal)

        if plan.pre_stop_s > 0:
            api.rec.emit("kubelet", "PreStopStarted", name, sleep_s=self.workload.pre_stop_sleep_seconds)
        sched.call_at(
            sigterm, lambda: api.rec.emit("kubelet", "SIGTERM", name, sigkill_at_s=round(sigkill, 6))
        )
        sched.call_at(sigkill, sigkill_due)
        self.app.stop(pod, sigterm_s=sigterm, sigkill_s=sigkill, on_exit=exited)
        if not had_ip:
            sched.call_at(now, lambda: api.rec.emit("kubelet", "PodIPGone", name, ip=pod.ip))
