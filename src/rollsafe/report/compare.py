"""Side by side: several scenarios' summaries in one table, a column each, then each column's notes and
warnings. Pure, like report.text."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollsafe.model.causes import CAUSE_IDS
from rollsafe.report.console import printable, to_text
from rollsafe.report.text import _pct, _warnings


def _n(x: float | int | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.1f}{unit}"
    return f"{int(x):,}{unit}"


def column_labels(docs: list[dict[str, Any]]) -> list[str]:
    """Each column's name; a name that appears more than once gets "#2", "#3"... from its second column."""
    total = Counter(d["scenario"] for d in docs)
    seen: Counter[str] = Counter()
    out = []
    for d in docs:
        name = d["scenario"]
        seen[name] += 1
        out.append(f"{name} #{seen[name]}" if total[name] > 1 and seen[name] > 1 else name)
    return out


def render_comparison(docs: list[dict[str, Any]], *, width: int = 100, color: bool | None = False) -> str:
    runs = {d["runs"] for d in docs}
    title = "Side by side" + (
        f" (seed {docs[0]['seed']})"
        if runs == {1}
        else f" (seeds from {docs[0]['seed']}; runs: {', '.join(str(d['runs']) for d in docs)})"
    )
    table = Table(title=title, title_justify="left")
    labels = column_labels(docs)
    table.add_column("", no_wrap=True)
    for label in labels:
        table.add_column(escape(printable(label)), justify="right", overflow="fold")
    shared = set.intersection(*(set(d["overrides"]) for d in docs)) if docs else set()
    if any(d["overrides"] for d in docs):
        table.add_row(
            "overrides",
            *(
                escape(printable(", ".join(o for o in d["overrides"] if o not in shared) or "—"))
                for d in docs
            ),
        )
    if runs != {1}:
        table.add_row(
            "P(any failure)",
            *(
                f"{_pct(d['probability']['p_any_failure'])} % "
                f"({_pct(d['probability']['ci95'][0])}–{_pct(d['probability']['ci95'][1])} %)"
                for d in docs
            ),
        )
        table.add_row(
            "failed when failing",
            *(
                f"p50 {_n(d['when_failing']['failed']['p50'])}, p95 {_n(d['when_failing']['failed']['p95'])}"
                if d["when_failing"]
                else "—"
                for d in docs
            ),
        )
    req = [d["requests"] for d in docs]
    table.add_row("requests" + (" (mean)" if runs != {1} else ""), *(_n(r["total"]) for r in req))
    table.add_row(
        "failed" + (" (mean)" if runs != {1} else ""),
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
    if shared:
        table.caption = escape(printable("every column: --set " + ", ".join(sorted(shared))))
    parts: list[Any] = [table]
    for label, d in zip(labels, docs, strict=True):
        lines = [f"warning: {w}" for w in _warnings(d)] + [f"note: {n}" for n in d.get("notes", [])]
        parts.extend(Text(printable(f"{label}: {line}")) for line in lines)
    return to_text(Group(*parts), width=width, color=color)
