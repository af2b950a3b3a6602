"""The VirtualScheduler's two queues (a heap for later times, a FIFO for the current instant) run events in
exactly the order one heap keyed by (time, scheduling sequence) gives, and call_each_at runs a fan-out as
consecutive call_at calls would."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollsafe.control.scheduler import Handle
from rollsafe.sim import scheduler as sim_scheduler
from rollsafe.sim.scheduler import TieShufflingScheduler, VirtualScheduler


class _Call:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class OneHeap:
    """The reference: every call in one heap keyed by (time, sequence); past times run now."""

    fifo_ties = True

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[tuple[float, int, _Call]] = []
        self._seq = 0
        self.events = 0

    def now(self) -> float:
        return self._now

    def call_at(self, t: float, fn: Callable[[], None]) -> _Call:
        self._seq += 1
        entry = _Call(fn)
        heapq.heappush(self._heap, (max(t, self._now), self._seq, entry))
        return entry

    def call_each_at(self, t: float, fns: list[Callable[[], None]]) -> None:
        for fn in fns:
            self.call_at(t, fn)

    def run(self, until: float) -> None:
        while self._heap and self._heap[0][0] <= until:
            t, _, entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self._now = t
            self.events += 1
            entry.fn()
        self._now = max(self._now, until)


# a program: event i, when it runs, schedules children at offsets from now (0: this instant; negative: in
# the past, which runs now), as one fan-out or one by one, and may cancel an earlier child
_offsets = st.sampled_from([-1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 2.0])
_children = st.lists(st.tuples(_offsets, st.integers(1, 3), st.booleans(), st.booleans()), max_size=3)
_programs = st.lists(_children, min_size=1, max_size=40)
Program = list[list[tuple[float, int, bool, bool]]]


def _trace(sched: VirtualScheduler | OneHeap, program: Program) -> list[int]:
    ran: list[int] = []
    handles: list[Handle] = []
    counter = itertools.count()

    def node(ident: int, depth: int) -> Callable[[], None]:
        def fire() -> None:
            ran.append(ident)
            if depth >= len(program) or len(ran) > 400:  # programs may branch: bound them
                return
            for offset, fan, as_fanout, cancel_one in program[depth]:
                kids = [node(next(counter), depth + 1) for _ in range(fan)]
                if as_fanout:
                    sched.call_each_at(sched.now() + offset, kids)
                else:
                    handles.extend(sched.call_at(sched.now() + offset, k) for k in kids)
                if cancel_one and handles:
                    handles.pop(0).cancel()

        return fire

    sched.call_at(0.0, node(next(counter), 0))
    sched.call_at(0.0, node(next(counter), 0))
    for until in (0.0, 0.5, 1.5, 3.0, 100.0):
        sched.run(until=until)
        assert sched.now() >= until
    return ran


@settings(max_examples=150, deadline=None)
@given(_programs)
def test_two_queues_run_in_one_heaps_order(program: Program) -> None:
    ours, ref = VirtualScheduler(), OneHeap()
    assert _trace(ours, program) == _trace(ref, program)
    assert ours.events == ref.events, "a fan-out run as one entry still counts each call as an event"


def test_fanout_is_separate_entries_for_the_adversary() -> None:
    ran: list[int] = []
    sched = TieShufflingScheduler(None)  # reversed ties
    sched.call_each_at(1.0, [lambda i=i: ran.append(i) for i in range(3)])  # type: ignore[misc]
    sched.run(until=2.0)
    assert ran == [2, 1, 0], "each call of a fan-out is its own tie, so the adversary can reorder them"


def test_after_each_runs_between_the_calls_of_a_fanout() -> None:
    seen: list[str] = []
    sched = VirtualScheduler()
    sched.after_each = lambda: seen.append("check")
    sched.call_each_at(1.0, [lambda: seen.append("a"), lambda: seen.append("b")])
    sched.run(until=2.0)
    assert seen == ["a", "check", "b", "check"]
    assert sched.events == 2


@pytest.mark.pure_only
@settings(max_examples=100, deadline=None)
@given(_programs, st.sampled_from(["fifo", "reversed", "shuffled"]))
def test_both_heap_layouts_run_the_same_order(program: Program, kind: str) -> None:
    """The heap of (time, key, entry) tuples (interpreted) and the heap of entries (compiled) run every
    program in the same order, for the FIFO scheduler and both adversaries (negative keys when reversed,
    keys past 2**63 when shuffled). Both layouts, here in the interpreted build."""

    def make() -> VirtualScheduler:
        if kind == "fifo":
            return VirtualScheduler()
        return TieShufflingScheduler(None if kind == "reversed" else 7)

    traces, events = [], []
    for on_heap in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sim_scheduler, "_ENTRIES_ON_HEAP", on_heap)
            probe = make()
            probe.call_at(1.0, lambda: None)
            assert (len(probe._entries), len(probe._heap)) == ((1, 0) if on_heap else (0, 1)), "the layout"
            sched = make()
            traces.append(_trace(sched, program))
            events.append(sched.events)
    assert traces[0] == traces[1]
    assert events[0] == events[1]
