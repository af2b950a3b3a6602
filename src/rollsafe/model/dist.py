"""Durations that vary: a constant, or a named distribution. Pure values; sampling takes the caller's RNG.

Scenario files spell them as a number (constant seconds) or a one-key mapping::

    startupSeconds: 1.0
    startupSeconds: {uniform: [0.5, 2.0]}
    requestSeconds: {lognormal: {median: 0.05, p99: 0.4}}
    requestSeconds: {exponential: {mean: 0.1}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# The longest duration a setting may give: about 11.6 days, longer than any simulation (simulation.maxSeconds
# is at most a day), so a longer one would behave the same; the cap keeps sums of durations finite.
MAX_SECONDS = 1_000_000.0
# The lognormal's spread is capped so its float32 draws stay finite: p99 at most a million times the median.
MAX_LOGNORMAL_RATIO = 1e6
# The shortest positive median or mean: a nanosecond (float32 keeps it, and its log, exactly enough).
MIN_POSITIVE = 1e-9

# z-score of the 99th percentile of the standard normal, for the lognormal's (median, p99) spelling.
_Z99 = 2.3263478740408408


@dataclass(frozen=True, slots=True)
class Dist:
    """A non-negative duration distribution in seconds."""

    kind: str  # constant | uniform | exponential | lognormal
    a: float
    b: float = 0.0

    @staticmethod
    def constant(value: float) -> Dist:
        return Dist("constant", float(value))

    @staticmethod
    def uniform(lo: float, hi: float) -> Dist:
        return Dist("uniform", float(lo), float(hi))

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.floating[Any]]:
        if self.kind == "constant":
            return np.full(n, self.a, dtype=np.float64)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, n)
        # Exponential and lognormal draws are float32: twice as fast, and 7 significant digits are plenty
        # for a duration. Added to float64 times, they are widened exactly.
        if self.kind == "exponential":
            x = rng.standard_exponential(n, dtype=np.float32)
            x *= np.float32(self.a)
            return x
        sigma = math.log(self.b / self.a) / _Z99
        z = rng.standard_normal(n, dtype=np.float32)
        z *= np.float32(sigma)
        z += np.float32(math.log(self.a))
        np.exp(z, out=z)
        return z

    def to_spec(self) -> Any:
        """The scenario-file spelling of this distribution."""
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
            f"{{lognormal: {{median: m, p99: x}}}}; found {spec!r}"
        )
    ((kind, args),) = spec.items()
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
    raise ValueError(f"unknown distribution {kind!r}; expected constant, uniform, exponential or lognormal")


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
