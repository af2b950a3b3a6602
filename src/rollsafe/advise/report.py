"""advise's reports: the JSON document (every evaluated candidate) and the text for people.

Only formatting: the numbers come from search.Result. User-controlled strings are escaped by the caller
(cli.py prints through its output helpers); this module must not print or exit.
"""

from __future__ import annotations

import math
from typing import Any

from rollsafe.advise.search import Candidate, Result
from rollsafe.advise.space import (
    APP_CONFIG,
    CODE,
    DEREG,
    GATE,
    GRACE,
    HC_HEALTHY,
    HC_INTERVAL,
    HC_UNHEALTHY,
    MANIFEST,
    MIN_READY,
    ON_SIGTERM,
    ORDER,
    PRESTOP,
    REMEDY_KEYS,
    SURGE,
    UNAVAILABLE,
    drain_seconds,
)
from rollsafe.advise.stats import CONFIDENCE
from rollsafe.report.console import printable


def _r(x: float | None, nd: int = 3) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(x, nd)


def candidate_doc(c: Candidate) -> dict[str, Any]:
    return {
        "index": c.index,
        "origin": c.origin,
        "changes": {k: {"from": a, "to": b} for k, (a, b) in c.changes.items()},
        "runs": c.runs,
        "failed_runs": c.failed_runs,
        "p_any_failure": _r(c.p, 6) if c.runs else None,
        "p_any_failure_upper": _r(c.upper, 6) if c.runs else None,
        "expected_failures": _r(c.expected_failures),
        "settled_s": _r(c.settled_s),
        "rollout_s": _r(c.rollout_s),
        "extra_pod_seconds": _r(c.pod_s, 1),
        "causes": dict(sorted(c.causes.items())),
        "stopped": c.stopped,
    }


def why(result: Result, key: str, best: Candidate) -> str:
    """One line per change: what the setting does here, with the numbers."""
    sc = result.space.base
    cur = result.current
    to = best.values[key]
    causes = cur.causes

    def per_run(ids: tuple[str, ...]) -> float:
        return sum(causes.get(i, 0) for i in ids) / max(cur.runs, 1)

    if key == PRESTOP:
        n = per_run(("stopped-listening", "target-unreachable"))
        return (
            f"old pods keep serving until every ALB node has stopped sending to them; with {to} s, "
            + (
                f"all {best.runs} runs dropped nothing"
                if not best.failed_runs
                else f"{best.runs - best.failed_runs} of {best.runs} runs dropped nothing"
            )
            + (
                f" (now {n:.0f} requests/rollout fail as stopped-listening or target-unreachable)"
                if n
                else ""
            )
        )
    if key in REMEDY_KEYS:
        r = result.space.remedy(key)
        if r is None:  # pinned with --fix
            return "pinned with --fix"
        seen = [i for i in r.causes if causes.get(i)]
        shown = sum(causes[i] for i in seen) / max(cur.runs, 1)
        return (
            r.why
            + (f" (now {shown:.1f} requests/rollout fail as {', '.join(seen)})" if seen else "")
            + ("; no searched setting met the target without it" if key in result.space.required else "")
        )
    if key == GRACE:
        drain = drain_seconds(sc, str(best.values.get(ON_SIGTERM, "")) or None)
        return (
            f"covers preStop {best.values[PRESTOP]} s + drain {drain:g} s + the kubelet's 2 s "
            "minimum, so SIGKILL never cuts the sleep or the drain"
        )
    if key == GATE:
        n = per_run(("no-healthy-targets", "not-yet-listening"))
        return (
            "an old pod goes only after its replacement is healthy in the target group (the LB controller's "
            "readiness gate)" + (f"; now {n:.0f} requests/rollout find no healthy target" if n else "")
        )
    if key in (SURGE, UNAVAILABLE):
        return (
            f"rollout pace: at most {best.values[SURGE]} extra and {best.values[UNAVAILABLE]} missing pods "
            "at a time"
        )
    if key == MIN_READY:
        return f"each new pod counts as available {to} s after Ready, time for the ALB to register it"
    if key == DEREG:
        return f"a draining target gets {to} s for its in-flight requests before the ALB cuts them"
    if key == HC_INTERVAL:
        return f"health checks every {to} s: a new target is healthy after about threshold × interval"
    if key in (HC_HEALTHY, HC_UNHEALTHY):
        return f"{to} consecutive checks to change a target's health"
    return "changed by the search"


def kind_of(result: Result, key: str) -> str:
    """Who makes the change: a code change, an app setting, or a manifest (Deployment, Ingress/Service
    annotations, Namespace label)."""
    r = result.space.remedy(key)
    if r is not None:
        return r.kind
    return CODE if key == ON_SIGTERM else APP_CONFIG if key.startswith("app.") else MANIFEST


