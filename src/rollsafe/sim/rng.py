"""Named random streams derived from the run's seed with hashlib: adding a stream never changes another.

Stream ``name`` of run ``seed`` is ``SFC64(stream_seed(seed, name))``: numpy seeds it through a
``SeedSequence`` of that integer. That hashing is most of the cost of making a stream (about 12 µs of 13),
and a small run makes two dozen, so ``SeededStreams`` hands SFC64 a state it computed itself: the same
generator, bit for bit (the tests check both ways against numpy's SeedSequence). Interpreted, it computes
the state of every name in ``RUN_STREAMS`` at once, vectorized over the names (any other name is seeded
the ordinary way); compiled with mypyc, it computes each stream's state when it is asked for, in machine
integers, which is cheaper still.
"""

from __future__ import annotations

import hashlib
import types
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.random.bit_generator import ISeedSequence

if TYPE_CHECKING:
    from mypy_extensions import i64  # mypyc's native 64-bit integer; a plain int when interpreted

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
_MASK: Final = 0xFFFFFFFF
_INIT_A: Final = 0x43B0D7E5
_MULT_A: Final = 0x931E8875
_INIT_B: Final = 0x8B51F9DD
_MULT_B: Final = 0x58F38DED
_MIX_L: Final = 0xCA01F9DD
_MIX_R: Final = 0x4973F715
_MIX_L32, _MIX_R32 = np.uint32(_MIX_L), np.uint32(_MIX_R)
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
            r = _MIX_L32 * pool[dst] - _MIX_R32 * v
            pool[dst] = r ^ (r >> _SHIFT)
        before, after = _HASH_B
        v = (pool[_DRAWN] ^ before) * after
        out = (v ^ (v >> _SHIFT)).T
    # pairs of little-endian 32-bit words are the 64-bit words, as generate_state assembles them
    return np.ascontiguousarray(out).astype("<u4").view("<u8").astype(np.uint64)


# The same seeding for one integer, step by step as numpy's C code does it: what the compiled build uses
# (mypyc makes it under a microsecond a stream, where numpy's per-call overhead is most of the vectorized
# version's 50 µs); interpreted, it is slower than seeding them all with numpy. Its integers are mypyc's
# native 64-bit ones (plain ints when interpreted), so a 32-bit product is taken in two halves: no value
# passes 2**49.


def _mul32(x: i64, c: i64) -> i64:
    """(x * c) mod 2**32 for 32-bit x and c."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _MASK


def _hashmix(value: i64, h: i64, mult: i64) -> tuple[i64, i64]:
    """numpy's hashmix of ``value`` with the hash constant ``h``; and the constant, advanced."""
    value ^= h
    h = _mul32(h, mult)
    value = _mul32(value, h)
    return value ^ (value >> 16), h


def _mix(x: i64, y: i64) -> i64:
    r = (_mul32(x, _MIX_L) - _mul32(y, _MIX_R)) & _MASK
    return r ^ (r >> 16)


def seed_sequence_state(entropy: int) -> list[int]:
    """``SeedSequence(entropy).generate_state(3, np.uint64).tolist()`` for one ``0 <= entropy < 2**64``."""
    lo: i64 = entropy & _MASK
    hi: i64 = entropy >> 32
    h: i64 = _INIT_A
    # the entropy's words, and zeros, hashed into the pool of four
    p0, h = _hashmix(lo, h, _MULT_A)
    p1, h = _hashmix(hi, h, _MULT_A)
    p2, h = _hashmix(0, h, _MULT_A)
    p3, h = _hashmix(0, h, _MULT_A)
    # each pool word hashed and mixed into the three others, in order
    v, h = _hashmix(p0, h, _MULT_A)
    p1 = _mix(p1, v)
    v, h = _hashmix(p0, h, _MULT_A)
    p2 = _mix(p2, v)
    v, h = _hashmix(p0, h, _MULT_A)
    p3 = _mix(p3, v)
    v, h = _hashmix(p1, h, _MULT_A)
    p0 = _mix(p0, v)
    v, h = _hashmix(p1, h, _MULT_A)
    p2 = _mix(p2, v)
    v, h = _hashmix(p1, h, _MULT_A)
    p3 = _mix(p3, v)
    v, h = _hashmix(p2, h, _MULT_A)
    p0 = _mix(p0, v)
    v, h = _hashmix(p2, h, _MULT_A)
    p1 = _mix(p1, v)
    v, h = _hashmix(p2, h, _MULT_A)
    p3 = _mix(p3, v)
    v, h = _hashmix(p3, h, _MULT_A)
    p0 = _mix(p0, v)
    v, h = _hashmix(p3, h, _MULT_A)
    p1 = _mix(p1, v)
    v, h = _hashmix(p3, h, _MULT_A)
    p2 = _mix(p2, v)
    # generate_state: six 32-bit words hashed from the pool's 0, 1, 2, 3, 0, 1 (with the other constants),
    # paired low word first into three 64-bit words
    h = _INIT_B
    w0, h = _hashmix(p0, h, _MULT_B)
    w1, h = _hashmix(p1, h, _MULT_B)
    w2, h = _hashmix(p2, h, _MULT_B)
    w3, h = _hashmix(p3, h, _MULT_B)
    w4, h = _hashmix(p0, h, _MULT_B)
    w5, h = _hashmix(p1, h, _MULT_B)
    return [int(w0) | int(w1) << 32, int(w2) | int(w3) << 32, int(w4) | int(w5) << 32]


# True in the mypyc-compiled build, whose functions are builtins rather than Python functions
COMPILED: Final = not isinstance(_mix, types.FunctionType)


class _Seeded(ISeedSequence):
    """A SeedSequence whose state is already computed: what SFC64 asks it for, it returns."""

    def __init__(self, state: np.ndarray[Any, np.dtype[np.uint64]]) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray[Any, Any]:
        if n_words != len(self._state) or (dtype is not np.uint64 and np.dtype(dtype) != np.uint64):
            raise ValueError("a precomputed seed state gives SFC64's three 64-bit words only")
        return self._state


class SeededStreams:
    """Implements rollsafe.control.scheduler.Streams. SFC64 is numpy's fastest bit generator here (about
    a quarter faster than PCG64 on the request draws) and passes the usual statistical test batteries."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._states: dict[str, np.ndarray[Any, np.dtype[np.uint64]]] | None = None

    def rng(self, name: str) -> np.random.Generator:
        if COMPILED:
            state = np.array(seed_sequence_state(stream_seed(self.seed, name)), np.uint64)
        else:
            if self._states is None:  # the first stream asked for: seed them all
                rows = seed_sequence_states([stream_seed(self.seed, n) for n in RUN_STREAMS])
                self._states = dict(zip(RUN_STREAMS, rows, strict=True))
            listed = self._states.get(name)
            if listed is None:
                return np.random.Generator(np.random.SFC64(stream_seed(self.seed, name)))
            state = listed
        # numpy's BitGenerator takes any ISeedSequence (its documented extension point); the stubs list
        # only SeedSequence
        return np.random.Generator(np.random.SFC64(_Seeded(state)))  # type: ignore[arg-type]
