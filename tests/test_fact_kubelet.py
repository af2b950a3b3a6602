"""Fact table: kubelet kill math and readiness-probe timing (kubernetes-rollout-mechanics.md §3.3, §4.3).

The probe timings are measured on the kubelet itself, probing the simulated app event by event."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.control.api import ApiServer, Pod, Recorder
from rollsafe.control.app import SimulatedApp
from rollsafe.control.kubelet import Kubelet, kill_plan
from rollsafe.model.timeline import TimelineEvent
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import TieShufflingScheduler, VirtualScheduler
from tests.conftest import scenario


@pytest.mark.parametrize(
    ("grace", "pre_stop", "sigterm", "sigkill"),
    [
        (30, 0, 0, 30),  # no hook: SIGTERM at once, SIGKILL after the grace period
        (30, 10, 10, 30),  # preStop time counts against the grace period
        (30, 40, 30, 32),  # preStop 40 s with grace 30 s is cut at 30 s; SIGKILL follows by 2 s
        (30, 29, 29, 31),  # only 1 s left: the 2 s minimum applies
        (30, 10.7, 10.7, 30.7),  # elapsed preStop counts in whole seconds (truncated)
        (0, 0, 0, 2),  # grace 0 still gets the 2 s minimum window
        (0, 5, 0, 2),  # no preStop when the grace period is 0
        (45, 20, 20, 45),
    ],
)
def test_kill_plan(grace: float, pre_stop: float, sigterm: float, sigkill: float) -> None:
    plan = kill_plan(grace_s=grace, pre_stop_sleep_s=pre_stop)
    assert plan.sigterm_s == pytest.approx(sigterm)
    assert plan.sigkill_s == pytest.approx(sigkill)


CLUSTER = {
    "apiLatencySeconds": 0.05,
    "watchLatencySeconds": 0.1,
    "schedulingSeconds": 0.2,
    "sandboxSeconds": 1,
    "imagePullSeconds": 2,
    "podTeardownSeconds": 1,
}


class _OnePod:
    """The kubelet and the simulated app alone, on one pod, with constant timings."""

    def __init__(
        self,
        probe: dict[str, float] | None,
        *,
        startup_s: float,
        drain_s: float = 60,
        reverse_ties: bool = False,
        **workload: Any,
    ) -> None:
        self.sc = scenario(
            workload={"replicas": 1, "readinessProbe": probe, **workload},
            app={"startupSeconds": startup_s, "onSigterm": "drain", "drainSeconds": drain_s},
            cluster=CLUSTER,
        )
        # reversed ties: the app's exit runs before the kubelet's SIGKILL deadline when both fall due at once
        self.sched = TieShufflingScheduler(None) if reverse_ties else VirtualScheduler()
        streams = SeededStreams(1)
        self.api = ApiServer(self.sched, streams, self.sc, Recorder(self.sched))
        self.kubelet = Kubelet(self.api, streams, SimulatedApp(self.api, streams))
        self.pod = Pod(index=0, name="p", uid="u", rs="rs", ip="10.0.0.1", node=0, created_s=0.0, gated=False)
        self.api.pods.append(self.pod)
        self.unserving_s: float | None = None
        self.sched.after_each = self._watch_serving

    def _watch_serving(self) -> None:
        if self.pod.deletion_s is not None and not self.pod.serving and self.unserving_s is None:
            self.unserving_s = self.sched.now()

    def event(self, kind: str) -> TimelineEvent:
        return next(e for e in self.api.rec.events if e.kind == kind)


@pytest.mark.parametrize(
    ("listen_after", "probe", "ready_after", "probes"),
    [
        # no probe: Ready as soon as the container runs, listening or not
        (1.0, None, 0.0, 0),
        # defaults (period 10): the first probe at start fails, the next one 10 s later succeeds
        (1.0, {}, 10.0, 2),
        # already listening at start: the immediate probe succeeds
        (0.0, {}, 0.0, 1),
        # period 2: ready at the first tick after listening
        (1.0, {"periodSeconds": 2}, 2.0, 2),
        (4.5, {"periodSeconds": 2}, 6.0, 4),
        # initialDelaySeconds skips the probes before it
        (0.0, {"initialDelaySeconds": 5, "periodSeconds": 2}, 6.0, 1),
        # successThreshold 3: three consecutive successes
        (1.0, {"periodSeconds": 2, "successThreshold": 3}, 6.0, 4),
    ],
)
def test_readiness_probe_timing(
    listen_after: float, probe: dict[str, float] | None, ready_after: float, probes: int
) -> None:
    one = _OnePod(probe, startup_s=listen_after)
    one.api.changed("pod", one.pod)
    one.sched.run(until=60.0)
    started = one.event("ContainerStarted").t_s
    assert started == pytest.approx(0.1 + 0.2 + 1 + 2)  # watch + scheduling + sandbox + image pull
    ready = one.event("ContainersReady")
    assert ready.t_s - started == pytest.approx(ready_after)
    assert ready.attrs["probes"] == probes
    assert one.pod.ready
    assert one.event("PodReady").t_s == pytest.approx(ready.t_s + 0.05)  # the status PATCH


@pytest.mark.parametrize(
    ("probe", "unready_after_stop"),
    [
        # probes at start + 0, 10, 20, ...: the app stops at start + 25 (deleted at start + 24.9 s, heard
        # 0.1 s later, no preStop); failures at 30, 40, 50 -> unready decided at start + 50
        ({}, 25.0),
        # period 2, failureThreshold 1: the first probe after the stop, at start + 26
        ({"periodSeconds": 2, "failureThreshold": 1}, 1.0),
        # no probe: Ready only drops when the container exits (drain 60 s, grace 30 s: SIGKILL at +30)
        (None, 30.0),
    ],
)
def test_readiness_drops_after_failure_threshold_probes(
    probe: dict[str, float] | None, unready_after_stop: float
) -> None:
    one = _OnePod(probe, startup_s=0.0, terminationGracePeriodSeconds=30)
    one.api.changed("pod", one.pod)
    one.sched.run(until=3.3 + 24.9)
    assert one.pod.ready
    one.pod.deletion_s = one.sched.now()
    one.api.changed("pod", one.pod)
    one.sched.run(until=200.0)
    stop_s = one.event("StoppedAccepting").t_s
    assert stop_s == pytest.approx(3.3 + 25.0)
    assert one.unserving_s is not None
    # the decision, then the status PATCH's API latency
    assert one.unserving_s - 0.05 - stop_s == pytest.approx(unready_after_stop)


class _RefusesUntil(SimulatedApp):
    """An app that answers nothing before ``until_s``, whatever its windows say."""

    def __init__(self, api: ApiServer, until_s: float) -> None:
        super().__init__(api, SeededStreams(1))
        self.until_s = until_s
        self.asked: list[float] = []

    def accepts(self, pod: Pod, t: float) -> bool:
        self.asked.append(t)
        return t >= self.until_s and super().accepts(pod, t)


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
def test_the_kubelet_probes_through_the_app_interface() -> None:
    one = _OnePod({"periodSeconds": 2}, startup_s=0.0)
    app = _RefusesUntil(one.api, until_s=3.3 + 7.0)
    one.kubelet.app = app
    one.api.changed("pod", one.pod)
    one.sched.run(until=60.0)
    # probes at start + 0, 2, 4, 6 are refused; the one at start + 8 succeeds
    assert one.event("ContainersReady").t_s == pytest.approx(3.3 + 8.0)
    assert one.event("ContainersReady").attrs["probes"] == 5
    assert app.asked[:5] == pytest.approx([3.3 + 2 * k for k in range(5)])


@pytest.mark.parametrize("reverse_ties", [False, True])
@pytest.mark.parametrize(
    ("drain_s", "exited_after", "reason", "sigkill"),
    [
        (10.0, 10.0, "drained", False),  # done draining within the grace period: no SIGKILL
        (60.0, 30.0, "SIGKILL", True),  # still draining when the grace period ends
    ],
)
def test_sigkill_only_when_the_app_outlives_the_grace_period(
    drain_s: float, exited_after: float, reason: str, sigkill: bool, reverse_ties: bool
) -> None:
    one = _OnePod(
        None, startup_s=0.0, drain_s=drain_s, reverse_ties=reverse_ties, terminationGracePeriodSeconds=30
    )
    one.api.changed("pod", one.pod)
    one.sched.run(until=10.0)
    one.pod.deletion_s = one.sched.now()
    one.api.changed("pod", one.pod)
    one.sched.run(until=200.0)
    sigterm = one.event("SIGTERM").t_s
    exited = one.event("ContainerExited")
    assert exited.t_s - sigterm == pytest.approx(exited_after)
    assert exited.attrs["reason"] == reason
    kills = [e.t_s - sigterm for e in one.api.rec.events if e.kind == "SIGKILL"]
    assert kills == ([pytest.approx(30.0)] if sigkill else [])
    assert one.event("PodIPGone").t_s == pytest.approx(exited.t_s + 1.0)  # podTeardownSeconds
    assert one.pod.gone
