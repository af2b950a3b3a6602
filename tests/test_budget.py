"""The size limit's factors: least_outstanding_requests and the closed model lower both limits, each by its
own factor, and the rough estimate grows as n log n with replicas (the control plane, issue 9)."""

from __future__ import annotations

import math

import pytest

from rollsafe.model.scenario import Scenario
from rollsafe.sim.budget import CLOSED_FACTOR, LOR_FACTOR, MAX_REQUESTS, budget, estimate_seconds


def _scenario(rps: float, **lb: str) -> Scenario:
    # 10 replicas: the request limit binds before the requests x replicas one
    return Scenario.model_validate(
        {"traffic": {"rps": rps, "durationSeconds": 1000}, "loadBalancer": lb, "workload": {"replicas": 10}}
    )


def test_least_outstanding_requests_lowers_the_limits_by_its_factor() -> None:
    edge = MAX_REQUESTS / 1000  # the rps at which round robin reaches the request limit in 1,000 s
    assert not budget(_scenario(edge * 0.99), runs=1).too_big()
    assert budget(_scenario(edge * 1.01), runs=1).too_big()
    lor = {"algorithm": "least_outstanding_requests"}
    assert not budget(_scenario(edge * 0.99 / LOR_FACTOR, **lor), runs=1).too_big()
    assert budget(_scenario(edge * 1.01 / LOR_FACTOR, **lor), runs=1).too_big()


def test_the_closed_model_lowers_the_limits_by_its_own_factor() -> None:
    def closed(clients: int) -> Scenario:
        return Scenario.model_validate(
            {
                "traffic": {"model": "closed", "rps": None, "clients": clients, "durationSeconds": 1000},
                "workload": {"replicas": 10},
            }
        )

    per_client = budget(closed(1), runs=1).requests
    edge = MAX_REQUESTS / CLOSED_FACTOR / per_client
    b = budget(closed(math.ceil(edge * 1.01)), runs=1)
    assert b.closed
    assert b.too_big()
    assert not budget(closed(math.floor(edge * 0.99)), runs=1).too_big()


def test_the_control_plane_estimate_grows_as_n_log_n() -> None:
    def control(replicas: int) -> float:
        sc = Scenario.model_validate(
            {"traffic": {"rps": 0.001, "durationSeconds": 1}, "workload": {"replicas": replicas}}
        )
        return estimate_seconds(budget(sc, runs=1))

    ratio = control(5000) / control(500)
    assert ratio == pytest.approx(10 * math.log(5000) / math.log(500), rel=0.01)
