"""How many runs a default Monte Carlo makes, and which run is reported in full.

The rule (README, "How many runs"), deterministic from the scenario and the seeds, never from wall time:

1. A run's cost is estimated from the scenario's size (sim/budget.py: requests x replicas, and the control
   plane's growth with replicas, plus a fixed cost per run). The cap is RUN_BUDGET_S of estimated work
   divided by that cost, between MIN_RUNS and MAX_RUNS (200 for any small scenario).
2. Runs go in stages of STAGE seeds (seed, seed+1, ...). After each stage, the Monte Carlo stops when the
   95 % Wilson interval of P(any failure) is at most TARGET_WIDTH wide (the answer is clear: a
   scenario that fails in every run needs no 200 runs to say so), or when the cap is reached.

Same seed, same runs, same answer, byte for byte. It must not print, render or pick exit codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rollsafe.model.scenario import Scenario
from rollsafe.runs.executor import Executor, Progress, run_stats
from rollsafe.runs.stats import RunStats
from rollsafe.sim.budget import budget, estimate_seconds

MAX_RUNS = 200
MIN_RUNS = 10
STAGE = 40
TARGET_WIDTH = 0.10  # of the 95 % interval: +-5 points
RUN_BUDGET_S = 6.0  # estimated single-core seconds of work the default may plan
FIXED_RUN_S = 0.02  # a small run's fixed cost (the control plane's set-up and events)
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (two-sided, 95 % by default). Chosen over the
    normal approximation because it stays inside [0, 1] and is honest at 0 and n failures."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return (lo, hi)


def cap_for(scenario: Scenario, traffic_seconds: float | None = None) -> int:
    """The most runs the default plans for this scenario (rule step 1)."""
    per_run = estimate_seconds(budget(scenario, 1, traffic_seconds)) + FIXED_RUN_S
    return max(MIN_RUNS, min(MAX_RUNS, int(RUN_BUDGET_S / per_run)))


@dataclass(frozen=True)
class MonteCarlo:
    stats: list[RunStats]
    rule: str  # how the number of runs was chosen, in words


def default_runs(
    scenario: Scenario, seed: int, *, executor: Executor | None = None, progress: Progress | None = None
) -> MonteCarlo:
    cap = cap_for(scenario)
    stats: list[RunStats] = []
    sized = False
    while len(stats) < cap:
        n = min(STAGE, cap - len(stats))
        start = seed + len(stats)
        stats += run_stats(scenario, range(start, start + n), executor=executor, progress=progress)
        if not sized and scenario.traffic.duration_seconds is None:
            # the runs now tell the traffic's real length; the first cap used its bound (maxSeconds)
            sized = True
            longest = max(s.duration_s for s in stats)
            cap = max(cap, cap_for(scenario, longest))
        k = sum(1 for s in stats if s.failed)
        lo, hi = wilson(k, len(stats))
        if hi - lo <= TARGET_WIDTH:
            return MonteCarlo(stats, f"stopped once the 95 % interval was {100 * (hi - lo):.0f} points wide")
    return MonteCarlo(stats, "the most this scenario's size allows by default")


def reported_seed(stats: Sequence[RunStats]) -> int:
    """The run shown in full: a typical failing run (the failing run whose failed count is nearest the
    median of the failing runs; the lowest seed on a tie), or the first run when none failed."""
    failing = [s for s in stats if s.failed]
    if not failing:
        return stats[0].seed
    counts = sorted(s.failed for s in failing)
    median = counts[(len(counts) - 1) // 2]
    return min(failing, key=lambda s: (abs(s.failed - median), s.seed)).seed
