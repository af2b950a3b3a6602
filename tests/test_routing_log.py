"""Routing views stored as change logs (issue 9 item 1): the log must give back exactly the lists the
snapshots it replaced held, segment for segment; the data plane's walker must rebuild any segment from it,
forwards or back; an LB node's view, fed only the changes since its last route, must list what a full
rescan of the node's targets gives; and the log must grow with the changes, not with n x segments."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollsafe.control.routing import RoutingView, walk
from rollsafe.control.target_group import TargetGroup, routable
from rollsafe.scenarios import load_builtin
from rollsafe.sim.dataplane import _FlatView
from rollsafe.sim.simulate import run_control_plane


class SnapshotView:
    """The representation the log replaced: one full snapshot per segment (the old RoutingView.set)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.targets: list[tuple[int, ...]] = []
        self.fail_open: list[bool] = []

    def set(self, t: float, targets: list[int], *, fail_open: bool = False) -> bool:
        new = tuple(targets)
        if self.targets and self.targets[-1] == new and self.fail_open[-1] == fail_open:
            return False
        if self.times and self.times[-1] == t:
            self.targets[-1], self.fail_open[-1] = new, fail_open
        else:
            self.times.append(t)
            self.targets.append(new)
            self.fail_open.append(fail_open)
        return True


# a script of changes: (time step 0 or 1, targets as a subset of 0..11, fail open)
_steps = st.lists(
    st.tuples(st.integers(0, 1), st.sets(st.integers(0, 11), max_size=12), st.booleans()),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_log_gives_back_every_snapshot(steps: list[tuple[int, set[int], bool]]) -> None:
    view, oracle = RoutingView("v", "round_robin"), SnapshotView()
    t = 0.0
    for dt, targets, fail_open in steps:
        t += dt  # equal times: the change replaces the last segment
        listed = sorted(targets)
        assert view.set(t, listed, fail_open=fail_open) == oracle.set(t, listed, fail_open=fail_open)
        assert view.current == oracle.targets[-1]
    assert view.times == oracle.times
    assert view.fail_open == oracle.fail_open
    assert view.targets == oracle.targets
    assert view.sizes == [len(s) for s in oracle.targets]
    # the walker, segment by segment in any order, forwards and back
    fv = _FlatView(view)
    order = list(range(len(oracle.targets)))
    random.Random(len(steps)).shuffle(order)
    for seg in order + order[::-1]:
        assert tuple(fv.seek(seg)) == oracle.targets[seg]
    assert fv.flat.tolist() == [p for s in oracle.targets for p in s]


def test_keys_order_the_list_and_a_listed_target_keeps_its_key() -> None:
    view = RoutingView("lb-node-0", "round_robin")
    view.set(0.0, [7, 3, 5], keys=[1, 2, 3])  # registration order, not pod order
    assert view.change(1.0, {4: 0, 3: None})
    assert view.current == (4, 7, 5)
    assert not view.change(2.0, {3: None}), "dropping a target not listed changes nothing"
    assert view.targets == [(7, 3, 5), (4, 7, 5)]
    with pytest.raises(ValueError, match="key"):
        view.change(3.0, {7: 9})
    with pytest.raises(ValueError, match="ascending"):
        view.set(3.0, [2, 1])


def test_a_change_at_the_same_instant_is_merged_into_the_last_segment() -> None:
    view = RoutingView("v", "round_robin")
    view.set(0.0, [1, 2, 3])
    view.change(5.0, {2: None})
    view.change(5.0, {2: 2, 4: 4})  # 2 back at the same instant: only 4 is new against segment 0
    log = view.log()
    assert log.end == [3, 4]
    assert (log.pod[3], log.added[3]) == (4, True)
    view.change(5.0, {4: None})  # now segment 1 equals segment 0, as the snapshots would have it
    assert view.targets == [(1, 2, 3), (1, 2, 3)]
    assert view.log().end == [3, 3]


def test_lookup_reads_positions_of_each_segment() -> None:
    view = RoutingView("v", "random")
    view.set(0.0, [1, 2, 3])
    view.set(1.0, [])
    view.set(2.0, [2, 3, 9])
    fv = _FlatView(view)
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 3, 200)
    pos = np.minimum(rng.integers(0, 3, 200), np.maximum(fv.sizes[seg] - 1, 0))
    want = [view.targets[s][p] if view.targets[s] else -1 for s, p in zip(seg, pos, strict=True)]
    assert fv.lookup(seg, pos).tolist() == want
    # many picks in one segment go through an array of its list: the same answers
    seg_many = np.full(100, 2)
    pos_many = rng.integers(0, 3, 100)
    assert fv.lookup(seg_many, pos_many).tolist() == [(2, 3, 9)[p] for p in pos_many]


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize(
    ("name", "sets", "fails_open"),
    [
        ("eks-alb-defaults", ["workload.replicas=30"], False),
        # fewer healthy targets than the minimum: the node's view is rebuilt in full while that lasts
        ("eks-alb-defaults", ["workload.replicas=10", "loadBalancer.minimumHealthyTargets=8"], False),
        (
            "eks-alb-readiness-gate",
            ["loadBalancer.minimumHealthyTargets=12", "loadBalancer.onlyInitialOrDraining=route"],
            True,
        ),
    ],
)
def test_a_node_view_lists_what_a_rescan_of_its_targets_gives(
    monkeypatch: pytest.MonkeyPatch, name: str, sets: list[str], fails_open: bool
) -> None:
    routed = {"changes": 0, "below_minimum": 0, "fail_open": 0}
    route = TargetGroup._route

    def checked_route(self: TargetGroup, node: int) -> None:
        route(self, node)
        nts = self.node_targets[node]
        want, fail_open = routable(
            [(i, nt.state) for i, nt in nts.items()],
            minimum_healthy=self.lb.minimum_healthy_targets,
            route_initial=self.lb.only_initial_or_draining == "route",
        )
        view = self.views[node]
        assert view.current == tuple(want)
        assert view.fail_open[-1] == fail_open
        routed["changes"] += 1
        routed["below_minimum"] += len(self._hidx[node]) < self.lb.minimum_healthy_targets
        routed["fail_open"] += fail_open

    monkeypatch.setattr(TargetGroup, "_route", checked_route)
    for seed in (1, 2, 3):
        run_control_plane(load_builtin(name, sets), seed)
    assert routed["changes"] > 30
    if len(sets) > 1:
        assert routed["below_minimum"] > 0
    assert (routed["fail_open"] > 0) == fails_open


def _log_entries(view: Any) -> int:
    return len(view.log().pod)


@pytest.mark.parametrize("name", ["eks-alb-defaults", "eks-instance-mode"])
def test_the_log_grows_with_the_changes_not_with_snapshots(name: str) -> None:
    n = 200
    cp = run_control_plane(load_builtin(name, [f"workload.replicas={n}", "traffic.rps=1"]), 1)
    for view in cp.views:
        snapshot_entries = sum(view.sizes)
        # each target is added and removed a few times per view at most: linear in n, while the
        # snapshots hold about n entries per segment over ~n segments
        assert _log_entries(view) <= 8 * n
        if name == "eks-alb-defaults":  # an LB node's view changes per target; kube-proxy syncs batch them
            assert snapshot_entries > 20 * _log_entries(view)
        assert [tuple(s) for s in walk(view.log())] == view.targets
