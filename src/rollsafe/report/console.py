"""Rendering rich output to a string, the same way for every report."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType


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
