"""Fact table: kubelet kill math and readiness-probe timing (kubernetes-rollout-mechanics.md §3.3, §4.3)."""

from __future__ import annotations

import pytest

from rollsafe.control.kubelet import kill_plan, readiness_time, unready_after_stop
from rollsafe.model.scenario import ReadinessProbe


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


def _probe(**kw: float) -> ReadinessProbe:
    return ReadinessProbe.model_validate(dict(kw))


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
def test_readiness_time(
    listen_after: float, probe: dict[str, float] | None, ready_after: float, probes: int
) -> None:
    p = _probe(**probe) if probe is not None else None
    ready, n = readiness_time(started_s=100.0, listen_s=100.0 + listen_after, probe=p)
    assert ready == pytest.approx(100.0 + ready_after)
    assert n == probes


def test_readiness_drops_after_failure_threshold_probes() -> None:
    # probes at 0, 10, 20, ...: the app stops at 25; failures at 30, 40, 50 -> unready at 50
    assert unready_after_stop(stop_s=25.0, started_s=0.0, probe=_probe()) == pytest.approx(50.0)
    assert unready_after_stop(stop_s=25.0, started_s=0.0, probe=None) == float("inf")
