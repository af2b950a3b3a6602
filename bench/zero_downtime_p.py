"""P(any failure) of a built-in scenario over many seeds, with a 95 % Wilson interval (issue 6).

A measurement, not a timed test: ``python bench/zero_downtime_p.py [--runs 1000] [--first-seed 1]
[--builtin eks-alb-zero-downtime] [--set key=value ...]``. Prints the failing seeds, their causes and the
longest deregistration lag of each, so a failure can be traced to the mechanism behind it.
"""

from __future__ import annotations

import argparse
import math
import time

import yaml

from rollsafe.model.scenario import Scenario
from rollsafe.runs import run_stats
from rollsafe.scenarios import load_builtin


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--builtin", default="eks-alb-zero-downtime")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    doc = load_builtin(args.builtin).model_dump(by_alias=True)
    for item in args.set:
        key, _, value = item.partition("=")
        *path, last = key.split(".")
        node = doc
        for part in path:
            node = node[part]
        node[last] = yaml.safe_load(value)
    sc = Scenario.model_validate(doc)
    seeds = list(range(args.first_seed, args.first_seed + args.runs))
    start = time.perf_counter()
    results = run_stats(sc, seeds)  # compact per-run stats: seed, failed, causes(), stop_routing_lag_s
    wall = time.perf_counter() - start
    failing = [r for r in results if r.failed]
    for r in failing:
        causes = {k: v for k, v in r.causes().items() if v}
        lag = r.stop_routing_lag_s
        print(f"seed {r.seed}: {r.failed} failed {causes}, longest stop-routing lag {lag or 0:.1f} s")
    k, n = len(failing), len(results)
    lo, hi = wilson(k, n)
    print(
        f"{args.builtin} {' '.join(args.set)}: P(any failure) = {k}/{n} = {k / n:.2%} "
        f"(95 % CI {lo:.2%}-{hi:.2%}); {wall:.0f} s wall"
    )


if __name__ == "__main__":
    main()
