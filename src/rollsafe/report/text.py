"""The text report, drawn with rich. A pure function of the summary dict (and the width)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollsafe.report.console import printable, to_text


def _fmt(n: float | int) -> str:
    if isinstance(n, int) or float(n).is_integer():
        return f"{round(n):,}"
    return f"{n:,.1f}"


def _plural(n: float | int, word: str) -> str:
    return f"{_fmt(n)} {word}" + ("" if n == 1 else "s")


def render(doc: dict[str, Any], *, width: int = 100, color: bool | None = False) -> str:
    return to_text(_render(doc), width=width, color=color)


def _render(doc: dict[str, Any]) -> Group:
    parts: list[Any] = []
    runs = doc["runs"]
    head = Text()
    head.append(f"rollsafe simulate: {printable(doc['scenario'])}", style="bold")
    head.append(f"  (seed {doc['seed']}" + (f", {runs} runs: per-run means)" if runs > 1 else ")"))
    parts.append(head)
    if doc.get("overrides"):
        parts.append(Text("with --set " + ", ".join(printable(o) for o in doc["overrides"])))
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
    if "runs_summary" in doc:
        rs = doc["runs_summary"]
        f = rs["failed"]
        parts.append(
            Text(
                f"across runs: failed mean {_fmt(f['mean'])}, p50 {_fmt(f['p50'])}, p95 {_fmt(f['p95'])}, "
                f"max {_fmt(f['max'])}; P(any failure) = {rs['p_any_failure']:.2f}"
            )
        )

    if req["failed"]:
        table = Table(title="Failures by cause", title_justify="left", expand=False)
        table.add_column("status", justify="right")
        table.add_column("cause", no_wrap=True)
        table.add_column("requests", justify="right")
        table.add_column("what happened / usual fix")
        for cause, n in doc["causes"].items():
            if not n:
                continue
            h = doc["cause_help"][cause]
            table.add_row(str(h["status"]), cause, _fmt(n), escape(f"{h['meaning']}\nfix: {h['fix']}"))
        parts.append(table)
        statuses = ", ".join(f"{s}: {_fmt(n)}" for s, n in doc["status_counts"].items())
        parts.append(Text(f"by status: {statuses}"))
        ww = doc["worst_window"]
        if ww is not None:
            parts.append(
                Text(
                    f"worst {ww['end_s'] - ww['start_s']:.0f} s window: "
                    f"{ww['start_s']:.0f}–{ww['end_s']:.0f} s after the rollout began, "
                    f"{_plural(ww['failed'], 'failure')} (seed {ww['run_seed']})"
                )
            )

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
    if lb.get("stop_routing_lag_s") is not None:
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
        title="Milestones" + (" (first run)" if runs > 1 else ""),
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
    return Group(*parts)


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
