"""Shared helpers: scenarios built from plain dicts, and a cluster run step by step."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import rollsafe.control.api
from rollsafe.control.cluster import Cluster
from rollsafe.model.scenario import Scenario
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler

# The suite's CLI tests were written for one run each; the default Monte Carlo (40-200 runs) would make
# them 40 times slower. --runs reads ROLLSAFE_RUNS (README); tests of the default unset it.
os.environ["ROLLSAFE_RUNS"] = "1"

# A mypyc-compiled build (tools/build_compiled.sh; PYTHONPATH=its src) is tested with this same suite. There
# a test cannot reach inside the control plane: compiled code calls its methods directly (a patched class
# attribute is never consulted, a method cannot be reassigned) and an interpreted class cannot subclass a
# compiled one. Tests that do so are marked pure_only and skipped on a compiled build.
COMPILED = not rollsafe.control.api.__file__.endswith(".py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pure_only: patches or subclasses control-plane code; skipped on a mypyc-compiled build"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if COMPILED:
        skip = pytest.mark.skip(reason="reaches inside compiled control-plane code (mypyc build)")
        for item in items:
            if "pure_only" in item.keywords:
                item.add_marker(skip)


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
