"""Rendering rich output to a string, the same way for every report."""

from __future__ import annotations

import io
import re

from rich.console import Console, RenderableType

# What a terminal would obey rather than show: C0 controls (ESC starts \e[2J, \e]0;title), DEL, C1
# controls (\x9b is CSI on some terminals), bidirectional overrides and isolates, line separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_KEEP_NEWLINES = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _escape(match: re.Match[str]) -> str:
    c = ord(match.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every character a terminal would act on written as an escape (``\x1b``, ``\u202e``):
    for names and any other user text printed on a terminal. ``newlines``: keep line breaks (messages)."""
    return (_UNSAFE_KEEP_NEWLINES if newlines else _UNSAFE).sub(_escape, text)


def to_text(renderable: RenderableType, *, width: int, color: bool | None) -> str:
    """``color``: False for plain text, True to force colour, None to let rich decide (it honours
    NO_COLOR and TERM=dumb)."""
    buf = io.StringIO()
    Console(
        file=buf,
        width=width,
        color_system=None if color is False else "auto",
        force_terminal=True if color else None,
        highlight=False,
        emoji=False,
    ).print(renderable)
    return buf.getvalue()
