"""What each finding costs in requests: the simulator run on the workload as the manifests say, and again
with that one finding fixed (its ``fix_set`` overrides), with the same seed and rps.

The one lint module that runs the simulator; the rules themselves never do. Deterministic: a fixed seed,
and results gathered in the workloads' and findings' order whatever the process pool does.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from rollsafe.lint.pipeline import LintReport
from rollsafe.manifests.build import build
from rollsafe.model.scenario import Scenario
from rollsafe.sim.simulate import simulate


def _failed(args: tuple[Scenario, int]) -> tuple[int, int]:
    result = simulate(args[0], args[1])
    return result.failed, int(result.traffic.total)


def measure(
    report: LintReport,
    *,
    rps: float,
    seed: int,
    overrides: list[str] = (),  # type: ignore[assignment]
    workers: int | None = None,
) -> dict[int, dict[str, Any]]:
    """Per workload index: the as-is run; and each finding's ``cost`` filled in place."""
    jobs: list[tuple[Scenario, int]] = []
    plan: list[tuple[int, int | None]] = []  # (workload index, finding index or None for the as-is run)
    fixed_builds: dict[tuple[int, int], str] = {}
    out: dict[int, dict[str, Any]] = {}
    for i, w in enumerate(report.workloads):
        base = build(w.facts, rps=rps, overrides=list(overrides))
        if base.scenario is None:
            out[i] = {"error": base.error, "rps": rps, "seed": seed}
            continue
        jobs.append((base.scenario, seed))
        plan.append((i, None))
        for j, f in enumerate(w.findings):
            if not f.fix_set:
                continue
            fixed = build(w.facts, rps=rps, overrides=[*overrides, *f.fix_set])
            if fixed.scenario is None:
                fixed_builds[(i, j)] = fixed.error or "the fixed workload cannot be simulated"
                continue
            jobs.append((fixed.scenario, seed))
            plan.append((i, j))
    n = workers if workers is not None else min(len(jobs), os.cpu_count() or 1)
    if n > 1 and len(jobs) > 2:
        with ProcessPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(_failed, jobs))
    else:
        results = [_failed(job) for job in jobs]
    as_is: dict[int, tuple[int, int]] = {}
    for (i, k), (failed, total) in zip(plan, results, strict=True):
        if k is None:
            as_is[i] = (failed, total)
            out[i] = {"failed": failed, "total": total, "rps": rps, "seed": seed}
    for (i, k), (failed, _total) in zip(plan, results, strict=True):
        if k is None:
            continue
        before = as_is[i][0]
        w = report.workloads[i]
        w.findings[k] = w.findings[k].with_(
            cost={
                "requests": before - failed,
                "failed_as_is": before,
                "failed_fixed": failed,
                "fixed_with": [f"--set {s}" for s in w.findings[k].fix_set],
                "rps": rps,
                "seed": seed,
            }
        )
    for i, w in enumerate(report.workloads):
        for j, f in enumerate(w.findings):
            if f.cost is not None:
                continue
            if i in out and "error" in out[i]:
                note = f"not simulated: {out[i]['error']}"
            elif (i, j) in fixed_builds:
                note = f"not simulated: {fixed_builds[(i, j)]}"
            else:
                note = "not simulated: the simulator does not model what this rule is about"
            w.findings[j] = f.with_(cost={"requests": None, "note": note, "rps": rps, "seed": seed})
    return out
