"""``simulate --sensitivity``: the scenario rerun with each assumed setting (model/assumptions.py, not one
the user set) at the low and the high end of its range, on the same seeds as the answer (common random
numbers: the difference is the setting's, not the seeds'). Returns plain rows; rendering is the report's.

It must not print or pick exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from rollsafe.model.assumptions import BY_KEY, is_assumed, with_value
from rollsafe.model.scenario import Scenario
from rollsafe.runs.executor import Executor, Progress, run_stats
from rollsafe.runs.stats import RunStats

SENSITIVITY_RUNS = 20  # runs per variant: enough to rank the assumptions, cheap enough for 30+ variants


def _measure(stats: Sequence[RunStats]) -> dict[str, Any]:
    failed = np.array([s.failed for s in stats], dtype=np.float64)
    by_status: dict[str, float] = {}
    for s in stats:
        for status, n in s.status_counts().items():
            if status != "200":
                by_status[status] = by_status.get(status, 0) + n
    all_failed = sum(by_status.values())
    return {
        "failed_mean": round(float(failed.mean()), 6),
        "p_any_failure": round(float(np.mean(failed > 0)), 6),
        "split": {k: round(v / all_failed, 6) if all_failed else 0.0 for k, v in sorted(by_status.items())},
    }


def _split_shift(a: dict[str, float], b: dict[str, float]) -> float:
    keys = set(a) | set(b)
    return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys), default=0.0)


def sensitivity(
    scenario: Scenario,
    seed: int,
    assumptions: list[dict[str, Any]],
    *,
    runs: int = SENSITIVITY_RUNS,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    seeds = range(seed, seed + runs)
    base = _measure(run_stats(scenario, seeds, executor=executor, progress=progress))
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for a in assumptions:
        if not is_assumed(a["origin"]):
            continue
        entry = BY_KEY[a["key"]]
        row: dict[str, Any] = {"key": entry.key, "value": a["value"]}
        ok = True
        for end, value in (("low", entry.low), ("high", entry.high)):
            try:
                variant = with_value(scenario, entry.key, value)
            except (ValidationError, ValueError) as exc:
                skipped.append({"key": entry.key, "end": end, "why": str(exc).splitlines()[0]})
                ok = False
                break
            row[end] = {
                "value": value,
                **_measure(run_stats(variant, seeds, executor=executor, progress=progress)),
            }
        if not ok:
            continue
        row["failed_change"] = round(
            max(abs(row[e]["failed_mean"] - base["failed_mean"]) for e in ("low", "high")), 6
        )
        row["split_shift"] = round(
            max(_split_shift(row[e]["split"], base["split"]) for e in ("low", "high")), 6
        )
        rows.append(row)
    rows.sort(key=lambda r: (-r["failed_change"], -r["split_shift"], r["key"]))
    return {
        "runs": runs,
        "seeds": [seeds.start, seeds.stop - 1],
        "baseline": base,
        "rows": rows,
        "skipped": skipped,
    }


def variants(assumptions: list[dict[str, Any]]) -> int:
    """How many scenario variants (each ``runs`` runs) sensitivity() will run, the baseline included."""
    return 1 + 2 * sum(1 for a in assumptions if is_assumed(a["origin"]))
