"""A virtual-time Scheduler: a heap keyed by (time, priority, sequence) that jumps from event to event."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from rollsafe.control.scheduler import Handle


@dataclass(order=True, slots=True)
class _Entry:
    t: float
    priority: int
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class VirtualScheduler:
    """Implements rollsafe.control.scheduler.Scheduler on simulated seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[_Entry] = []
        self._seq = 0
        self._stopped = False
        self.events = 0
        # called after every event; tests use it to check invariants at every step
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None], priority: int = 0) -> _Entry:
        t = max(t, self._now)
        self._seq += 1
        entry = _Entry(t, priority, self._seq, fn)
        heapq.heappush(self._heap, entry)
        return entry

    def cancel(self, handle: Handle) -> None:
        handle.cancelled = True

    def stop(self) -> None:
        self._stopped = True

    def run(self, until: float) -> None:
        """Run events in order until the heap is empty, ``stop()`` is called, or time passes ``until``."""
        heap = self._heap
        while heap and not self._stopped:
            entry = heap[0]
            if entry.t > until:
                break
            heapq.heappop(heap)
            if entry.cancelled:
                continue
            self._now = entry.t
            self.events += 1
            entry.fn()
            if self.after_each is not None:
                self.after_each()
        if not self._stopped:
            self._now = max(self._now, until) if not heap else self._now
