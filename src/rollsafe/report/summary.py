"""One summary of a simulation: the JSON document, and what the text report draws. Pure: same results,
same dict, same bytes. With several runs, counts are per-run means and ``runs_summary`` is added.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rollsafe import __version__
from rollsafe.lint.engine import notes_for_scenario
from rollsafe.lint.rules.readiness_gate_impossible import INSTANCE_FIXES as _INSTANCE_FIXES
from rollsafe.model.causes import BY_ID, CAUSE_IDS
from rollsafe.model.scenario import Scenario
from rollsafe.sim.simulate import RunResult


def _num(x: float | np.floating[Any]) -> float | int:
    """Counts stay ints for one run; means are rounded so output is stable across platforms."""
    return round(float(x), 6)


FAILING_AT_END_S = 5  # a run "ends failing" when requests failed in its last seconds of traffic


def summarize(
    results: list[RunResult],
    *,
    seed: int,
    scenario: Scenario | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    runs = len(results)
    first = results[0]

    def agg(values: list[int] | list[float]) -> float | int:
        if runs == 1:
            v = values[0]
            return int(v) if isinstance(v, int | np.integer) else _num(v)
        return _num(float(np.mean(values)))

    total = [r.traffic.total for r in results]
    failed = [r.failed for r in results]
    statuses = sorted({k for r in results for k in r.status_counts()}, key=int)
    status_counts = {s: agg([r.status_counts().get(s, 0) for r in results]) for s in statuses}
    causes = {c: agg([r.causes()[c] for r in results]) for c in CAUSE_IDS}
    rollout = [r.rollout_s for r in results if r.rollout_s is not None]
    settled = [r.settled_s for r in results if r.settled_s is not None]
    start, end, worst = first.worst_window()
    lags = [r.stop_routing_lag_s for r in results if r.stop_routing_lag_s is not None]
    doc: dict[str, Any] = {
        "scenario": first.scenario,
        "rollsafe_version": __version__,
        "seed": seed,
        "runs": runs,
        "overrides": list(overrides),
        "requests": {
            "total": agg(total),
            "succeeded": agg([t - f for t, f in zip(total, failed, strict=True)]),
            "failed": agg(failed),
        },
        "status_counts": status_counts,
        "causes": causes,
        "rollout": {
            "replicas": first.replicas,
            "max_surge": first.max_surge,
            "max_unavailable": first.max_unavailable,
            "duration_s": _num(np.mean(rollout)) if rollout else None,
            "completed_runs": len(rollout),
            "scaling_steps": agg([r.steps for r in results]),
        },
        "load_balancer": {
            "registrations": agg([r.registrations for r in results]),
            "deregistrations": agg([r.deregistrations for r in results]),
            "no_healthy_target_s": agg([r.no_healthy_target_s for r in results]),
            "settled_s": _num(np.mean(settled)) if settled else None,
            "settled_runs": len(settled),
            "stop_routing_lag_s": _num(max(lags)) if lags else None,
            "registration_to_first_traffic_s": _reg_to_traffic(results),
        },
        "traffic": {  # which clients the counts are of (docs/model.md, "Clients: open and closed")
            "model": first.traffic_model,
            "clients": first.clients,
            "client_timeouts": agg([r.traffic.client_timeouts for r in results]),
        },
        "failing_at_end_runs": sum(1 for r in results if _failing_at_end(r)),
        "simulated_s": agg([r.duration_s for r in results]),
        "worst_window": (
            {"start_s": start, "end_s": end, "failed": worst, "run_seed": first.seed} if worst else None
        ),
        "milestones": [{"t_s": _num(t), "what": what} for t, what in first.milestones],
        "cause_help": {
            c: {"status": BY_ID[c].status, "meaning": BY_ID[c].meaning, "fix": _fix(c, scenario)}
            for c in CAUSE_IDS
            if causes[c]
        },
    }
    if runs > 1:
        arr = np.array(failed, dtype=np.float64)
        doc["runs_summary"] = {
            "failed": {
                "mean": _num(arr.mean()),
                "p50": _num(np.percentile(arr, 50)),
                "p95": _num(np.percentile(arr, 95)),
                "max": _num(arr.max()),
            },
            "p_any_failure": _num(float(np.mean(arr > 0))),
            "seeds": [r.seed for r in results],
        }
    if scenario is not None:
        doc["notes"] = setting_notes(scenario)
        doc["settings"] = scenario.model_dump(mode="json", by_alias=True)
    return doc


def _fix(cause: str, scenario: Scenario | None) -> str:
    if scenario is not None and scenario.load_balancer.target_type == "instance" and cause in _INSTANCE_FIXES:
        return _INSTANCE_FIXES[cause]
    return BY_ID[cause].fix


def _failing_at_end(result: RunResult) -> bool:
    per_s = result.traffic.per_second[:, 1:].sum(axis=1)
    last = int(result.duration_s)
    return bool(per_s[max(0, last - FAILING_AT_END_S) : last + 1].sum() > 0)


def setting_notes(sc: Scenario) -> list[str]:
    """Settings that do not do what they seem to: the findings of the lint rules that hold this knowledge
    (kill math, keep-alive; docs/lint.md), one line each."""
    return notes_for_scenario(sc)


def _reg_to_traffic(results: list[RunResult]) -> dict[str, float] | None:
    """Registration -> first traffic over every new target of every run: the median and the longest."""
    values = [v for r in results for v in r.registration_to_first_traffic_s]
    if not values:
        return None
    return {"p50": _num(float(np.median(values))), "max": _num(max(values))}
