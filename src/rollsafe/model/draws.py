"""The numpy draws behind ``Dist.sample``, with each distribution's parameters worked out once.

They live apart from the frozen dataclass in model/dist.py, which stays interpreted (a compiled one cannot be
unpickled, and scenarios travel to process pools), so that the compiled build compiles them: the control
plane's samplers keep one of these per distribution and call it for every block.
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# z-score of the 99th percentile of the standard normal, for the lognormal's (median, p99) spelling.
Z99: Final = 2.3263478740408408

_CONSTANT: Final = 0
_UNIFORM: Final = 1
_EXPONENTIAL: Final = 2
_LOGNORMAL: Final = 3
_KINDS: Final = {
    "constant": _CONSTANT,
    "uniform": _UNIFORM,
    "exponential": _EXPONENTIAL,
    "lognormal": _LOGNORMAL,
}


class Draws:
    """How a plain distribution (not a mixture) of ``kind`` with parameters ``a`` and ``b`` (as in ``Dist``)
    draws ``n`` values. Uniform, exponential and lognormal values are each drawn on their own from the
    stream, in order, so splitting ``n`` into several calls gives the same values."""

    def __init__(self, kind: str, a: float, b: float) -> None:
        if kind not in _KINDS:
            raise ValueError(f"no plain distribution of kind {kind!r}")
        self._kind = _KINDS[kind]
        self._a, self._b = a, b
        # Exponential and lognormal draws are float32: twice as fast, and 7 significant digits are plenty
        # for a duration. Added to float64 times, they are widened exactly.
        # (as 0-d arrays: numpy scalars cost a ufunc more to take in, for the same float32 arithmetic)
        self._scale: Any = None
        self._shift: Any = None
        if self._kind == _EXPONENTIAL:
            self._scale = np.array(a, np.float32)
        elif self._kind == _LOGNORMAL:
            self._scale = np.array(math.log(b / a) / Z99, np.float32)
            self._shift = np.array(math.log(a), np.float32)

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.floating[Any]]:
        kind = self._kind
        if kind == _UNIFORM:
            return rng.uniform(self._a, self._b, n)
        if kind == _LOGNORMAL:
            z = rng.standard_normal(n, dtype=np.float32)
            z *= self._scale
            z += self._shift
            np.exp(z, out=z)
            return z
        if kind == _EXPONENTIAL:
            x = rng.standard_exponential(n, dtype=np.float32)
            x *= self._scale
            return x
        return np.full(n, self._a, dtype=np.float64)


class MixtureDraws:
    """A mixture's draws: one uniform draw picks each value's component; then each component fills its
    share, in the components' order, from the same stream. So a block's values depend on its size."""

    def __init__(self, parts: list[tuple[float, Draws]]) -> None:
        self.parts = [d for _, d in parts]
        # np.cumsum's sums, added in the same order (a few times cheaper for a handful of weights)
        self._cum = np.array(list(accumulate(w for w, _ in parts)), np.float64)
        self._last = len(parts) - 1

    def picks(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.intp]:
        """The component of each of the block's ``n`` values (the block's first draws)."""
        picked: npt.NDArray[np.intp] = np.minimum(
            np.searchsorted(self._cum, rng.random(n), side="right"), self._last
        )
        return picked

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.floating[Any]]:
        pick = self.picks(rng, n)
        out = np.empty(n, dtype=np.float64)
        for i, part in enumerate(self.parts):
            mask = pick == i
            count = int(mask.sum())
            if count:
                out[mask] = part.sample(rng, count)
        return out
