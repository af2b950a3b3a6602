"""Plain text (no colour) for the reports' rich renderables, without rich's rendering machinery.

rich lays a report out well but slowly: most of the text report's time went to its generic segment and
measurement protocol. This draws the few shapes the reports use (a Group of Texts and Tables with the
default box, padding and overflow) with rich's own layout rules and helpers (word division, cell widths,
column collapsing), so the output is byte for byte what rich prints without colour
(tests/test_plain_report.py compares them over every built-in, many widths and hostile names).
Anything else (colour, markup, tabs, other table options) returns None and the caller asks rich.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from rich import box
from rich._wrap import divide_line
from rich.cells import cell_len, set_cell_size
from rich.console import Group
from rich.errors import MarkupError
from rich.markup import render as render_markup
from rich.table import Table
from rich.text import Text

# characters rich strips or acts on: left to rich
_UNPLAIN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_TRAILING_SPACE = re.compile(r"\s+$")


class _NotPlainError(Exception):
    pass


def render_plain(group: Group, *, width: int) -> str | None:
    """What rich's Console(width=width, no colour) prints for ``group``, or None if it is not drawn here."""
    if width < 8:
        return None
    out: list[str] = []
    try:
        for part in group.renderables:
            if type(part) is Text:
                _text(part, width, out)
            elif type(part) is Table:
                _table(part, width, out)
            else:
                return None
    except _NotPlainError:
        return None
    return "".join(out)


def _check(s: str) -> str:
    if _UNPLAIN.search(s):
        raise _NotPlainError
    return s


def _markup(s: str) -> str:
    """A string rich reads as markup (table cells and titles): its text, if it holds no style."""
    if "[" in s:
        try:
            text = render_markup(s, emoji=False)
        except MarkupError:
            raise _NotPlainError from None
        if text.spans:
            raise _NotPlainError
        s = text.plain
    return _check(s)


def _text(text: Text, width: int, out: list[str]) -> None:
    if text.justify is not None or text.overflow is not None or text.no_wrap or text.end != "\n":
        raise _NotPlainError
    lines = _wrap(_check(text.plain), width, justify="default", overflow="fold", no_wrap=False)
    out.append("\n".join(lines))
    out.append("\n")


def _cells(s: str) -> int:
    # printable ASCII (control characters never get here) is one cell a character
    return len(s) if s.isascii() else cell_len(s)


_WORD = re.compile(r"\s*\S+\s*")


def _divide(text: str, width: int, *, fold: bool) -> list[int]:
    """rich._wrap.divide_line, for a line of printable ASCII (one cell a character); others go to it."""
    if not text.isascii():
        if cell_len(text) <= width:
            return []  # every word fits where it is
        return divide_line(text, width, fold=fold)
    if len(text) <= width:
        return []
    breaks: list[int] = []
    offset = 0
    match = _WORD.match(text, 0)
    while match is not None:
        start, end = match.span()
        word = match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                pieces = [word[i : i + width] for i in range(0, len(word), width)]
                for i, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if i == len(pieces) - 1:
                        offset = len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
        match = _WORD.match(text, end)
    return breaks


def _rstrip_end(line: str, size: int) -> str:
    excess = len(line) - size
    if excess > 0:
        m = _TRAILING_SPACE.search(line)
        if m is not None:
            return line[: len(line) - min(len(m.group(0)), excess)]
    return line


def _truncate(line: str, width: int, overflow: str, *, pad: bool = False) -> str:
    length = _cells(line)
    if length > width:
        line = set_cell_size(line, width - 1) + "…" if overflow == "ellipsis" else set_cell_size(line, width)
    if pad and length < width:
        line += " " * (width - length)
    return line


def _wrap(text: str, width: int, *, justify: str, overflow: str, no_wrap: bool) -> list[str]:
    """Text.wrap on a plain string (rich.text)."""
    lines: list[str] = []
    for line in text.split("\n"):
        if no_wrap:
            new = [line]
        else:
            offsets = _divide(line, width, fold=overflow == "fold")
            cuts = [0, *offsets, len(line)]
            new = [_rstrip_end(line[a:b], width) for a, b in pairwise(cuts)]
        if justify == "left":
            new = [_truncate(x, width, overflow, pad=True) for x in new]
        elif justify == "right":
            new = [_truncate(x.rstrip(), width, overflow) for x in new]
            new = [" " * (width - _cells(x)) + x for x in new]
        elif justify != "default":
            raise _NotPlainError
        lines.extend(_truncate(x, width, overflow) for x in new)
    return lines


