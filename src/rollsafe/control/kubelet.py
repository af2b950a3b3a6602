"""The kubelet: pod startup, readiness (probe timing, readiness gates) and termination (preStop, SIGTERM,
the grace period, SIGKILL), plus the app's reaction to SIGTERM.

Sources: pkg/kubelet/prober/worker.go, status/generate.go, kuberuntime_container.go killContainer
(kubernetes-rollout-mechanics.md §3, §4). Pure timing rules are plain functions, table-tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollsafe.control.api import INF, ApiServer, Pod
from rollsafe.control.scheduler import Sampler, Streams
from rollsafe.model.scenario import ReadinessProbe

MINIMUM_GRACE_PERIOD_S = 2.0  # kuberuntime minimumGracePeriodInSeconds


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


def readiness_time(*, started_s: float, listen_s: float, probe: ReadinessProbe | None) -> tuple[float, int]:
    """When the container turns ready, and after how many probes.

    No probe: ready as soon as it runs ("If a container does not provide a readiness probe, the default
    state is Success"). With a probe: the first probe runs right at container start (the manual trigger in
    prober_manager.UpdatePodStatus resets the ticker), then every periodSeconds; probes before
    initialDelaySeconds are skipped; ``successThreshold`` consecutive successes are needed. A probe
    succeeds once the app listens (httpGet/tcpSocket: a refused connection fails at once).
    """
    if probe is None:
        return started_s, 0
    period = probe.period_seconds
    first_k = math.ceil(probe.initial_delay_seconds / period - 1e-9)
    need_k = max(first_k, math.ceil((listen_s - started_s) / period - 1e-9))
    ready_k = need_k + probe.success_threshold - 1
    return started_s + ready_k * period, ready_k - first_k + 1


def unready_after_stop(*, stop_s: float, started_s: float, probe: ReadinessProbe | None) -> float:
    """With a probe, readiness turns False after ``failureThreshold`` failed probes once the app stops."""
    if probe is None:
        return INF
    period = probe.period_seconds
    k = math.ceil((stop_s - started_s) / period - 1e-9)
    return started_s + (k + probe.failure_threshold - 1) * period


class Kubelet:
    """All nodes' kubelets: they act alike, each on the pods bound to it."""

    def __init__(self, api: ApiServer, streams: Streams) -> None:
        self.api = api
        sc = api.scenario
        self.workload = sc.workload
        self.app = sc.app
        self.scheduling = Sampler(streams, "kubelet/scheduling", sc.cluster.scheduling_seconds)
        self.sandbox = Sampler(streams, "kubelet/sandbox", sc.cluster.sandbox_seconds)
        self.pull = Sampler(streams, "kubelet/image-pull", sc.cluster.image_pull_seconds)
        self.startup = Sampler(streams, "app/startup", sc.app.startup_seconds)
        self.teardown = Sampler(streams, "kubelet/teardown", sc.cluster.pod_teardown_seconds)
        self._started: dict[str, float] = {}  # pod uid -> container start
        self._killing: set[str] = set()
        api.watch("pod", self._on_pod)

    def adopt_running(self, pod: Pod, *, started_s: float) -> None:
        """A pod that was already running before the simulation began (its probes tick from ``started_s``)."""
        self._started[pod.uid] = started_s
        pod.scheduled = pod.running = True

    def _on_pod(self, pod: Pod) -> None:
        if pod.gone:
            return
        if pod.deletion_s is not None:
            if pod.uid not in self._killing:
                self._kill(pod)
            return
        if pod.uid not in self._started and not pod.has_ip:
            self._start(pod)
            return
        self._update_ready(pod)

    # -- startup ----------------------------------------------------------------------------------
    def _start(self, pod: Pod) -> None:
        sched = self.api.sched
        now = sched.now()
        admitted = now + self.scheduling()
        sandbox = admitted + self.sandbox()
        started = sandbox + self.pull()
        listen = started + self.startup()
        self._started[pod.uid] = started
        pod.listen_s = listen
        ready_s, probes = readiness_time(
            started_s=started, listen_s=listen, probe=self.workload.readiness_probe
        )
        api = self.api

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

        def container_started() -> None:
            pod.running = True
            if pod.deletion_s is None:
                api.rec.emit("kubelet", "ContainerStarted", f"pod/{pod.name}")

        def listening() -> None:
            if pod.stop_accept_s > sched.now():
                api.rec.emit("app", "Listening", f"pod/{pod.name}")

        def containers_ready() -> None:
            if pod.deletion_s is not None:
                return
            pod.containers_ready = True
            api.rec.emit("kubelet", "ContainersReady", f"pod/{pod.name}", probes=probes)
            self._update_ready(pod, force_patch=True)

        sched.call_at(admitted, bound)
        sched.call_at(sandbox, sandbox_ready)
        sched.call_at(started, container_started)
        sched.call_at(listen, listening)
        sched.call_at(max(ready_s, sandbox), containers_ready)

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
    def _kill(self, pod: Pod) -> None:
        api, sched = self.api, self.api.sched
        self._killing.add(pod.uid)
        now = sched.now()
        plan = kill_plan(
            grace_s=self.workload.termination_grace_period_seconds,
            pre_stop_sleep_s=self.workload.pre_stop_sleep_seconds,
        )
        sigterm, sigkill = now + plan.sigterm_s, now + plan.sigkill_s
        mode = self.app.on_sigterm
        if mode == "exit":
            stop, exit_s, why = sigterm, sigterm, "exited-on-sigterm"
        elif mode == "drain":
            stop = sigterm
            exit_s = min(sigterm + self.app.drain_seconds, sigkill)
            why = "drained" if sigterm + self.app.drain_seconds < sigkill else "SIGKILL"
            pod.closes_idle_at_stop = True
        else:
            stop, exit_s, why = sigkill, sigkill, "SIGKILL"
        pod.stop_accept_s = stop
        pod.exit_s = exit_s
        if pod.listen_s >= stop:
            pod.listen_s = INF  # killed before it ever listened
        ip_gone = exit_s + self.teardown()
        pod.ip_gone_s = ip_gone if pod.has_ip or pod.uid in self._started else now
        started = self._started.get(pod.uid, now)
        unready = min(
            exit_s, unready_after_stop(stop_s=stop, started_s=started, probe=self.workload.readiness_probe)
        )
        name = f"pod/{pod.name}"

        if plan.pre_stop_s > 0:
            api.rec.emit("kubelet", "PreStopStarted", name, sleep_s=self.workload.pre_stop_sleep_seconds)
        sched.call_at(
            sigterm, lambda: api.rec.emit("kubelet", "SIGTERM", name, sigkill_at_s=round(sigkill, 6))
        )
        if mode != "ignore":
            sched.call_at(stop, lambda: api.rec.emit("app", "StoppedAccepting", name))
        if exit_s >= sigkill:
            sched.call_at(sigkill, lambda: api.rec.emit("kubelet", "SIGKILL", name))

        def not_serving() -> None:
            def apply() -> None:
                if pod.serving:
                    pod.serving = False
                    pod.ready = False
                    api.changed("pod", pod)

            api.write_at(sched.now(), apply)

        sched.call_at(max(unready, now), not_serving)

        def exited() -> None:
            api.rec.emit("kubelet", "ContainerExited", name, reason=why)

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

        sched.call_at(exit_s, exited)
        sched.call_at(pod.ip_gone_s, lambda: api.rec.emit("kubelet", "PodIPGone", name, ip=pod.ip))
