"""The text report, drawn with rich. A pure function of the summary dict (and the width)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


def _fmt(n: float | int) -> str:
    if isinstance(n, int):
        return f"{n:,}"
    return f"{n:,.1f}" if abs(n - round(n)) > 1e-9 else f"{round(n):,}"


def render(doc: dict[str, Any], *, width: int = 100, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(_render(doc))
    return buf.getvalue()


def _render(doc: dict[str, Any]) -> Group:
    parts: list[Any] = []
    runs = doc["runs"]
    head = Text()
    head.append(f"rollsafe simulate: {doc['scenario']}", style="bold")
    head.append(f"  (seed {doc['seed']}" + (f", {runs} runs: per-run means)" if runs > 1 else ")"))
    parts.append(head)
    req = doc["requests"]
    total = req["total"] or 1
    pct = 100.0 * req["failed"] / total
    verdict = Text()
    if req["failed"] == 0:
        verdict.append("No request failed.", style="bold green")
    else:
        verdict.append(
            f"{_fmt(req['failed'])} of {_fmt(req['total'])} requests failed ({pct:.2f}%)", style="bold red"
        )
    verdict.append(f"   simulated {doc['simulated_s']:.1f} s of traffic")
    parts.append(verdict)
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
        table.add_column("cause")
        table.add_column("requests", justify="right")
        table.add_column("what happened / usual fix")
        for cause, n in doc["causes"].items():
            if not n:
                continue
            h = doc["cause_help"][cause]
            table.add_row(str(h["status"]), cause, _fmt(n), f"{h['meaning']}\nfix: {h['fix']}")
        parts.append(table)
        statuses = ", ".join(f"{s}: {_fmt(n)}" for s, n in doc["status_counts"].items())
        parts.append(Text(f"by status: {statuses}"))
        ww = doc["worst_window"]
        parts.append(
            Text(
                f"worst {ww['end_s'] - ww['start_s']:.0f} s window: "
                f"{ww['start_s']:.0f}–{ww['end_s']:.0f} s after "
                f"the rollout began, {_fmt(ww['failed'])} failures (seed {ww['run_seed']})"
            )
        )

    ro, lb = doc["rollout"], doc["load_balancer"]
    facts = Table(title="Rollout and load balancer", title_justify="left", show_header=False, expand=False)
    facts.add_column()
    facts.add_column()
    facts.add_row(
        "replicas / maxSurge / maxUnavailable",
        f"{ro['replicas']} / {ro['max_surge']} / {ro['max_unavailable']}",
    )
    facts.add_row(
        "rollout duration",
        f"{ro['duration_s']:.1f} s"
        if ro["duration_s"] is not None
        else f"not complete within the simulated {doc['simulated_s']:.0f} s",
    )
    facts.add_row(
        "LB settled after",
        f"{lb['settled_s']:.1f} s"
        if lb["settled_s"] is not None
        else f"not settled within the simulated {doc['simulated_s']:.0f} s",
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
        ms.add_row(f"{m['t_s']:7.2f} s", m["what"])
    parts.append(ms)
    return Group(*parts)
