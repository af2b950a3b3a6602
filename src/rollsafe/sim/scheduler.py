"""Virtual-time Schedulers: a heap keyed by (time, tie key) that jumps from event to event.

``VirtualScheduler`` runs equal-time events in the order they were scheduled, so a run is a pure function
of its inputs. ``TieShufflingScheduler`` runs them in a seeded random (or reversed) order instead: the
control plane must be correct under any order of equal-time events, as it is on asyncio, which does not
keep FIFO order for equal deadlines. Neither reads a wall clock.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable


class _Entry:
    """A scheduled call; implements rollsafe.control.scheduler.Handle."""

    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualScheduler:
    """Implements rollsafe.control.scheduler.Scheduler on simulated seconds; equal times run FIFO."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        # (time, tie key, entry): the tie key is unique, so entries are never compared
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = 0
        self.events = 0
        # called after every event; tests use it to check invariants at every step
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None]) -> _Entry:
        self._seq += 1
        entry = _Entry(fn)
        heapq.heappush(self._heap, (max(t, self._now), self._seq, entry))
        return entry

    def run(self, until: float) -> None:
        """Run events in time order until none is left or the next is after ``until``; then the clock
        reads ``until``."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            if heap[0][0] > until:
                break
            t, _, entry = pop(heap)
            if entry.cancelled:
                continue
            self._now = t
            self.events += 1
            entry.fn()
            if self.after_each is not None:
                self.after_each()
        self._now = max(self._now, until)


class TieShufflingScheduler(VirtualScheduler):
    """A VirtualScheduler that runs equal-time events in a seeded random order, or in reverse order of
    scheduling (``seed=None``): an adversary for any code that relies on tie order."""

    def __init__(self, seed: int | None, start: float = 0.0) -> None:
        super().__init__(start)
        # a test adversary, not model randomness: it draws no named stream, so it changes no stream
        self._rng = random.Random(seed) if seed is not None else None

    def call_at(self, t: float, fn: Callable[[], None]) -> _Entry:
        self._seq += 1
        # reversed: last scheduled, first run; shuffled: random high bits, and the sequence in the low
        # bits keeps keys unique
        key = -self._seq if self._rng is None else (self._rng.getrandbits(40) << 32) | self._seq
        entry = _Entry(fn)
        heapq.heappush(self._heap, (max(t, self._now), key, entry))
        return entry
