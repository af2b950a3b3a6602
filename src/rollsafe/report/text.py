"""The text report, drawn with rich. A pure function of the summary dict (and the width)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollsafe.report.console import printable, to_text
from rollsafe.report.plain import render_plain


def _fmt(n: float | int) -> str:
    if 0 < n < 0.05:
        return "<0.1"  # a mean that rounds to 0.0 is not none
    if isinstance(n, int) or float(n).is_integer():
        return f"{round(n):,}"
    return f"{n:,.1f}"


def _plural(n: float | int, word: str) -> str:
    return f"{_fmt(n)} {word}" + ("" if n == 1 else "s")


def render(doc: dict[str, Any], *, width: int = 100, color: bool | None = False) -> str:
    group = _render(doc)
    if color is False:
        # the same characters rich prints without colour, drawn directly (report/plain.py), when it can
        plain = render_plain(group, width=width)
        if plain is not None:
            return plain
    return to_text(group, width=width, color=color)


def _render(doc: dict[str, Any]) -> Group:
    parts: list[Any] = []
    runs = doc["runs"]
    head = Text()
    head.append(f"rollsafe simulate: {printable(doc['scenario'])}", style="bold")
    head.append(f"  (seed {doc['seed']}" + (f", {runs} runs)" if runs > 1 else ")"))
    parts.append(head)
    if doc.get("overrides"):
        parts.append(Text("with --set " + ", ".join(printable(o) for o in doc["overrides"])))
    traffic = _traffic_line(doc)
    if traffic:
        parts.append(Text(traffic, style="dim"))
    if runs > 1:
        parts.extend(_monte_carlo(doc))
    else:
        parts.extend(_single(doc))
    return Group(*parts)


def _traffic_line(doc: dict[str, Any]) -> str:
    """Which clients the counts are of: open-loop arrivals at a rate, or N closed-loop clients."""
    model = (doc.get("traffic") or {}).get("model")
    settings = (doc.get("settings") or {}).get("traffic") or {}
    if model == "closed":
        return f"traffic: closed model, {doc['traffic']['clients']} clients each waiting for its last answer"
    if model == "open" and settings.get("rps") is not None:
        return f"traffic: open model, Poisson arrivals at {settings['rps']:g} requests/s"
    return ""


def _pct(p: float) -> str:
    """A percentage as people read it: 47 %, 0.4 %, 99.6 % (no false precision, never 100 % for < 1)."""
    x = 100 * p
    if x in {0, 100}:
        return f"{x:.0f}"
    if x < 10 or x > 90:  # near the ends a point matters: 1.8 % is not 2 %
        return f"{x:.1f}"
    return f"{x:.0f}"


def headline(doc: dict[str, Any]) -> str:
    """The answer in one line: how often a rollout drops requests, and how many when it does."""
    prob = doc["probability"]
    lo, hi = prob["ci95"]
    ci = f"95 % CI {_pct(lo)}–{_pct(hi)} %, Wilson, {prob['runs']} runs"
    if not prob["failing_runs"]:
        return f"drops no request in any of {prob['runs']} rollouts (P(any failure): {ci})"
    wf = doc["when_failing"]["failed"]
    return (
        f"drops requests in {_pct(prob['p_any_failure'])} % of rollouts ({ci}); when it does, typically "
        f"{_fmt(round(wf['p50']))} failed, p95 {_fmt(round(wf['p95']))}"
    )


def _monte_carlo(doc: dict[str, Any]) -> list[Any]:
    parts: list[Any] = []
    prob = doc["probability"]
    parts.append(Text(headline(doc), style="bold red" if prob["failing_runs"] else "bold green"))
    parts.append(Text(f"{prob['runs']} runs ({prob['runs_rule']}; --runs N to choose)", style="dim"))
    parts.extend(Text("warning: " + warning, style="bold yellow") for warning in _warnings(doc))
    parts.extend(Text("note: " + note) for note in doc.get("notes", []))
    wf = doc["when_failing"]
    if wf is not None:
        parts.append(
            _cause_table(
                doc,
                wf["causes"],
                f"Failures by cause, mean per failing run ({wf['runs']} of {prob['runs']} runs failed)",
            )
        )
        statuses = ", ".join(f"{s}: {_fmt(n)}" for s, n in wf["status_counts"].items() if s != "200")
        parts.append(Text(f"by status, mean per failing run: {statuses}"))
        parts.extend(_worst_window(doc))
    parts.extend(_facts_and_milestones(doc))
    parts.extend(_assumptions_and_sensitivity(doc))
    return parts


def _single(doc: dict[str, Any]) -> list[Any]:
    parts: list[Any] = []
    req = doc["requests"]
    total = req["total"] or 1
    pct = 100.0 * req["failed"] / total
    verdict = Text()
    if req["failed"] == 0:
        verdict.append("No request failed.", style="bold green")
    else:
        verdict.append(
            f"{_fmt(req['failed'])} of {_plural(req['total'], 'request')} failed ({pct:.2f}%)",
            style="bold red",
        )
    verdict.append(f"   over {doc['simulated_s']:.1f} s of simulated traffic from the start of the rollout")
    parts.append(verdict)
    parts.extend(Text("warning: " + warning, style="bold yellow") for warning in _warnings(doc))
    parts.extend(Text("note: " + note) for note in doc.get("notes", []))
    if req["failed"]:
        parts.append(_cause_table(doc, doc["causes"], "Failures by cause"))
        statuses = ", ".join(f"{s}: {_fmt(n)}" for s, n in doc["status_counts"].items())
        parts.append(Text(f"by status: {statuses}"))
        parts.extend(_worst_window(doc))
    parts.extend(_facts_and_milestones(doc))
    parts.extend(_assumptions_and_sensitivity(doc))
    return parts


def _cause_table(doc: dict[str, Any], counts: dict[str, float], title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("status", justify="right")
    table.add_column("cause", no_wrap=True)
    table.add_column("requests", justify="right")
    table.add_column("what happened / fix here")
    fixes = doc.get("fixes", {})
    for cause, n in counts.items():
        if not n or cause not in doc["cause_help"]:
            continue
        h = doc["cause_help"][cause]
        fix = fixes.get(cause, {})
        line = f"{h['meaning']}\nfix: {h['fix']}"
        if fix.get("text"):
            line += f"\nhere: {fix['text']}"
        table.add_row(str(h["status"]), cause, _fmt(n), escape(line))
    return table


def _worst_window(doc: dict[str, Any]) -> list[Any]:
    ww = doc["worst_window"]
    if ww is None:
        return []
    which = "" if doc["runs"] == 1 else ", a typical failing run"
    return [
        Text(
            f"worst {ww['end_s'] - ww['start_s']:.0f} s window: "
            f"{ww['start_s']:.0f}–{ww['end_s']:.0f} s after the rollout began, "
            f"{_plural(ww['failed'], 'failure')} (seed {ww['run_seed']}{which})"
        )
    ]


def _assumptions_and_sensitivity(doc: dict[str, Any]) -> list[Any]:
    parts: list[Any] = []
    assumed = doc.get("assumed_settings")
    if assumed:
        parts.append(
            Text(
                "Rests on these assumptions (docs/assumptions.md; --set any of them to what you measured, "
                "--sensitivity to see which matter):",
                style="bold",
            )
        )
        for a in assumed:
            origin = "" if a["origin"] == "rollsafe default" else f" ({a['origin']})"
            parts.append(Text(f"  {a['key']}: {printable(a['value_described'])}{origin}"))
    sens = doc.get("sensitivity")
    if sens is not None:
        parts.append(_sensitivity_table(sens))
    return parts


def _sensitivity_table(sens: dict[str, Any], top: int = 8) -> Any:
    base = sens["baseline"]
    table = Table(
        title=(
            f"Sensitivity: each assumption at the low / high end of its range (docs/assumptions.md; "
            f"{sens['runs']} runs each, seeds {sens['seeds'][0]}–{sens['seeds'][1]}). Baseline: "
            f"{_fmt(base['failed_mean'])} failed per run, P(any) {_pct(base['p_any_failure'])} %"
        ),
        title_justify="left",
        expand=False,
    )
    table.add_column("assumption", no_wrap=True)
    table.add_column("failed/run low / high", justify="right")
    table.add_column("P(any) low / high", justify="right")
    table.add_column("502/503/504 share moves", justify="right")
    for row in sens["rows"][:top]:
        lo, hi = row["low"], row["high"]
        table.add_row(
            row["key"],
            f"{_fmt(lo['failed_mean'])} / {_fmt(hi['failed_mean'])}",
            f"{_pct(lo['p_any_failure'])} / {_pct(hi['p_any_failure'])} %",
            f"{100 * row['split_shift']:.0f} pts",
        )
    if len(sens["rows"]) > top:
        table.caption = f"{len(sens['rows']) - top} more, with less effect, in the JSON report"
    return table


def _facts_and_milestones(doc: dict[str, Any]) -> list[Any]:
    parts: list[Any] = []
    runs = doc["runs"]
    ro, lb = doc["rollout"], doc["load_balancer"]
    simulated = f"not within the simulated {doc['simulated_s']:.0f} s"
    facts = Table(title="Rollout and load balancer", title_justify="left", show_header=False, expand=False)
    facts.add_column()
    facts.add_column()
    facts.add_row(
        "replicas / maxSurge / maxUnavailable",
        f"{ro['replicas']} / {ro['max_surge']} / {ro['max_unavailable']}",
    )
    facts.add_row(
        "rollout complete after", f"{ro['duration_s']:.1f} s" if ro["duration_s"] is not None else simulated
    )
    facts.add_row(
        "LB settled after", f"{lb['settled_s']:.1f} s" if lb["settled_s"] is not None else simulated
    )
    lag = doc.get("stop_routing_lag")
    if lag is not None and runs > 1:
        facts.add_row(
            "deregistration lag (pod deleted → last LB node stops sending it requests)",
            f"p50 {lag['p50']:.1f} s, p99 {lag['p99']:.1f} s, max {lag['max']:.1f} s",
        )
    elif lb.get("stop_routing_lag_s") is not None:
        facts.add_row(
            "deregistration lag (pod deleted → last LB node stops sending it requests)",
            f"up to {lb['stop_routing_lag_s']:.1f} s",
        )
    facts.add_row(
        "targets registered / deregistered", f"{_fmt(lb['registrations'])} / {_fmt(lb['deregistrations'])}"
    )
    facts.add_row("time with no healthy target on some LB node", f"{lb['no_healthy_target_s']:.1f} s")
    parts.append(facts)

    ms = Table(
        title="Milestones" + (f" (seed {doc['reported_run']['seed']})" if runs > 1 else ""),
        title_justify="left",
        show_header=False,
        expand=False,
    )
    ms.add_column(justify="right")
    ms.add_column()
    for m in doc["milestones"]:
        ms.add_row(f"{m['t_s']:7.2f} s", escape(printable(m["what"])))
    parts.append(ms)
    parts.append(
        Text(
            "LB settled: every LB node routes to exactly the new pods and the old pods are gone. "
            "The deregistration lag is what a preStop sleep must outlast.",
            style="dim",
        )
    )
    return parts


def _warnings(doc: dict[str, Any]) -> list[str]:
    out = []
    runs = doc["runs"]
    incomplete = runs - doc["rollout"]["completed_runs"]
    unsettled = runs - doc["load_balancer"]["settled_runs"]
    of = f" in {incomplete} of {runs} runs" if runs > 1 else ""
    if incomplete:
        out.append(
            f"the rollout did not complete within the simulated {doc['simulated_s']:.0f} s{of}; "
            "raise simulation.maxSeconds or traffic.durationSeconds, or check the scenario"
        )
    elif unsettled:
        of = f" in {unsettled} of {runs} runs" if runs > 1 else ""
        out.append(f"the load balancer had not settled when the simulation ended{of}")
    if doc.get("failing_at_end_runs"):
        n = doc["failing_at_end_runs"]
        of = f" in {n} of {runs} runs" if runs > 1 else ""
        out.append(
            f"requests were still failing when the simulated traffic ended{of}: the service may not recover; "
            "the counts above cover only the simulated window"
        )
    return out
