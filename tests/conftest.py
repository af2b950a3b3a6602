"""Shared helpers: scenarios built from plain dicts, and a cluster run step by step."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rollsafe.control.cluster import Cluster
from rollsafe.model.scenario import Scenario
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler

# The suite's CLI tests were written for one run each; the default Monte Carlo (40-200 runs) would make
# them 40 times slower. --runs reads ROLLSAFE_RUNS (README); tests of the default unset it.
os.environ["ROLLSAFE_RUNS"] = "1"


def scenario(**sections: Any) -> Scenario:
    """``scenario(workload={"replicas": 3})``: a Scenario from scenario-file spellings."""
    return Scenario.model_validate(sections)


def run_cluster(
    sc: Scenario,
    seed: int = 1,
    *,
    until: float = 600.0,
    check: Callable[[Cluster], None] | None = None,
    sched: VirtualScheduler | None = None,
) -> Cluster:
    """Runs the control plane alone until it settles (or ``until``), calling ``check`` after every event;
    on a FIFO VirtualScheduler unless ``sched`` is given (a TieShufflingScheduler, say)."""
    if sched is None:
        sched = VirtualScheduler()
    cluster = Cluster(sched, SeededStreams(seed), sc)
    if check is not None:
        sched.after_each = lambda: check(cluster)
    sched.call_at(0.0, cluster.start_rollout)
    t = 0.0
    while t < until and not cluster.settled():
        t += 1.0
        sched.run(until=t)
    return cluster
