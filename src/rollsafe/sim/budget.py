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
# least_outstanding_requests takes an exact per-request loop (sim/lor.py): compiled by numba (an optional
# extra) about 2 times round robin's cost per request, in Python about 13 times at 10 replicas and 40 times
# at 1,000 (measured on 2 shared cores). The limits assume the Python loop, so stay safe without numba:
# both are 40 times lower.
LOR_FACTOR = 40
# Closed-model clients take a slower, batched path still (each batch waits on the last): 50 times lower.
CLOSED_FACTOR = 50

# Rough costs measured on a 2-core machine (bench/run.py measures the real ones): seconds per request for
# round robin and weighted random, which grows with the pods a view holds; least outstanding requests'
# Python loop (about 1.8 us a request at 10 replicas, 2.5 us at 1,000: the estimate scales it as round
# robin's, which overstates it there); and the closed model.
_S_PER_REQUEST = 9e-8
_S_PER_REQUEST_LOR = 2.5e-6
_S_PER_REQUEST_CLOSED = 4.2e-6
_REPLICAS_SCALE = 300.0
# The control plane grows as n log n with replicas: 500 take about 0.4 s, 5,000 about 3.3 s.
_S_CONTROL = 1.5e-4


@dataclass(frozen=True)
class Budget:
    requests: float  # expected requests over all runs
    replicas: int
    runs: int
    traffic_seconds: float  # per run
    bound: bool  # traffic_seconds is the upper bound simulation.maxSeconds, not the known duration

    slow_path: bool = False  # least_outstanding_requests, or closed-loop clients
    closed: bool = False  # closed-loop clients (the slower of the two)

    @property
    def work(self) -> float:
        return self.requests * self.replicas

    def too_big(self) -> bool:
        factor = CLOSED_FACTOR if self.closed else LOR_FACTOR if self.slow_path else 1
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
    return Budget(requests, scenario.workload.replicas, runs, seconds, bound, slow, tr.model == "closed")


def _typical(d: Dist) -> float:
    """A distribution's middle: the median of a lognormal, else its mean (a constant's value)."""
    return (d.a + d.b) / 2 if d.kind == "uniform" else d.a


def estimate_seconds(b: Budget) -> float:
    """A rough wall-clock estimate for one core."""
    base = _S_PER_REQUEST_CLOSED if b.closed else _S_PER_REQUEST_LOR if b.slow_path else _S_PER_REQUEST
    per_request = base * (1 + b.replicas / _REPLICAS_SCALE)
    control: float = _S_CONTROL * b.replicas * math.log(max(b.replicas, 2)) * b.runs
    return b.requests * per_request + control


def human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
