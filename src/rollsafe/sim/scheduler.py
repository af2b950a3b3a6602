"""Virtual-time Schedulers: they jump from event to event and never read a wall clock.

``VirtualScheduler`` runs equal-time events in the order they were scheduled, so a run is a pure function
of its inputs. ``TieShufflingScheduler`` runs them in a seeded random (or reversed) order instead: the
control plane must be correct under any order of equal-time events, as it is on asyncio, which does not
keep FIFO order for equal deadlines.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappop, heappush


class _Entry:
    """A scheduled call; implements rollsafe.control.scheduler.Handle."""

    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualScheduler:
    """Implements rollsafe.control.scheduler.Scheduler on simulated seconds; equal times run FIFO.

    Two queues give that order. Calls for a later time wait in a heap keyed by (time, sequence). Calls for
    the current instant (a work queue's add, a write with no latency) go to a FIFO of their own: each was
    scheduled after every heap entry due at this instant (those were scheduled before the clock got
    here), so the heap's entries for the instant run first, then the FIFO in order. That is the order one
    heap keyed by (time, sequence) gives, without its cost for the many calls that are due at once.
    """

    # FIFO ties: a run of calls scheduled together for one instant runs back to back (call_each_at)
    fifo_ties = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        # (time, tie key, entry): the tie key is unique, so entries are never compared
        self._heap: list[tuple[float, int, _Entry]] = []
        self._due: deque[_Entry] = deque()  # the calls for the current instant, in scheduling order
        self._seq = 0
        self.events = 0
        # called after every event; tests use it to check invariants at every step
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None]) -> _Entry:
        entry = _Entry(fn)
        if t <= self._now:
            self._due.append(entry)
        else:
            self._seq += 1
            heappush(self._heap, (t, self._seq, entry))
        return entry

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        """Run each of ``fns`` at ``t``, in order, as consecutive ``call_at`` calls would: with FIFO ties
        nothing can run between them, so one entry runs them all (each still counts as an event)."""
        if len(fns) == 1:
            self.call_at(t, fns[0])
        elif fns:
            self.call_at(t, lambda: self._each(fns))

    def _each(self, fns: Sequence[Callable[[], None]]) -> None:
        after = self.after_each
        for i, fn in enumerate(fns):
            if i:
                self.events += 1
                if after is not None:
                    after()
            fn()

    def run(self, until: float) -> None:
        """Run events in time order until none is left or the next is after ``until``; then the clock
        reads ``until``."""
        heap, due = self._heap, self._due
        pop, popleft = heappop, due.popleft
        now = self._now
        while True:
            if heap and heap[0][0] <= now:  # scheduled before the clock reached this instant: first
                entry = pop(heap)[2]
            elif due:
                entry = popleft()
            elif heap and heap[0][0] <= until:
                t, _, entry = pop(heap)
                self._now = now = t
            else:
                break
            if entry.cancelled:
                continue
            self.events += 1
            entry.fn()
            if self.after_each is not None:
                self.after_each()
        self._now = max(now, until)


class TieShufflingScheduler(VirtualScheduler):
    """A VirtualScheduler that runs equal-time events in a seeded random order, or in reverse order of
    scheduling (``seed=None``): an adversary for any code that relies on tie order."""

    fifo_ties = False

    def __init__(self, seed: int | None, start: float = 0.0) -> None:
        super().__init__(start)
        # a test adversary, not model randomness: it draws no named stream, so it changes no stream
        self._rng = random.Random(seed) if seed is not None else None

    def call_at(self, t: float, fn: Callable[[], None]) -> _Entry:
        self._seq += 1
        # reversed: last scheduled, first run; shuffled: random high bits, and the sequence in the low
        # bits keeps keys unique. Every call goes to the heap (never the FIFO), so ties meet there.
        key = -self._seq if self._rng is None else (self._rng.getrandbits(40) << 32) | self._seq
        entry = _Entry(fn)
        heappush(self._heap, (max(t, self._now), key, entry))
        return entry

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        for fn in fns:  # separate entries: the adversary may run anything between them
            self.call_at(t, fn)