def advise_doc(result: Result) -> dict[str, Any]:
    best = result.best
    cur = result.current
    meets = cur.acceptable(result.target)
    rec: dict[str, Any] | None = None
    if best is not None and not meets:
        rec = {
            "changes": [
                {
                    "key": k,
                    "from": best.changes[k][0],
                    "to": best.changes[k][1],
                    "why": why(result, k, best),
                    "kind": kind_of(result, k),
                    "required": k in result.space.required,
                }
                for k in ORDER
                if k in best.changes
            ],
            "overrides": result.space.overrides(best.values),
            "candidate": best.index,
            "runs": best.runs,
            "p_any_failure": _r(best.p, 6),
            "p_any_failure_upper": _r(best.upper, 6),
            "expected_failures": _r(best.expected_failures),
            "settled_s": _r(best.settled_s),
            "rollout_s": _r(best.rollout_s),
            "extra_pod_seconds": _r(best.pod_s, 1),
            "cost": {
                "settled_s": _r((best.settled_s or 0) - (cur.settled_s or 0)) if cur.settled_s else None,
                "extra_pod_seconds": _r((best.pod_s or 0) - (cur.pod_s or 0), 1),
            },
        }
    return {
        "scenario": result.space.base.name,
        "target": result.target,
        "confidence": CONFIDENCE,
        "runs": result.runs,
        "seed": result.seed,
        "executor": result.executor,
        "searched": [k.key for k in result.space.free],
        "fixed": dict(result.space.fixed),
        "current": candidate_doc(cur),
        "meets_target": meets,
        "recommendation": rec,
        "found": meets or rec is not None,
        "notes": list(result.space.notes),
        "pareto_front": [candidate_doc(c) for c in result.front],
        "candidates": [candidate_doc(c) for c in result.candidates],
        "simulations": result.simulations,
        "trials": result.trials,
        "phases": result.phases,
    }


def _pct(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{100 * p:.2f} %" if p < 0.1 else f"{100 * p:.0f} %"


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} s"


def render_text(doc: dict[str, Any]) -> str:
    cur = doc["current"]
    lines = [
        printable(
            f"advise: {doc['scenario']}  (target P(any failure) ≤ {_pct(doc['target'])}, "
            f"judged by the one-sided 95 % upper bound over up to {doc['runs']} runs)"
        ),
        "",
        f"Now: drops requests in {_pct(cur['p_any_failure'])} of rollouts "
        f"(95 % bound {_pct(cur['p_any_failure_upper'])}, {cur['runs']} runs), "
        f"{cur['expected_failures']:.1f} failed requests per rollout on average; settles in "
        f"{_s(cur['settled_s'])}, {cur['extra_pod_seconds']:.0f} extra pod-seconds.",
    ]
    if cur["causes"]:
        lines.append(
            "  causes: "
            + ", ".join(f"{k} {v / max(cur['runs'], 1):.1f}/rollout" for k, v in cur["causes"].items())
        )
    lines.append("")
    rec = doc["recommendation"]
    if doc["meets_target"]:
        lines.append("No change: the current settings already meet the target.")
    elif rec is None:
        lines.append(
            "No setting found that meets the target within the search. The Pareto front below shows the "
            "best trade-offs seen; try more --trials or --runs, or relax --target."
        )
    else:
        required = [c for c in rec["changes"] if c["required"]]
        if required:
            lines.append(
                "No setting advise searches meets the target alone. Required "
                + ("change" if len(required) == 1 else "changes")
                + " (not searched; the search ran again on top of "
                + ("it" if len(required) == 1 else "them")
                + "):"
            )
            lines += _change_lines(required)
            lines.append("")
        rest = [c for c in rec["changes"] if not c["required"]]
        if rest:
            lines.append("Recommended change:" if not required else "With it, the searched settings:")
            lines += _change_lines(rest)
        lines += [
            "",
            f"Then: drops requests in {_pct(rec['p_any_failure'])} of rollouts "
            f"(95 % bound {_pct(rec['p_any_failure_upper'])}, {rec['runs']} runs), "
            f"{rec['expected_failures']:.2f} failed requests per rollout.",
            f"Cost: settles in {_s(rec['settled_s'])} ({_signed(rec['cost']['settled_s'], 's')}), "
            f"{rec['extra_pod_seconds']:.0f} extra pod-seconds "
            f"({_signed(rec['cost']['extra_pod_seconds'], 'pod-s')}).",
            "As overrides: " + printable(" ".join(f"--set {o}" for o in rec["overrides"])),
        ]
    for n in doc["notes"]:
        lines.append(printable(f"note: {n}"))
    front = doc["pareto_front"]
    if front:
        lines += [
            "",
            "Pareto front (risk against time to settle):",
            f"  {'#':>4}  {'P(any failure)':>14}  {'bound':>8}  {'runs':>5}  {'settled':>8}  "
            f"{'pod-s':>7}  changes",
        ]
        for c in front[:12]:
            ch = (
                ", ".join(f"{k.rsplit('.', 1)[-1]}={_v(v['to'])}" for k, v in c["changes"].items())
                or "(none)"
            )
            lines.append(
                printable(
                    f"  {c['index']:>4}  {_pct(c['p_any_failure']):>14}  "
                    f"{_pct(c['p_any_failure_upper']):>8}  "
                    f"{c['runs']:>5}  {_s(c['settled_s']):>8}  {c['extra_pod_seconds'] or 0:>7.0f}  {ch}"
                )
            )
    lines += [
        "",
        f"{doc['simulations']} simulations over {len(doc['candidates'])} candidates "
        f"({doc['trials']} search trials) on {doc['executor']}.",
    ]
    return "\n".join(lines) + "\n"


def _change_lines(changes: list[dict[str, Any]]) -> list[str]:
    width = max(len(c["key"]) for c in changes)
    out = []
    for c in changes:
        tag = f"  [{c['kind']}]" if c["kind"] != MANIFEST or c["required"] else ""
        out.append(printable(f"  {c['key']:<{width}}  {_v(c['from'])} → {_v(c['to'])}{tag}"))
        out.append(printable(f"  {'':<{width}}  {c['why']}"))
    return out


def _v(x: Any) -> str:
    return ("true" if x else "false") if isinstance(x, bool) else str(x)


def _signed(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    return f"{x:+.0f} {unit}"
