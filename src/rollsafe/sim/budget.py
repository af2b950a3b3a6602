"""How big a simulation is before it runs: requests, requests × replicas, and a rough wall-clock estimate.

The CLI refuses, up front, a run beyond MAX_WORK or MAX_REQUESTS unless --force is given (a typo such as
rps 10⁷ for an hour would otherwise run for hours), and shows the estimate next to its progress. Pure
arithmetic on the scenario; it never runs anything itself and picks no exit code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollsafe.model.dist import Dist
from rollsafe.model.scenario import Scenario

# requests × replicas over all runs: the data plane's cost grows with both (each request is joined
# against the pods' windows): 10¹¹ is about a minute on one core at 1,000 replicas.
MAX_WORK = 10**11
# requests over all runs, whatever the replicas: 10⁹ is about two minutes on one core.
MAX_REQUESTS = 10**9
# least_outstanding_requests takes a per-request path about 50 times slower: both limits are 50 times lower.
LOR_FACTOR = 50

# Rough costs measured on a 2-core laptop (bench/run.py measures the real ones): seconds per request for
# round robin and weighted random, which grows with the pods a view holds, and the per-request path of
# least outstanding requests, about 50 times slower.
_S_PER_REQUEST = 9e-8
_S_PER_REQUEST_LOR = 4.2e-6
_REPLICAS_SCALE = 300.0
# The control plane grows faster than linearly with replicas: 500 take about a second.
_S_CONTROL = 5e-7
_CONTROL_EXPONENT = 2.3


@dataclass(frozen=True)
class Budget:
    requests: float  # expected requests over all runs
    replicas: int
    runs: int
    traffic_seconds: float  # per run
    bound: bool  # traffic_seconds is the upper bound simulation.maxSeconds, not the known duration

    slow_path: bool = False  # least_outstanding_requests, or closed-loop clients

    @property
    def work(self) -> float:
        return self.requests * self.replicas

    def too_big(self) -> bool:
        factor = LOR_FACTOR if self.slow_path else 1
        return self.work * factor > MAX_WORK or self.requests * factor > MAX_REQUESTS


def budget(scenario: Scenario, runs: int, traffic_seconds: float | None = None) -> Budget:
    """The size of ``runs`` runs. ``traffic_seconds``: the simulated traffic of a run when known (a
    control-plane run tells it); else traffic.durationSeconds, else its bound, simulation.maxSeconds."""
    fixed = scenario.traffic.duration_seconds
    seconds = traffic_seconds if traffic_seconds is not None else fixed
    bound = seconds is None
    if seconds is None:
        seconds = scenario.simulation.max_seconds
    tr = scenario.traffic
    if tr.model == "open":
        assert tr.rps is not None  # the open model has a rate (Scenario validates it)
        rate = tr.rps
    else:
        # closed model: each client sends again when its last request ended, so about clients / (typical
        # service + think) per second; like least outstanding requests it takes a slower exact path
        rate = tr.clients / max(_typical(scenario.app.request_seconds) + _typical(tr.think_seconds), 1e-3)
    requests = rate * seconds * runs
    slow = scenario.load_balancer.algorithm == "least_outstanding_requests" or tr.model == "closed"
    return Budget(requests, scenario.workload.replicas, runs, seconds, bound, slow)


def _typical(d: Dist) -> float:
    """A distribution's middle: the median of a lognormal, else its mean (a constant's value)."""
    return (d.a + d.b) / 2 if d.kind == "uniform" else d.a


def estimate_seconds(b: Budget) -> float:
    """A rough wall-clock estimate for one core."""
    per_request = (_S_PER_REQUEST_LOR if b.slow_path else _S_PER_REQUEST) * (1 + b.replicas / _REPLICAS_SCALE)
    control: float = _S_CONTROL * math.pow(b.replicas, _CONTROL_EXPONENT) * b.runs
    return b.requests * per_request + control


def human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
