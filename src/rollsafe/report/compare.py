"""Side by side: several scenarios' summaries in one table, a column each. Pure, like report.text."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from rollsafe.model.causes import CAUSE_IDS
from rollsafe.report.console import printable, to_text


def _n(x: float | int | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.1f}{unit}"
    return f"{int(x):,}{unit}"


def render_comparison(docs: list[dict[str, Any]], *, width: int = 100, color: bool | None = False) -> str:
    table = Table(
        title="Side by side"
        + (
            f" (per-run means over {docs[0]['runs']} runs)"
            if docs[0]["runs"] > 1
            else f" (seed {docs[0]['seed']})"
        ),
        title_justify="left",
    )
    table.add_column("", no_wrap=True)
    for doc in docs:
        table.add_column(escape(printable(doc["scenario"])), justify="right", overflow="fold")
    req = [d["requests"] for d in docs]
    table.add_row("requests", *(_n(r["total"]) for r in req))
    table.add_row(
        "failed",
        *(f"{_n(r['failed'])} ({100 * r['failed'] / (r['total'] or 1):.2f}%)" for r in req),
    )
    for cause in CAUSE_IDS:
        if any(d["causes"][cause] for d in docs):
            table.add_row(f"  {cause}", *(_n(d["causes"][cause]) for d in docs))
    table.add_row("simulated traffic", *(_n(d["simulated_s"], " s") for d in docs))
    table.add_row("rollout duration", *(_n(d["rollout"]["duration_s"], " s") for d in docs))
    table.add_row("LB settled after", *(_n(d["load_balancer"]["settled_s"], " s") for d in docs))
    table.add_row(
        "no healthy target",
        *(_n(d["load_balancer"]["no_healthy_target_s"], " s") for d in docs),
    )
    if docs[0]["runs"] > 1:
        table.add_row("P(any failure)", *(f"{d['runs_summary']['p_any_failure']:.2f}" for d in docs))
    return to_text(table, width=width, color=color)
