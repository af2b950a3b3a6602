"""The vectorized data plane against the per-request reference (rollsafe.sim.reference).

Both evaluators run on the same control plane with the same seeded streams, so they must agree exactly:
the same outcome per request, hence the same counts per code and per second. Each scenario is chosen to
make some causes happen, and the test checks that they did, so a comparison of two all-success runs
cannot pass for agreement.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest

from rollsafe.model.causes import CODE
from rollsafe.model.scenario import Scenario
from rollsafe.sim.dataplane import Evaluator, Traffic
from rollsafe.sim.reference import ReferenceEvaluator, simulate_reference
from rollsafe.sim.simulate import run_control_plane, simulate

SEEDS = (1, 2)

# name -> (scenario-file spelling, causes that must occur in it with seed 1)
CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "defaults": (
        {"traffic": {"rps": 200}},
        ("stopped-listening", "in-flight-killed", "no-healthy-targets", "target-unreachable"),
    ),
    "weighted-random": (
        {"traffic": {"rps": 200}, "loadBalancer": {"algorithm": "weighted_random"}},
        ("stopped-listening", "no-healthy-targets"),
    ),
    # at rps 3 a pooled connection often idles past a 5 s keep-alive; with the default 5 ms race window
    # a race is rare in a short run, so one case keeps it and one widens it so races surely happen
    "drain-keepalive": (
        {"traffic": {"rps": 3}, "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 5}},
        ("stopped-listening",),
    ),
    "drain-keepalive-wide-window": (
        {
            "traffic": {"rps": 3, "durationSeconds": 300},
            "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 5, "keepAliveRaceWindowSeconds": 1},
        },
        ("keepalive-race",),
    ),
    "instance-targets": (
        {"traffic": {"rps": 200}, "loadBalancer": {"targetType": "instance"}},
        ("not-yet-listening", "stopped-listening"),
    ),
    # every pod gone at once: kube-proxy has no endpoint and refuses connections
    "instance-recreate": (
        {
            "traffic": {"rps": 200},
            "loadBalancer": {"targetType": "instance"},
            "workload": {"strategy": {"type": "Recreate"}},
        },
        ("stopped-listening",),
    ),
    # pinned pooled connections keep feeding a pod kube-proxy dropped until it stops: the preStop sleep no
    # longer protects it, so requests in flight at SIGTERM die
    "instance-pinned-prestop": (
        {
            "traffic": {"rps": 300},
            "loadBalancer": {"targetType": "instance"},
            "workload": {"preStopSleepSeconds": 10, "terminationGracePeriodSeconds": 40},
        },
        ("in-flight-killed",),
    ),
    # a draining server closes pinned connections (and its keep-alive timer closes idle ones): races
    "instance-drain-keepalive": (
        {
            "traffic": {"rps": 4, "durationSeconds": 300},
            "loadBalancer": {"targetType": "instance", "connectionsPerInstance": 1},
            "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 2, "keepAliveRaceWindowSeconds": 0.5},
        },
        ("keepalive-race",),
    ),
    # the LB idle timeout closes first (no race); vanished IPs reset; one connection per node pair
    "instance-lb-closes-first-reset": (
        {
            "traffic": {"rps": 3, "durationSeconds": 200},
            "loadBalancer": {"targetType": "instance", "idleTimeoutSeconds": 1, "connectionsPerInstance": 2},
            "cluster": {"vanishedPodIp": "reset", "podTeardownSeconds": 0},
            "workload": {"preStopSleepSeconds": 3},
        },
        (),
    ),
    # the ALB's algorithm picks the worker node (an even spread, docs/model.md); kube-proxy picks the pod
    "instance-weighted-random": (
        {"traffic": {"rps": 200}, "loadBalancer": {"targetType": "instance", "algorithm": "weighted_random"}},
        ("stopped-listening",),
    ),
    "instance-least-outstanding": (
        {
            "traffic": {"rps": 200},
            "loadBalancer": {"targetType": "instance", "algorithm": "least_outstanding_requests"},
        },
        ("stopped-listening",),
    ),
    # closed-loop clients: a few client counts, think times, connect timeouts holding clients
    "closed-5": (
        {"traffic": {"model": "closed", "clients": 5}, "workload": {"strategy": {"maxUnavailable": 0}}},
        ("stopped-listening", "target-unreachable"),
    ),
    "closed-40-think-timeout": (
        {
            "traffic": {
                "model": "closed",
                "clients": 40,
                "thinkSeconds": {"exponential": {"mean": 0.2}},
                "clientTimeoutSeconds": 3,
            },
            "loadBalancer": {"algorithm": "weighted_random"},
        },
        ("stopped-listening", "no-healthy-targets", "target-unreachable"),
    ),
    "closed-lor-drain": (
        {
            "traffic": {"model": "closed", "clients": 12, "thinkSeconds": {"uniform": [0, 0.1]}},
            "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 1, "keepAliveRaceWindowSeconds": 0.2},
            "loadBalancer": {"algorithm": "least_outstanding_requests"},
        },
        ("keepalive-race",),
    ),
    "closed-instance": (
        {
            "traffic": {"model": "closed", "clients": 20},
            "loadBalancer": {"targetType": "instance"},
            "workload": {"preStopSleepSeconds": 5},
        },
        ("in-flight-killed",),
    ),
    "least-outstanding": (
        {"traffic": {"rps": 200}, "loadBalancer": {"algorithm": "least_outstanding_requests"}},
        ("stopped-listening", "no-healthy-targets"),
    ),
    # slow requests, a short idle timeout and deregistration delay: the failures of accepted requests
    # a long steady tail: most requests fall in calm time, where only the idle timeout can fail them
    "calm-long-tail": (
        {
            "traffic": {"rps": 200, "durationSeconds": 300},
            "app": {"requestSeconds": {"lognormal": {"median": 0.5, "p99": 8}}},
            "loadBalancer": {"idleTimeoutSeconds": 4},
        },
        ("response-timeout",),
    ),
    "slow-requests": (
        {
            "traffic": {"rps": 1000},
            "app": {"onSigterm": "drain", "requestSeconds": {"lognormal": {"median": 0.5, "p99": 8}}},
            "loadBalancer": {"idleTimeoutSeconds": 4, "deregistrationDelaySeconds": 2},
        },
        ("drain-timeout", "response-timeout"),
    ),
    "slow-requests-lor-reset": (
        {
            "traffic": {"rps": 1000},
            "app": {"onSigterm": "drain", "requestSeconds": {"lognormal": {"median": 0.5, "p99": 8}}},
            "loadBalancer": {
                "idleTimeoutSeconds": 4,
                "deregistrationDelaySeconds": 2,
                "algorithm": "least_outstanding_requests",
            },
            "cluster": {"vanishedPodIp": "reset"},
        },
        ("drain-timeout", "response-timeout"),
    ),
}


@cache
def _both(name: str, seed: int) -> tuple[Traffic, Traffic]:
    sc = Scenario.model_validate(CASES[name][0])
    cp = run_control_plane(sc, seed)
    common: dict[str, Any] = {"duration_s": cp.duration_s, "keep_requests": True}
    vectorized = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), **common).run()
    reference = ReferenceEvaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), **common).run()
    return vectorized, reference


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_matches_vectorized(name: str, seed: int) -> None:
    vec, ref = _both(name, seed)
    assert ref.total == vec.total > 0
    np.testing.assert_array_equal(ref.by_code, vec.by_code)
    np.testing.assert_array_equal(ref.per_second, vec.per_second)
    assert ref.requests is not None
    assert vec.requests is not None
    assert ref.client_timeouts == vec.client_timeouts
    keys = ("t", "d", "view", "target", "code") + (("client",) if "client" in vec.requests else ())
    for key in keys:
        np.testing.assert_array_equal(ref.requests[key], vec.requests[key], err_msg=key)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_counting_path_matches_the_reference(name: str, seed: int) -> None:
    """Without per-request arrays the evaluator takes its calm-time shortcut; counts must not change."""
    sc = Scenario.model_validate(CASES[name][0])
    cp = run_control_plane(sc, seed)
    fast = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s).run()
    _, ref = _both(name, seed)
    assert fast.total == ref.total
    np.testing.assert_array_equal(fast.by_code, ref.by_code)
    np.testing.assert_array_equal(fast.per_second, ref.per_second)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cases_exercise_their_causes(name: str) -> None:
    vec, _ = _both(name, SEEDS[0])
    failed = int(vec.total - vec.by_code[0])
    assert failed > 0
    for cause in CASES[name][1]:
        assert vec.by_code[CODE[cause]] > 0, cause


def test_cases_cover_every_outcome() -> None:
    seen = np.zeros_like(_both("defaults", SEEDS[0])[0].by_code)
    for name in CASES:
        seen += _both(name, SEEDS[0])[0].by_code
    assert (seen > 0).all(), seen


def test_control_plane_mirror_matches_simulate() -> None:
    """run_control_plane() is simulate()'s control plane: the vectorized evaluator on it gives
    simulate()'s counts."""
    for name in ("defaults", "instance-targets"):
        sc = Scenario.model_validate(CASES[name][0])
        result = simulate(sc, SEEDS[0])
        vec, _ = _both(name, SEEDS[0])
        assert result.traffic.total == vec.total
        np.testing.assert_array_equal(result.traffic.by_code, vec.by_code)
        cp = run_control_plane(sc, SEEDS[0])
        assert (cp.duration_s, cp.events) == (result.duration_s, result.control_events)


