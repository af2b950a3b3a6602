"""The interfaces the control plane runs on (Scheduler, Streams) and a work queue built only on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rollsafe.model.dist import Dist
from rollsafe.model.draws import Draws, MixtureDraws


class Handle(Protocol):
    """A scheduled call (like asyncio.TimerHandle)."""

    def cancel(self) -> None:
        """The call will not run; cancelling twice, or after it ran, does nothing."""


class Scheduler(Protocol):
    """Time for the control plane. ``now()`` in seconds since the rollout began.

    ``call_at(t, fn)`` runs ``fn`` at ``t`` (at once if ``t`` is past). Calls at equal times may run in
    any order: no component may rely on tie order (asyncio's loop does not keep it).
    """

    def now(self) -> float: ...

    def call_at(self, t: float, fn: Callable[[], None]) -> Handle: ...

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        """``call_at(t, fn)`` for each of ``fns`` in order (an API server's watch fan-out); a scheduler
        whose ties run FIFO may run them as one entry, since nothing could run between them."""


class Streams(Protocol):
    """Named random streams derived from the run's seed; adding a stream never changes another."""

    def rng(self, name: str) -> np.random.Generator: ...


class Sampler:
    """Draws from one distribution on one named stream, in blocks (fast, and still deterministic).

    For a distribution that draws each value on its own from the stream (uniform, exponential, lognormal),
    how the draws are split into blocks does not change them, so blocks start small and double up to 256:
    a sampler that hands out a few values draws few more, and a busy one soon draws 256 at a time. A
    mixture picks the components of a whole block first, so its blocks are always 256, but its components
    draw their values as they are handed out (``_LazyMixture``); tests/test_units.py and
    tests/test_rng_blocks.py check all of it. The draws are model/draws.py's, as ``Dist.sample``'s are.
    """

    __slots__ = (
        "_a", "_block", "_constant", "_draws", "_i", "_mixture", "_name", "_next", "_rng", "_streams",
    )  # fmt: skip

    BLOCK = 256
    FIRST_BLOCK = 16

    def __init__(self, streams: Streams, name: str, dist: Dist) -> None:
        self._streams, self._name = streams, name
        self._rng: np.random.Generator | None = None  # made at the first draw: a constant never draws
        self._block: list[float] = []
        self._i = 0
        self._constant = dist.kind == "constant"
        self._a = dist.a
        self._draws: Draws | None = None
        self._mixture: _LazyMixture | None = None
        if dist.kind == "mixture":
            parts = MixtureDraws([(w, Draws(p.kind, p.a, p.b)) for w, p in dist.parts])
            self._mixture = _LazyMixture(parts, self.BLOCK)
        else:
            self._draws = Draws(dist.kind, dist.a, dist.b)
        self._next = self.FIRST_BLOCK

    def __call__(self) -> float:
        i = self._i
        if i < len(self._block):
            self._i = i + 1
            return self._block[i]
        if self._constant:
            return self._a
        return self._refill()

    def _refill(self) -> float:
        """Draws the next block and hands out its first value."""
        rng = self._rng
        if rng is None:
            rng = self._rng = self._streams.rng(self._name)
        mixture = self._mixture
        if mixture is not None:
            return mixture.next(rng)
        draws = self._draws
        assert draws is not None
        # as Python floats: the same values (float32 draws widen exactly), cheaper to hand out one by one
        block: list[float] = draws.sample(rng, self._next).tolist()
        if self._next < self.BLOCK:
            self._next = min(2 * self._next, self.BLOCK)
        self._block = block
        self._i = 1
        return block[0]


class _LazyMixture:
    """A mixture's values in the order ``MixtureDraws.sample(rng, block)`` gives them, block after block,
    with each component's values drawn only as they are handed out.

    A block's first draws pick its values' components; then the first component draws its share, then the
    second, and so on. A component draws each value on its own (it is never a mixture), so its share may be
    drawn in pieces, as long as they come in order: a piece when a value of it is wanted, and the rest of it
    before a later component's first value. A run that hands out six values draws 256 picks and 16 values,
    not 256 values.
    """

    def __init__(self, draws: MixtureDraws, block: int) -> None:
        self._parts = draws.parts
        self._draws = draws
        self._size = block
        self._picks: list[int] = []  # the component of each of the block's values
        self._j = 0  # the next of them to hand out
        self._counts: list[int] = []  # each component's share of the block
        self._values: list[list[float]] = []  # each component's values drawn so far
        self._taken: list[int] = []  # how many of those were handed out
        self._at = 0  # the component drawing now: those before it have drawn their whole share

    def next(self, rng: np.random.Generator) -> float:
        j = self._j
        if j == len(self._picks):
            self._start(rng)
            j = 0
        self._j = j + 1
        p = self._picks[j]
        values = self._values[p]
        k = self._taken[p]
        self._taken[p] = k + 1
        if k == len(values):
            self._draw(rng, p)
        return values[k]

    def _start(self, rng: np.random.Generator) -> None:
        # every value of the last block was handed out, so every component drew its whole share of it
        n = len(self._parts)
        picks = self._draws.picks(rng, self._size)
        self._counts = np.bincount(picks, minlength=n).tolist()
        self._picks = picks.tolist()
        self._values = [[] for _ in range(n)]
        self._taken = [0] * n
        self._at = 0

    def _complete(self, rng: np.random.Generator, stop: int) -> None:
        """The components before ``stop`` draw the rest of their shares, in order."""
        while self._at < stop:
            p = self._at
            values = self._values[p]
            rest = self._counts[p] - len(values)
            if rest:
                values.extend(self._parts[p].sample(rng, rest).tolist())
            self._at = p + 1

    def _draw(self, rng: np.random.Generator, p: int) -> None:
        """Component ``p`` draws at least its next value: 16, then as many as it has drawn."""
        self._complete(rng, p)
        values = self._values[p]
        have = len(values)
        values.extend(self._parts[p].sample(rng, min(max(16, have), self._counts[p] - have)).tolist())


class WorkQueue:
    """One controller work-queue key: never processed concurrently with itself, changes coalesce.

    Mirrors client-go's workqueue for a single key: ``add()`` while processing marks the key dirty so it
    runs once more afterwards; ``add_after(d)`` is AddAfter: one waiting entry per key, and a new one
    only moves it earlier (delaying_queue.go).
    ``process`` does the work and returns how long it kept the worker busy (its API calls).
    """

    def __init__(self, sched: Scheduler, process: Callable[[], float]) -> None:
        self._sched = sched
        self._process = process
        self._busy = False
        self._dirty = False
        self._queued = False
        # the one AddAfter waiting for this key (client-go keeps one entry per item, the earliest)
        self._waiting_until: float | None = None
        self._waiting: Handle | None = None
        # bound once: a key is queued, run and done hundreds of times in a run
        self._run_cb: Callable[[], None] = self._run
        self._done_cb: Callable[[], None] = self._done
        self._ready_cb: Callable[[], None] = self._ready

    def add(self) -> None:
        """Queue the key now: coalesces with a pending add, marks dirty while processing."""
        if self._busy:
            self._dirty = True
            return
        if self._queued:
            return
        self._queued = True
        self._sched.call_at(self._sched.now(), self._run_cb)

    def add_after(self, delay_s: float) -> None:
        """AddAfter: the key is added when the delay has passed (a pending add does not absorb it)."""
        self.add_at(self._sched.now() + delay_s)

    def add_at(self, t: float) -> None:
        if t <= self._sched.now():
            self.add()
            return
        if self._waiting_until is not None and self._waiting_until <= t:
            return
        if self._waiting is not None:
            self._waiting.cancel()
        self._waiting_until = t
        self._waiting = self._sched.call_at(t, self._ready_cb)

    def _ready(self) -> None:
        self._waiting_until = None
        self._waiting = None
        self.add()

    def _run(self) -> None:
        self._queued = False
        if self._busy:
            self._dirty = True
            return
        self._busy = True
        busy_s = self._process()
        self._sched.call_at(self._sched.now() + busy_s, self._done_cb)

    def _done(self) -> None:
        self._busy = False
        if self._dirty:
            self._dirty = False
            self.add()
