"""A virtual-time Scheduler: a heap keyed by (time, priority, sequence) that jumps from event to event."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from rollsafe.control.scheduler import Handle


class _Entry:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False


class VirtualScheduler:
    """Implements rollsafe.control.scheduler.Scheduler on simulated seconds.

    Events at the same time run by priority, then in the order they were scheduled, so a run is a pure
    function of its inputs.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        # (time, priority, sequence, entry): the sequence is unique, so entries are never compared
        self._heap: list[tuple[float, int, int, _Entry]] = []
        self._seq = 0
        self.events = 0
        # called after every event; tests use it to check invariants at every step
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None], priority: int = 0) -> _Entry:
        self._seq += 1
        entry = _Entry(fn)
        heapq.heappush(self._heap, (max(t, self._now), priority, self._seq, entry))
        return entry

    def cancel(self, handle: Handle) -> None:
        handle.cancelled = True

    def run(self, until: float) -> None:
        """Run events in time order until none is left or the next is after ``until``; then the clock
        reads ``until``."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            if heap[0][0] > until:
                break
            t, _, _, entry = pop(heap)
            if entry.cancelled:
                continue
            self._now = t
            self.events += 1
            entry.fn()
            if self.after_each is not None:
                self.after_each()
        self._now = max(self._now, until)
