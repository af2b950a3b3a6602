"""Durations that vary: a constant, or a named distribution. Pure values; sampling takes the caller's RNG.

Scenario files spell them as a number (constant seconds) or a one-key mapping::

    startupSeconds: 1.0
    startupSeconds: {uniform: [0.5, 2.0]}
    requestSeconds: {lognormal: {median: 0.05, p99: 0.4}}
    requestSeconds: {exponential: {mean: 0.1}}
    deregisterPropagationSeconds:
      mixture:
        - {weight: 0.999, lognormal: {median: 3, p99: 25}}
        - {weight: 0.001, uniform: [60, 150]}

A ``mixture`` draws each value from one of its components, chosen with the components' weights (which
must sum to 1): a body plus a rare long tail that no single lognormal gives. ``Dist.quantile`` and
``Dist.cdf`` are exact (closed form, or bisection on the weighted CDF for a mixture), so a lint rule or a
fix text can name "the p99 of the lag" without sampling. Nothing here reads a clock or a global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from rollsafe.model.draws import Z99 as _Z99
from rollsafe.model.draws import Draws, MixtureDraws

# The longest duration a setting may give: about 11.6 days, longer than any simulation (simulation.maxSeconds
# is at most a day), so a longer one would behave the same; the cap keeps sums of durations finite.
MAX_SECONDS = 1_000_000.0
# The lognormal's spread is capped so its float32 draws stay finite: p99 at most a million times the median.
MAX_LOGNORMAL_RATIO = 1e6
# The shortest positive median or mean: a nanosecond (float32 keeps it, and its log, exactly enough).
MIN_POSITIVE = 1e-9

_NORMAL = NormalDist()
_KINDS = ("constant", "uniform", "exponential", "lognormal")
# A mixture's weights must sum to 1 within this, so what a file says is what it means.
_WEIGHT_TOLERANCE = 1e-9
# More components than anyone writes by hand; the cap keeps a generated file from slowing every draw.
MAX_MIXTURE_COMPONENTS = 16


@dataclass(frozen=True, slots=True)
class Dist:
    """A non-negative duration distribution in seconds."""

    kind: str  # constant | uniform | exponential | lognormal | mixture
    a: float
    b: float = 0.0
    # mixture only: (weight, component) pairs, weights summing to 1; components are never mixtures
    parts: tuple[tuple[float, Dist], ...] = ()

    @staticmethod
    def constant(value: float) -> Dist:
        return Dist("constant", float(value))

    @staticmethod
    def uniform(lo: float, hi: float) -> Dist:
        return Dist("uniform", float(lo), float(hi))

    @staticmethod
    def mixture(parts: list[tuple[float, Dist]]) -> Dist:
        return Dist("mixture", 0.0, 0.0, tuple((float(w), d) for w, d in parts))

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.floating[Any]]:
        if self.kind == "mixture":
            return self._sample_mixture(rng, n)
        return Draws(self.kind, self.a, self.b).sample(rng, n)

    def _sample_mixture(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.floating[Any]]:
        # One uniform draw picks each value's component; then each component fills its share, in the
        # components' order, from the same stream: the same seed gives the same values.
        return MixtureDraws([(w, Draws(p.kind, p.a, p.b)) for w, p in self.parts]).sample(rng, n)

    def cdf(self, x: float) -> float:
        """P(value <= x)."""
        if self.kind == "mixture":
            return sum(w * part.cdf(x) for w, part in self.parts)
        if self.kind == "constant":
            return 1.0 if x >= self.a else 0.0
        if self.kind == "uniform":
            if x >= self.b:
                return 1.0
            return 0.0 if x < self.a else (x - self.a) / (self.b - self.a)
        if x <= 0:
            return 0.0
        if self.kind == "exponential":
            return -math.expm1(-x / self.a)
        return _NORMAL.cdf(math.log(x / self.a) / self._sigma())

    def quantile(self, q: float) -> float:
        """The value below which a fraction ``q`` (0 <= q <= 1) of draws fall; exact, not sampled."""
        if not 0 <= q <= 1:
            raise ValueError(f"a quantile is between 0 and 1, found {q!r}")
        if self.kind == "constant":
            return self.a
        if self.kind == "uniform":
            return self.a + q * (self.b - self.a)
        if q == 1:
            return max((p.quantile(1) for _, p in self.parts), default=math.inf)
        if self.kind == "exponential":
            return -self.a * math.log1p(-q)
        if self.kind == "lognormal":
            return 0.0 if q == 0 else self.a * math.exp(self._sigma() * _NORMAL.inv_cdf(q))
        # mixture: the weighted CDF is monotone; at the largest component quantile it is already >= q
        lo, hi = 0.0, max(p.quantile(q) for _, p in self.parts)
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            if self.cdf(mid) >= q:
                hi = mid
            else:
                lo = mid
        return hi

    def _sigma(self) -> float:
        return math.log(self.b / self.a) / _Z99

    def to_spec(self) -> Any:
        """The scenario-file spelling of this distribution."""
        if self.kind == "mixture":
            return {"mixture": [{"weight": w, **_as_mapping(p.to_spec())} for w, p in self.parts]}
        if self.kind == "constant":
            return self.a
        if self.kind == "uniform":
            return {"uniform": [self.a, self.b]}
        if self.kind == "exponential":
            return {"exponential": {"mean": self.a}}
        return {"lognormal": {"median": self.a, "p99": self.b}}


def parse_dist(spec: Any) -> Dist:
    """Turn a scenario-file spelling into a Dist; raises ValueError with a message fit for the user."""
    if isinstance(spec, bool):
        raise ValueError("expected seconds as a number or a distribution mapping, found a boolean")
    if isinstance(spec, int | float):
        return Dist.constant(_seconds(spec, "seconds"))
    if isinstance(spec, Dist):
        return spec
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(
            "expected a number of seconds or one of {uniform: [lo, hi]}, {exponential: {mean: m}}, "
            f"{{lognormal: {{median: m, p99: x}}}}, {{mixture: [{{weight: w, <kind>: <args>}}, ...]}}; "
            f"found {spec!r}"
        )
    ((kind, args),) = spec.items()
    if kind == "mixture":
        return _parse_mixture(args)
    if kind == "constant":
        return parse_dist(args)
    if kind == "uniform":
        if (
            not isinstance(args, list | tuple)
            or len(args) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in args)
        ):
            raise ValueError(f"uniform expects [lo, hi] in seconds, found {args!r}")
        lo, hi = _seconds(args[0], "uniform lo"), _seconds(args[1], "uniform hi")
        if not lo <= hi:
            raise ValueError(f"uniform expects 0 <= lo <= hi, found [{lo:g}, {hi:g}]")
        return Dist.uniform(lo, hi)
    if kind == "exponential":
        mean = _seconds(_number(args, "mean", kind), "exponential.mean")
        if mean < MIN_POSITIVE:
            raise ValueError(f"exponential expects mean >= {MIN_POSITIVE:g}, found {mean:g}")
        return Dist("exponential", mean)
    if kind == "lognormal":
        median = _seconds(_number(args, "median", kind), "lognormal.median")
        p99 = _seconds(_number(args, "p99", kind), "lognormal.p99")
        if not 0 < median < p99:
            raise ValueError(f"lognormal expects 0 < median < p99, found median={median:g}, p99={p99:g}")
        if median < MIN_POSITIVE or p99 > median * MAX_LOGNORMAL_RATIO:
            raise ValueError(
                f"lognormal expects median >= {MIN_POSITIVE:g} and p99 at most {MAX_LOGNORMAL_RATIO:g} times "
                f"the median, found median={median:g}, p99={p99:g}"
            )
        return Dist("lognormal", median, p99)
    raise ValueError(
        f"unknown distribution {kind!r}; expected constant, uniform, exponential, lognormal or mixture"
    )


def _as_mapping(spec: Any) -> dict[str, Any]:
    return spec if isinstance(spec, dict) else {"constant": spec}


def _parse_mixture(args: Any) -> Dist:
    """``[{weight: w, <kind>: <args>}, ...]``: each component one of the plain kinds, weights > 0 summing
    to 1. Each component is validated as the same spelling outside a mixture would be."""
    if not isinstance(args, list | tuple) or not args:
        raise ValueError(
            f"mixture expects a list of {{weight: w, <kind>: <args>}} components, found {args!r}"
        )
    if len(args) > MAX_MIXTURE_COMPONENTS:
        raise ValueError(f"mixture takes at most {MAX_MIXTURE_COMPONENTS} components, found {len(args)}")
    parts: list[tuple[float, Dist]] = []
    for i, comp in enumerate(args, start=1):
        where = f"mixture component {i}"
        if not isinstance(comp, dict) or "weight" not in comp:
            raise ValueError(f"{where}: expected a mapping {{weight: w, <kind>: <args>}}, found {comp!r}")
        weight = comp["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"{where}: weight expects a number, found {weight!r}")
        if not math.isfinite(weight) or not 0 < weight <= 1:
            raise ValueError(f"{where}: weight expects a number in (0, 1], found {weight!r}")
        rest = {k: v for k, v in comp.items() if k != "weight"}
        if len(rest) != 1 or next(iter(rest)) not in _KINDS:
            raise ValueError(
                f"{where}: expected the weight and exactly one of {', '.join(_KINDS)} (no nested mixture), "
                f"found {', '.join(map(str, rest)) or 'nothing'}"
            )
        try:
            part = parse_dist(rest)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        parts.append((float(weight), part))
    total = math.fsum(w for w, _ in parts)
    if abs(total - 1) > _WEIGHT_TOLERANCE:
        raise ValueError(f"mixture weights must sum to 1, found {total:g}")
    return Dist.mixture(parts)


def _seconds(value: Any, what: str) -> float:
    """A finite duration in [0, MAX_SECONDS]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} expects a number of seconds, found {value!r}")
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"expected a finite number of seconds from 0 to {MAX_SECONDS:,.0f}, found {value!r}")
    return float(value)


def _number(args: Any, key: str, kind: str) -> float:
    if not isinstance(args, dict) or key not in args:
        raise ValueError(f"{kind} expects a mapping with {key!r}, found {args!r}")
    unknown = sorted(set(args) - {"mean", "median", "p99"})
    if unknown:
        raise ValueError(f"{kind} does not take {', '.join(map(str, unknown))}")
    value = args[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{kind}.{key} expects a number, found {value!r}")
    return float(value)
