"""Named random streams derived from the run's seed with hashlib: adding a stream never changes another.

Stream ``name`` of run ``seed`` is ``SFC64(stream_seed(seed, name))``: numpy seeds it through a
``SeedSequence`` of that integer. That hashing is most of the cost of making a stream (about 12 µs of 13),
and a small run makes two dozen. So ``SeededStreams`` computes the SeedSequence state of every name in
``RUN_STREAMS`` at once, vectorized over the names, and hands SFC64 the finished state: the same
generator, bit for bit (tests/test_units.py checks it against numpy's SeedSequence). Any other name is
seeded the ordinary way.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

# The streams a simulated run asks for: the control plane's, then the data plane's. A name missing here
# still works (seeded one at a time); tests/test_units.py checks that the built-ins need no other.
RUN_STREAMS = (
    "api/latency",
    "api/watch",
    "pods/uid",
    "app/startup",
    "kubelet/scheduling",
    "kubelet/sandbox",
    "kubelet/image-pull",
    "kubelet/teardown",
    "kubelet/probe-phase",
    "endpointslice/lag",
    "alb/register-propagation",
    "alb/register-propagation-node",
    "alb/deregister-propagation",
    "alb/deregister-propagation-node",
    "alb/hc-phase",
    "lbc/describe-target-health",
    "lbc/register-targets",
    "lbc/deregister-targets",
    *(f"kube-proxy/{node}" for node in range(8)),  # one per worker node (instance targets)
    "traffic/arrivals",
    "traffic/node",
    "traffic/service",
    "traffic/pick",
)


def stream_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# numpy's SeedSequence (numpy/random/bit_generator.pyx, after M. O'Neill's seed_seq): 32-bit words, a pool
# of 4, and hash constants that advance by a fixed multiplier with every value mixed, whatever the data
_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_SHIFT = np.uint32(16)


def _constants(h: int, mult: int, n: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The hash constant before and after each of ``n`` steps, as two columns (one row per step)."""
    before, after = [], []
    for _ in range(n):
        before.append(h)
        h = (h * mult) & _MASK
        after.append(h)
    return np.array(before, np.uint32)[:, None], np.array(after, np.uint32)[:, None]


_HASH_A = _constants(_INIT_A, _MULT_A, 4 + 12)  # mixing the entropy into the pool
_HASH_B = _constants(_INIT_B, _MULT_B, 6)  # drawing 3 uint64 (6 uint32) from it
# the pool's mixing: each source word into the three others, in order; the three don't depend on each other
_OTHERS = [[dst for dst in range(4) if dst != src] for src in range(4)]
_DRAWN = [i % 4 for i in range(6)]  # the pool word each drawn uint32 hashes


def seed_sequence_states(entropy: list[int]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """``SeedSequence(e).generate_state(3, np.uint64)`` for each 64-bit ``e``, all at once (one row each).

    An integer below 2**64 is at most two 32-bit words, fewer than the pool's four, so only the pool's
    own mixing runs; a one-word integer mixes exactly as two words with a zero high word. Array rows are
    the pool's words (and the drawn ones); columns are the entropies."""
    e = np.array(entropy, dtype=np.uint64)
    words = np.zeros((4, len(entropy)), np.uint32)
    words[0] = e & np.uint64(_MASK)
    words[1] = e >> np.uint64(32)
    before, after = _HASH_A
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as in the C code
        v = (words ^ before[:4]) * after[:4]
        pool = v ^ (v >> _SHIFT)
        step = 4
        for src, dst in enumerate(_OTHERS):
            # hashmix(pool[src]) with the next three constants, mixed into the three other words
            v = (pool[src] ^ before[step : step + 3]) * after[step : step + 3]
            v ^= v >> _SHIFT
            step += 3
            r = _MIX_L * pool[dst] - _MIX_R * v
            pool[dst] = r ^ (r >> _SHIFT)
        before, after = _HASH_B
        v = (pool[_DRAWN] ^ before) * after
        out = (v ^ (v >> _SHIFT)).T
    # pairs of little-endian 32-bit words are the 64-bit words, as generate_state assembles them
    return np.ascontiguousarray(out).astype("<u4").view("<u8").astype(np.uint64)


class _Seeded(ISeedSequence):
    """A SeedSequence whose state is already computed: what SFC64 asks it for, it returns."""

    def __init__(self, state: np.ndarray[Any, np.dtype[np.uint64]]) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray[Any, Any]:
        if n_words != len(self._state) or np.dtype(dtype) != np.uint64:
            raise ValueError("a precomputed seed state gives SFC64's three 64-bit words only")
        return self._state


class SeededStreams:
    """Implements rollsafe.control.scheduler.Streams. SFC64 is numpy's fastest bit generator here (about
    a quarter faster than PCG64 on the request draws) and passes the usual statistical test batteries."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._states: dict[str, np.ndarray[Any, np.dtype[np.uint64]]] | None = None

    def rng(self, name: str) -> np.random.Generator:
        if self._states is None:  # the first stream asked for: seed them all
            rows = seed_sequence_states([stream_seed(self.seed, n) for n in RUN_STREAMS])
            self._states = dict(zip(RUN_STREAMS, rows, strict=True))
        state = self._states.get(name)
        if state is None:
            return np.random.Generator(np.random.SFC64(stream_seed(self.seed, name)))
        # numpy's BitGenerator takes any ISeedSequence (its documented extension point); the stubs list
        # only SeedSequence
        return np.random.Generator(np.random.SFC64(_Seeded(state)))  # type: ignore[arg-type]
