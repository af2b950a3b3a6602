"""Each cause in causes.md is produced by a scenario, and applying its usual fix removes it."""

from __future__ import annotations

import pytest

from rollsafe.model.causes import CAUSE_IDS
from rollsafe.scenarios import builtin_text, load_text
from rollsafe.sim.simulate import simulate

SLOW_DRAIN = {
    "app.requestSeconds": "20",
    "loadBalancer.deregistrationDelaySeconds": "5",
    "workload.terminationGracePeriodSeconds": "90",
    "app.drainSeconds": "60",
}
HUNG = {
    "app.requestSeconds": "{uniform: [50, 70]}",
    "traffic.rps": "20",
    "app.drainSeconds": "80",
    "workload.terminationGracePeriodSeconds": "120",
}

# cause, builtin, settings that produce it, settings of its usual fix
CASES = [
    ("not-yet-listening", "eks-instance-mode", {}, {"workload.readinessProbe": "{periodSeconds: 2}"}),
    ("stopped-listening", "eks-alb-defaults", {}, {"workload.preStopSleepSeconds": "20"}),
    ("in-flight-killed", "eks-alb-defaults", {}, {"app.onSigterm": "drain"}),
    ("drain-timeout", "eks-alb-zero-downtime", SLOW_DRAIN, {"loadBalancer.deregistrationDelaySeconds": "60"}),
    ("keepalive-race", "eks-alb-keepalive-mismatch", {}, {"app.keepAliveTimeoutSeconds": "75"}),
    ("no-healthy-targets", "eks-alb-defaults", {}, {"workload.readinessGate": "true"}),
    ("target-unreachable", "eks-alb-defaults", {}, {"workload.preStopSleepSeconds": "20"}),
    ("response-timeout", "eks-alb-zero-downtime", HUNG, {"loadBalancer.idleTimeoutSeconds": "120"}),
]


def _causes(builtin: str, settings: dict[str, str], seed: int) -> dict[str, int]:
    sc = load_text(builtin_text(builtin), source=builtin, overrides=[f"{k}={v}" for k, v in settings.items()])
    return simulate(sc, seed).causes()


def test_every_cause_has_a_case() -> None:
    assert sorted(c for c, *_ in CASES) == sorted(CAUSE_IDS)


@pytest.mark.parametrize(("cause", "builtin", "produce", "fix"), CASES, ids=[c[0] for c in CASES])
def test_cause_appears_and_its_fix_removes_it(
    cause: str, builtin: str, produce: dict[str, str], fix: dict[str, str]
) -> None:
    for seed in (1, 2):
        assert _causes(builtin, produce, seed)[cause] > 0, f"{cause} expected with seed {seed}"
        assert _causes(builtin, {**produce, **fix}, seed)[cause] == 0, f"{cause} should be fixed by {fix}"


def test_draining_app_turns_vanished_ip_timeouts_into_resets() -> None:
    # drain keeps the process (and its IP) alive until the grace period ends: requests the ALB still sends
    # meet a closed listener (502) instead of a vanished IP (504)
    exit_causes = _causes("eks-alb-defaults", {}, 1)
    drain_causes = _causes("eks-alb-defaults", {"app.onSigterm": "drain"}, 1)
    assert exit_causes["target-unreachable"] > 0
    assert drain_causes["target-unreachable"] == 0
    assert drain_causes["stopped-listening"] > exit_causes["stopped-listening"]


def test_vanished_ip_behaviour_is_a_parameter() -> None:
    reset = _causes("eks-alb-defaults", {"cluster.vanishedPodIp": "reset"}, 1)
    assert reset["target-unreachable"] == 0
    assert reset["stopped-listening"] > 0
