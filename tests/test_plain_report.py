"""The text report without colour is drawn directly (report/plain.py), not by rich: it must be, character
for character, what rich prints, or nothing (and rich prints it)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Group
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

from rollsafe.report import text as report_text
from rollsafe.report.console import to_text
from rollsafe.report.plain import render_plain
from rollsafe.report.summary import summarize_runs
from rollsafe.runs.stats import stats_of
from rollsafe.scenarios import builtin_names, load_builtin
from rollsafe.sim.simulate import simulate

WIDTHS = [24, 40, 57, 80, 100, 131, 200]


def _docs(name: str, sets: list[str]) -> list[dict[str, Any]]:
    sc = load_builtin(name, sets)
    results = [simulate(sc, seed) for seed in (1, 2)]
    one = summarize_runs(
        [stats_of(results[1])], results[1], seed=2, scenario=sc, overrides=sets, builtin=True
    )
    many = summarize_runs(
        [stats_of(r) for r in results], results[0], seed=1, scenario=sc, overrides=sets, rule="--runs"
    )
    return [one, many]


@pytest.mark.parametrize("name", builtin_names())
def test_the_plain_report_is_what_rich_prints(name: str) -> None:
    drawn = 0
    for doc in _docs(name, ["name=rollout [edge] → 漢字"]):
        group = report_text._render(doc)
        for width in WIDTHS:
            plain = render_plain(group, width=width)
            if plain is not None:
                drawn += 1
                assert plain == to_text(group, width=width, color=False), (name, width)
    assert drawn >= len(WIDTHS)  # drawn here at the usual widths, not handed to rich


def test_render_without_colour_takes_the_plain_path() -> None:
    doc = _docs("eks-alb-defaults", [])[0]
    text = report_text.render(doc, width=100, color=False)
    assert text == render_plain(report_text._render(doc), width=100)
    assert "\x1b[" not in text
    assert "\x1b[" in report_text.render(doc, width=100, color=True)


_word = st.lists(
    st.sampled_from([*"abcdefghij XYZ-/.,:→–é漢", "  ", "\n", "\\[x]", "[", "wordwithoutbreaks"]),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(_word, min_size=1, max_size=3),
    title=_word,
    rows=st.lists(st.tuples(_word, _word, _word), min_size=0, max_size=4),
    justify=st.sampled_from(["left", "right"]),
    no_wrap=st.booleans(),
    show_header=st.booleans(),
    width=st.integers(8, 90),
    odd=st.sampled_from(["", "", "", "[b]bold[/b]", "\t", "[/b]", "\x1b[2J"]),
)
def test_plain_matches_rich_on_arbitrary_text_and_tables(
    texts: list[str],
    title: str,
    rows: list[tuple[str, str, str]],
    justify: Any,
    no_wrap: bool,
    show_header: bool,
    width: int,
    odd: str,
) -> None:
    table = Table(title=title + odd, title_justify="left", expand=False, show_header=show_header)
    table.add_column("a", justify=justify)
    table.add_column("bb", no_wrap=no_wrap)
    table.add_column("what happened / fix here")
    for row in rows:
        table.add_row(*row)
    group = Group(*[Text(t) for t in texts], table)
    plain = render_plain(group, width=width)
    try:
        expected = to_text(group, width=width, color=False)
    except MarkupError:  # a cell that is not valid markup: rich refuses it, and so is it not drawn here
        assert plain is None
        return
    if plain is not None:
        assert plain == expected
