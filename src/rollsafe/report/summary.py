"""One summary of a simulation: the JSON document, and what the text report draws. Pure: same runs, same
dict, same bytes.

A Monte Carlo arrives as compact per-run stats (rollsafe.runs) plus the one run reported in full (its
milestones and worst window). Counts are per-run means over all runs (kept for scripts); the headline
is the probability that a rollout drops any request, its interval, and what the failing runs look like.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rollsafe import __version__
from rollsafe.lint.engine import notes_for_scenario
from rollsafe.lint.rules.readiness_gate_impossible import INSTANCE_FIXES as _INSTANCE_FIXES
from rollsafe.model.assumptions import assumed_settings
from rollsafe.model.causes import BY_ID, CAUSE_IDS
from rollsafe.model.scenario import Scenario
from rollsafe.report.describe import describe
from rollsafe.runs.montecarlo import reported_seed, wilson
from rollsafe.runs.stats import FAILING_AT_END_S, RunStats, stats_of
from rollsafe.sim.simulate import RunResult

__all__ = ["FAILING_AT_END_S", "summarize", "summarize_runs"]

COVER = 0.99  # a fix's number covers this share of the simulated runs


def _num(x: float | np.floating[Any]) -> float | int:
    """Counts stay ints for one run; means are rounded so output is stable across platforms."""
    return round(float(x), 6)


def _mean(values: Any) -> float:
    """np.mean; a single value is its own mean (a one-run report asks for a score of them, and numpy's
    call costs microseconds each)."""
    if len(values) == 1:
        return float(values[0])
    return float(np.mean(values))


def _percentile(values: Any, q: float) -> float:
    """np.percentile; any percentile of a single value is that value."""
    if len(values) == 1:
        return float(values[0])
    return float(np.percentile(values, q))


def summarize(
    results: list[RunResult],
    *,
    seed: int,
    scenario: Scenario | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Full RunResults (tests, small callers): the same document as summarize_runs."""
    stats = [stats_of(r) for r in results]
    chosen = reported_seed(stats)
    detail = next(r for r in results if r.seed == chosen)
    return summarize_runs(stats, detail, seed=seed, scenario=scenario, overrides=overrides)