@pytest.mark.parametrize("name", ["defaults", "weighted-random", "least-outstanding"])
def test_max_requests_evaluates_a_prefix(name: str) -> None:
    vec, _ = _both(name, SEEDS[0])
    assert vec.requests is not None
    n = vec.total // 3
    prefix = simulate_reference(Scenario.model_validate(CASES[name][0]), SEEDS[0], max_requests=n)
    assert prefix.truncated
    assert prefix.traffic.total == n
    expected = np.bincount(vec.requests["code"][:n].astype(np.int64), minlength=len(vec.by_code))
    np.testing.assert_array_equal(prefix.traffic.by_code, expected)


def test_max_requests_beyond_the_traffic_is_the_whole_run() -> None:
    vec, _ = _both("defaults", SEEDS[0])
    whole = simulate_reference(
        Scenario.model_validate(CASES["defaults"][0]), SEEDS[0], max_requests=vec.total
    )
    assert not whole.truncated
    np.testing.assert_array_equal(whole.traffic.by_code, vec.by_code)


def test_no_routing_views_reject_everything() -> None:
    sc = Scenario.model_validate(CASES["defaults"][0])
    cp = run_control_plane(sc, SEEDS[0])
    vec = Evaluator(sc, [], cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s).run()
    ref = ReferenceEvaluator(sc, [], cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s).run()
    assert ref.total == vec.total == vec.by_code[CODE["no-healthy-targets"]] > 0
    np.testing.assert_array_equal(ref.by_code, vec.by_code)
