"""Distributions as users read them: "lognormal, median 3 s, p99 35 s", "uniform 1–5 s". One helper for
every report line that names an assumed distribution. Pure; it samples nothing.
"""

from __future__ import annotations

from typing import Any

from rollsafe.model.dist import Dist, parse_dist


def _s(x: float) -> str:
    if x >= 10:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.1f}".rstrip("0").rstrip(".") + " s"
    if x >= 0.001:
        return f"{x * 1000:.0f} ms"
    return f"{x:g} s"


def describe(value: Any) -> str:
    """A Dist, or any scenario-file spelling of one (or of a plain setting), in words."""
    if not isinstance(value, Dist):
        if isinstance(value, bool) or not isinstance(value, int | float | dict):
            return "null" if value is None else str(value)
        try:
            value = parse_dist(value)
        except ValueError:
            return str(value)
    d = value
    if d.kind == "constant":
        return _s(d.a)
    if d.kind == "uniform":
        lo, hi = _s(d.a), _s(d.b)
        unit = lo.rsplit(" ", 1)[-1]
        if unit == hi.rsplit(" ", 1)[-1]:  # "1–5 s", not "1 s–5 s"
            lo = lo.removesuffix(" " + unit)
        return f"uniform {lo}–{hi}"
    if d.kind == "exponential":
        return f"exponential, mean {_s(d.a)}"
    if d.kind == "lognormal":
        return f"lognormal, median {_s(d.a)}, p99 {_s(d.b)}"
    quantile = getattr(d, "quantile", None)  # kinds added later (mixture) describe themselves by quantiles
    if callable(quantile):
        try:
            return (
                f"{d.kind}, median {_s(float(quantile(0.5)))}, p99 {_s(float(quantile(0.99)))}, "
                f"p99.9 {_s(float(quantile(0.999)))}"
            )
        except (ValueError, TypeError, NotImplementedError):
            pass
    return f"{d.kind} {d.to_spec()}"