def summarize_runs(
    stats: list[RunStats],
    detail: RunResult,
    *,
    seed: int,
    scenario: Scenario | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
    rule: str | None = None,
    builtin: bool = False,
    sensitivity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    runs = len(stats)

    def agg(values: list[int] | list[float]) -> float | int:
        if runs == 1:
            v = values[0]
            return int(v) if isinstance(v, int | np.integer) else _num(v)
        return _num(float(np.mean(values)))

    total = [r.total for r in stats]
    failed = [r.failed for r in stats]
    statuses = sorted({k for r in stats for k in r.status_counts()}, key=int)
    status_counts = {s: agg([r.status_counts().get(s, 0) for r in stats]) for s in statuses}
    causes = {c: agg([r.causes()[c] for r in stats]) for c in CAUSE_IDS}
    rollout = [r.rollout_s for r in stats if r.rollout_s is not None]
    settled = [r.settled_s for r in stats if r.settled_s is not None]
    start, end, worst = detail.worst_window()
    lags = [r.stop_routing_lag_s for r in stats if r.stop_routing_lag_s is not None]
    failing = [r for r in stats if r.failed]
    k = len(failing)
    lo, hi = wilson(k, runs)
    doc: dict[str, Any] = {
        "scenario": detail.scenario,
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
            "replicas": detail.replicas,
            "max_surge": detail.max_surge,
            "max_unavailable": detail.max_unavailable,
            "duration_s": _num(_mean(rollout)) if rollout else None,
            "completed_runs": len(rollout),
            "scaling_steps": agg([r.steps for r in stats]),
        },
        "load_balancer": {
            "registrations": agg([r.registrations for r in stats]),
            "deregistrations": agg([r.deregistrations for r in stats]),
            "no_healthy_target_s": agg([r.no_healthy_target_s for r in stats]),
            "settled_s": _num(_mean(settled)) if settled else None,
            "settled_runs": len(settled),
            "stop_routing_lag_s": _num(max(lags)) if lags else None,
            "registration_to_first_traffic_s": _reg_to_traffic(stats),
        },
        "traffic": {  # which clients the counts are of (docs/model.md, "Clients: open and closed")
            "model": detail.traffic_model,
            "clients": detail.clients,
            "client_timeouts": agg([r.client_timeouts for r in stats]),
        },
        "failing_at_end_runs": sum(1 for r in stats if r.failing_at_end),
        "simulated_s": agg([r.duration_s for r in stats]),
        "worst_window": (
            {"start_s": start, "end_s": end, "failed": worst, "run_seed": detail.seed} if worst else None
        ),
        "milestones": [{"t_s": _num(t), "what": what} for t, what in detail.milestones],
        "cause_help": {
            c: {"status": BY_ID[c].status, "meaning": BY_ID[c].meaning, "fix": _fix(c, scenario)}
            for c in CAUSE_IDS
            if causes[c]
        },
        "probability": {
            "p_any_failure": _num(k / runs),
            "ci95": [_num(lo), _num(hi)],
            "interval": "wilson",
            "failing_runs": k,
            "runs": runs,
            "runs_rule": rule or "--runs",
        },
        "when_failing": _when_failing(failing),
        "reported_run": {
            "seed": detail.seed,
            "failed": detail.failed,
            "why": (
                "a typical failing run (failed count nearest the failing runs' median)"
                if k and runs > 1
                else ("the only run" if runs == 1 else "the first run (no run failed)")
            ),
        },
        "stop_routing_lag": _lag_distribution(lags),
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
            "seeds": [r.seed for r in stats],
        }
    if scenario is not None:
        assumptions = assumed_settings(scenario, overrides=list(overrides), builtin=builtin)
        # each assumed value described once (a mixture's quantiles are found by bisection)
        for a in assumptions:
            a["value_described"] = describe(a["value"])
        doc["notes"] = setting_notes(scenario)
        doc["fixes"] = _fixes(doc, scenario, lags, assumptions)
        doc["assumed_settings"] = [a for a in assumptions if a["origin"] != "--set"]
        doc["settings"] = scenario.model_dump(mode="json", by_alias=True)
    if sensitivity is not None:
        doc["sensitivity"] = sensitivity
    return doc


def _when_failing(failing: list[RunStats]) -> dict[str, Any] | None:
    """The conditional distribution: what a rollout that drops requests looks like."""
    if not failing:
        return None
    arr = np.array([r.failed for r in failing], dtype=np.float64)
    # each run's counts worked out once, not once a cause or status
    causes = [r.causes() for r in failing]
    status_counts = [r.status_counts() for r in failing]
    statuses = sorted({s for counts in status_counts for s in counts}, key=int)
    return {
        "runs": len(failing),
        "failed": {
            "p50": _num(_percentile(arr, 50)),
            "p95": _num(_percentile(arr, 95)),
            "mean": _num(arr.mean()),
            "max": _num(arr.max()),
        },
        "causes": {c: _num(_mean([counts[c] for counts in causes])) for c in CAUSE_IDS},
        "status_counts": {s: _num(_mean([counts.get(s, 0) for counts in status_counts])) for s in statuses},
        "worst_window_failed_p50": _num(_percentile([r.worst_window_failed for r in failing], 50)),
    }


def _lag_distribution(lags: list[float]) -> dict[str, Any] | None:
    if not lags:
        return None
    arr = np.array(lags, dtype=np.float64)
    return {
        "runs": len(lags),
        "p50": _num(_percentile(arr, 50)),
        "p90": _num(_percentile(arr, 90)),
        "p99": _num(_percentile(arr, 99)),
        "max": _num(arr.max()),
    }


def _fix(cause: str, scenario: Scenario | None) -> str:
    if scenario is not None and scenario.load_balancer.target_type == "instance" and cause in _INSTANCE_FIXES:
        return _INSTANCE_FIXES[cause]
    return BY_ID[cause].fix


def _value_of(assumptions: list[dict[str, Any]], key: str) -> str:
    for a in assumptions:
        if a["key"] == key:
            return str(a["value_described"])
    return "as set"


