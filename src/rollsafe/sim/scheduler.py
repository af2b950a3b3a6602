"""Virtual-time Schedulers: they jump from event to event and never read a wall clock.

``VirtualScheduler`` runs equal-time events in the order they were scheduled, so a run is a pure function
of its inputs. ``TieShufflingScheduler`` runs them in a seeded random (or reversed) order instead: the
control plane must be correct under any order of equal-time events, as it is on asyncio, which does not
keep FIFO order for equal deadlines.
"""

from __future__ import annotations

import random
import types
from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from typing import Final


class _Entry:
    """A scheduled call; implements rollsafe.control.scheduler.Handle."""

    __slots__ = ("cancelled", "fn", "key", "t")

    def __init__(self, fn: Callable[[], None], t: float = 0.0, key: int = 0) -> None:
        self.fn = fn
        self.cancelled = False
        self.t = t  # its time and tie key, on the heap of entries (_ENTRIES_ON_HEAP)
        self.key = key

    def __lt__(self, other: _Entry) -> bool:
        return self.t < other.t or (self.t == other.t and self.key < other.key)

    def cancel(self) -> None:
        self.cancelled = True


# How the heap holds its entries. Compiled with mypyc (tools/build_compiled.py), each entry goes on the
# heap itself and compares by (time, tie key) in native code, cutting the control plane by about 8 %;
# interpreted, a Python-level __lt__ per comparison is slower than comparing tuples, so the heap holds
# (time, tie key, entry). Tie keys are unique, so (time, tie key) orders entries totally: both heaps pop
# the same entries in the same order (tests/test_scheduler.py runs both layouts on the same programs).
# Compiled, methods are builtins rather than Python functions (sim/rng.py tells the builds apart so too).
_ENTRIES_ON_HEAP: Final = not isinstance(_Entry.__lt__, types.FunctionType)


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
        # (time, tie key, entry): the tie key is unique, so entries are never compared; or, compiled, the
        # entries themselves (one of the two stays empty)
        self._heap: list[tuple[float, int, _Entry]] = []
        self._entries: list[_Entry] = []
        self._due: deque[_Entry] = deque()  # the calls for the current instant, in scheduling order
        self._seq = 0
        self.events = 0
        # called after every event; tests use it to check invariants at every step
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None]) -> _Entry:
        if t <= self._now:
            entry = _Entry(fn)
            self._due.append(entry)
            return entry
        self._seq += 1
        return self._push(t, self._seq, fn)

    def _push(self, t: float, key: int, fn: Callable[[], None]) -> _Entry:
        """A new entry for ``t`` on the heap, with tie key ``key``."""
        if _ENTRIES_ON_HEAP:
            entry = _Entry(fn, t, key)
            heappush(self._entries, entry)
        else:
            entry = _Entry(fn)
            heappush(self._heap, (t, key, entry))
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
        heap, entries, due = self._heap, self._entries, self._due
        pop, popleft = heappop, due.popleft
        on_heap = _ENTRIES_ON_HEAP
        now = self._now
        while True:
            if on_heap:
                if entries and entries[0].t <= now:  # scheduled before the clock got here: first
                    entry = pop(entries)
                elif due:
                    entry = popleft()
                elif entries and entries[0].t <= until:
                    entry = pop(entries)
                    self._now = now = entry.t
                else:
                    break
            elif heap and heap[0][0] <= now:  # the same, with (time, tie key, entry) on the heap
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
        return self._push(max(t, self._now), key, fn)

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        for fn in fns:  # separate entries: the adversary may run anything between them
            self.call_at(t, fn)