def _measure(text: str, max_width: int) -> tuple[int, int]:
    """Measurement.get of a padded (0, 1) cell holding ``text`` (Padding, then Text.__rich_measure__)."""
    if max_width < 1:
        return 0, 0
    if max_width - 2 < 1:
        return max_width, max_width
    lines = text.splitlines()
    words = text.split()
    if text.isascii():
        hi = max(map(len, lines), default=0)
        lo = max(map(len, words), default=hi)
    else:
        hi = max((cell_len(x) for x in lines), default=0)
        lo = max((cell_len(w) for w in words), default=hi)
    # normalize, with_maximum, and a zero maximum measures (0, 0)
    lo = min(max(0, lo), hi)
    hi = max(0, lo, hi)
    lo, hi = min(lo, max_width), min(hi, max_width)
    if hi < 1:
        lo = hi = 0
    return min(lo + 2, max_width), min(hi + 2, max_width)


_DEFAULTS: dict[str, Any] = {
    "width": None,
    "min_width": None,
    "expand": False,
    "show_footer": False,
    "show_edge": True,
    "show_lines": False,
    "leading": 0,
    "pad_edge": True,
    "collapse_padding": False,
    "padding": (0, 1, 0, 1),
    "caption": None,
}


def _table(table: Table, width: int, out: list[str]) -> None:
    for attr, value in _DEFAULTS.items():
        if getattr(table, attr) != value:
            raise _NotPlainError
    if table.box is not box.HEAVY_HEAD or not table.columns or not isinstance(table.title, str | None):
        raise _NotPlainError
    if table.title_justify != "left" or any(row.end_section for row in table.rows):
        raise _NotPlainError
    cols = table.columns
    cells: list[list[str]] = []
    for col in cols:
        if (
            col.width is not None
            or col.min_width is not None
            or col.max_width is not None
            or col.ratio is not None
            or col.overflow != "ellipsis"
            or col.vertical != "top"
            or col.justify not in ("left", "right")
            or col.footer
        ):
            raise _NotPlainError
        column: list[str] = []
        for c in [*([col.header] if table.show_header else []), *col._cells]:
            if type(c) is not str:
                raise _NotPlainError
            column.append(_markup(c))
        cells.append(column)
    extra = 2 + len(cols) - 1
    max_width = width - extra

    # each column's widest cell (Table._measure_column; only the maximum is used)
    widths = [
        min(max((_measure(c, max_width)[1] for c in column), default=max_width), max_width) or 1
        for column in cells
    ]
    if sum(widths) > max_width:
        widths = Table._collapse_widths(widths, [not col.no_wrap for col in cols], max_width)
        if sum(widths) > max_width:
            raise _NotPlainError  # rich's last resort (reduce every column): left to rich
        widths = [
            measure_one or 0
            for measure_one in (
                min(max((_measure(c, w)[1] for c in column), default=w), w)
                for w, column in zip(widths, cells, strict=True)
            )
        ]
    if min(widths) < 3:
        raise _NotPlainError
    table_width = sum(widths) + extra
    if table.title:
        title = _wrap(_markup(table.title), table_width, justify="left", overflow="fold", no_wrap=False)
        out.extend(x + "\n" for x in title)

    heavy = table.show_header
    top = ("┏", "━", "┳", "┓") if heavy else ("┌", "─", "┬", "┐")
    out.append(top[0] + top[2].join(top[1] * w for w in widths) + top[3] + "\n")
    rows = list(zip(*cells, strict=True))
    for index, row in enumerate(rows):
        header = heavy and index == 0
        rendered = []
        for w, col, cell in zip(widths, cols, row, strict=True):
            lines = _wrap(cell, w - 2, justify=col.justify, overflow="ellipsis", no_wrap=bool(col.no_wrap))
            rendered.append([" " + set_cell_size(x, w - 2) + " " for x in lines])
        height = max(len(r) for r in rendered)
        for w, r in zip(widths, rendered, strict=True):
            blank = " " * w
            if header:
                r[:0] = [blank] * (height - len(r))  # headers align to the bottom
            else:
                r.extend([blank] * (height - len(r)))
        bar = "┃" if header else "│"
        out.extend(bar + bar.join(r[line_no] for r in rendered) + bar + "\n" for line_no in range(height))
        if header:
            out.append("┡" + "╇".join("━" * w for w in widths) + "┩\n")
    out.append("└" + "┴".join("─" * w for w in widths) + "┘\n")