def _fixes(
    doc: dict[str, Any], sc: Scenario, lags: list[float], assumptions: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """For each cause seen: the number that fixes it here, from the simulated runs or the settings, and
    the assumption it rests on. A cause with no such number gets none (never a made-up one)."""
    out: dict[str, dict[str, Any]] = {}
    wl, app, lb = sc.workload, sc.app, sc.load_balancer
    request_p99 = app.request_seconds.b if app.request_seconds.kind in {"lognormal", "uniform"} else None
    for cause in CAUSE_IDS:
        if not doc["causes"][cause]:
            continue
        setting: str | None = None
        value: float | None = None
        text: str | None = None
        rests_on = ""
        if cause in {"stopped-listening", "target-unreachable"} and lags:
            value = float(math.ceil(float(np.quantile(np.array(lags), COVER, method="higher"))))
            setting = "workload.preStopSleepSeconds"
            key = (
                "cluster.kubeProxySyncSeconds"
                if lb.target_type == "instance"
                else "loadBalancer.deregisterPropagationSeconds"
            )
            rests_on = f"{key}: {_value_of(assumptions, key)}"
            text = (
                f"a preStop of at least {value:g} s covers the deregistration lag in "
                f"{100 * COVER:.0f} % of the {len(lags)} simulated runs (lag assumed "
                f"{_value_of(assumptions, key)}; set {key} to what you measured)"
            )
        elif cause == "in-flight-killed":
            drain = app.drain_seconds if app.on_sigterm == "drain" else (request_p99 or 0.0)
            value = float(math.ceil(wl.pre_stop_sleep_seconds + drain + 2))
            setting = "workload.terminationGracePeriodSeconds"
            rests_on = f"app.onSigterm: {app.on_sigterm}; app.requestSeconds: {describe(app.request_seconds)}"
            text = (
                f"terminationGracePeriodSeconds of at least {value:g} s (preStop "
                f"{wl.pre_stop_sleep_seconds:g} s + drain {drain:g} s + 2 s); "
                + ("and drain on SIGTERM (app.onSigterm: drain)" if app.on_sigterm != "drain" else "")
            ).rstrip("; ")
        elif cause == "drain-timeout" and request_p99 is not None:
            value = float(math.ceil(request_p99 * 2))
            setting = "loadBalancer.deregistrationDelaySeconds"
            rests_on = f"app.requestSeconds: {describe(app.request_seconds)}"
            text = f"a deregistration delay of at least {value:g} s, above the slowest request"
        elif cause == "keepalive-race":
            value = float(math.floor(lb.idle_timeout_seconds) + 1)
            setting = "app.keepAliveTimeoutSeconds"
            rests_on = (
                f"app.keepAliveRaceWindowSeconds: {_value_of(assumptions, 'app.keepAliveRaceWindowSeconds')}"
            )
            text = (
                f"a server keep-alive timeout of at least {value:g} s, above the LB idle timeout "
                f"({lb.idle_timeout_seconds:g} s)"
                if app.keep_alive_timeout_seconds < value
                else f"the keep-alive timeout ({app.keep_alive_timeout_seconds:g} s) is already above the "
                "idle timeout: these races are connections the server closed while draining; send "
                "Connection: close while draining"
            )
        elif cause == "response-timeout" and request_p99 is not None:
            value = float(math.ceil(request_p99 * 2))
            setting = "loadBalancer.idleTimeoutSeconds"
            rests_on = f"app.requestSeconds: {describe(app.request_seconds)}"
            text = f"an idle timeout of at least {value:g} s, above the request p99 ({request_p99:g} s)"
        out[cause] = {"setting": setting, "value": value, "text": text, "rests_on": rests_on}
    return out


def setting_notes(sc: Scenario) -> list[str]:
    """Settings that do not do what they seem to: the findings of the lint rules that hold this knowledge
    (kill math, keep-alive; docs/lint.md), one line each."""
    return notes_for_scenario(sc)


def _reg_to_traffic(results: list[RunStats]) -> dict[str, float] | None:
    """Registration -> first traffic over every new target of every run: the median and the longest."""
    values = [v for r in results for v in r.registration_to_first_traffic_s]
    if not values:
        return None
    return {"p50": _num(float(np.median(values))), "max": _num(max(values))}
