"""A routing view's log read at any moment, not only at the end: the last segment's entries are written with
it and rewritten lazily when a change at the same instant joins it (control/routing.py), so a read between
two changes at one instant, and the changes after that read, must still give back every snapshot."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rollsafe.control.routing import RoutingView
from tests.test_routing_log import SnapshotView

# (time step 0 or 1, targets as a subset of 0..9, fail open, read the log after this step)
_steps = st.lists(
    st.tuples(st.integers(0, 1), st.sets(st.integers(0, 9), max_size=10), st.booleans(), st.booleans()),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_log_read_between_changes_gives_back_the_snapshots_so_far(
    steps: list[tuple[int, set[int], bool, bool]],
) -> None:
    view, oracle = RoutingView("v", "round_robin"), SnapshotView()
    t = 0.0
    for dt, targets, fail_open, read in steps:
        t += dt
        listed = sorted(targets)
        assert view.set(t, listed, fail_open=fail_open) == oracle.set(t, listed, fail_open=fail_open)
        if read:
            assert view.targets == oracle.targets
            log = view.log()
            assert log.end[-1] == len(log.pod) == len(log.key) == len(log.added)
    assert view.targets == oracle.targets
    assert view.sizes == [len(s) for s in oracle.targets]


def test_a_target_dropped_and_listed_again_at_one_instant_leaves_no_entry() -> None:
    view = RoutingView("v", "round_robin")
    view.set(0.0, [1, 2])
    view.change(1.0, {1: None})
    view.change(1.0, {1: 1})  # back before the instant ends: segment 1 changes nothing against segment 0
    view.change(2.0, {3: 3})
    log = view.log()
    assert log.end == [2, 2, 3]
    assert (log.pod[2:], log.key[2:], log.added[2:]) == ([3], [3], [True])
    assert view.targets == [(1, 2), (1, 2), (1, 2, 3)]
