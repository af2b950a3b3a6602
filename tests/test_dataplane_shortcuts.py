"""The data plane's array shortcuts (issue 9, small runs' fixed cost) against their plain definitions: calm
time is exactly the time in which, on every routing view, every pod the current segment lists listens, keeps
accepting and keeps its IP, and neither exits nor reaches its drain deadline before the idle timeout; a
segment's targets read through ``segments_at`` are those its snapshot lists. (The outcome precedence over
arrays is checked against the scalar one in test_outcome.py.)"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rollsafe.control.routing import RoutingView
from rollsafe.scenarios import load_builtin
from rollsafe.sim import dataplane
from rollsafe.sim.dataplane import Evaluator, _FlatView
from rollsafe.sim.simulate import run_control_plane
from tests.conftest import builtin_variant, fresh_evaluators


def _calm_by_definition(ev: Evaluator, t: float, reach: float) -> bool:
    """Is time ``t`` calm for requests ending within ``reach``, from each view's segment snapshots and the
    pods' windows, one pod at a time."""
    w = ev.w
    idle = reach + 1e-6  # the margin _calm_intervals documents
    for fv in ev.views:
        times = fv.times.tolist()
        if not times or t < times[0]:
            return False
        listed = fv.seek(bisect.bisect_right(times, t) - 1)
        if not listed:
            return False
        for p in listed:
            until = min(w.stop[p], w.ip_gone[p], w.exit[p] - idle, w.drain_deadline[p] - idle)
            if not w.listen[p] <= t < until:
                return False
    return True


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("eks-alb-defaults", 1),
        ("eks-alb-defaults", 4),
        ("eks-alb-prestop", 2),
        ("eks-alb-readiness-gate", 3),
        ("eks-alb-zero-downtime", 1),
        ("recreate", 2),
    ],
)
@pytest.mark.parametrize("reach", [None, 2.0, 0.0])
def test_calm_time_is_what_every_view_allows(name: str, seed: int, reach: float | None) -> None:
    sc = load_builtin(name)
    cp = run_control_plane(sc, seed)
    ev = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s)
    if reach is None:  # any request: up to the idle timeout
        reach = sc.load_balancer.idle_timeout_seconds
    starts, ends = ev._calm_intervals(reach)
    assert np.all(starts < ends), "non-empty ranges"
    assert np.all(ends[:-1] <= starts[1:]), "sorted and disjoint"
    # every boundary the definition can switch at (segment starts, windows), just before and at it, and a grid
    w = ev.w
    idle = reach + 1e-6
    windows = [w.listen, w.stop, w.ip_gone, w.exit - idle, w.drain_deadline - idle]
    grid = np.linspace(0, cp.duration_s, 400)
    edges = np.concatenate([*(fv.times for fv in ev.views), *windows, starts, ends, grid])
    edges = edges[np.isfinite(edges) & (edges > -1e6)]
    probes = np.unique(np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)]))
    mask = ev._calm_mask(probes, reach)
    got = np.zeros(len(probes), dtype=bool) if mask is None else mask
    want = np.array([_calm_by_definition(ev, float(x), reach) for x in probes])
    assert got.tolist() == want.tolist()
    if name == "eks-alb-zero-downtime":
        assert want.any(), "a rollout without drops has calm time"


def test_segments_at_reads_each_requests_segment() -> None:
    view = RoutingView("v", "round_robin")
    view.set(1.0, [4, 5, 6])
    view.set(2.0, [])
    view.set(3.0, [5, 9])
    view.set(5.0, [1, 2, 3, 4, 5, 6, 7])
    fv = _FlatView(view)
    rng = np.random.default_rng(3)
    t = np.sort(np.concatenate([rng.random(300) * 7.0, [1.0, 2.0, 3.0, 5.0, 0.5]]))
    flat, at, size = fv.segments_at(t)
    snapshots = view.targets
    for x, a, k in zip(t.tolist(), at.tolist(), size.tolist(), strict=True):
        seg = max(bisect.bisect_right([1.0, 2.0, 3.0, 5.0], x) - 1, 0)  # before the first: the first
        assert k == len(snapshots[seg])
        assert flat[a : a + k].tolist() == list(snapshots[seg])
        if k == 0:
            assert flat[a] == -1
    # the walker is left anywhere: the next read starts from there
    assert fv.segments_at(t[:10])[2].tolist() == [3] * 10


def _assert_same_traffic(evs: list[Evaluator]) -> None:
    """Run both evaluators: the same counts, round robin counters and draws."""
    a, b = (ev.run() for ev in evs)
    assert a.total == b.total
    assert a.by_code.tolist() == b.by_code.tolist()
    assert a.per_second.tolist() == b.per_second.tolist()
    assert evs[0].rr_counter.tolist() == evs[1].rr_counter.tolist()
    assert evs[0].rngs["pick"].random() == evs[1].rngs["pick"].random()


@pytest.mark.parametrize("algorithm", ["round_robin", "weighted_random"])
@pytest.mark.parametrize(
    "name", ["eks-alb-defaults", "eks-alb-prestop", "eks-alb-readiness-gate", "eks-alb-zero-downtime"]
)
def test_calm_chunks_count_as_the_kept_requests_do(name: str, algorithm: str) -> None:
    """The calm-time path (requests not kept: busy stretches read as slices, calm ones not picked for)
    gives the counts, the round robin counters and the draws the path that keeps every request does."""
    sc = builtin_variant(name, loadBalancer={"algorithm": algorithm})
    for seed in (1, 2, 5):
        cp = run_control_plane(sc, seed)
        evs = fresh_evaluators(sc, cp, keep=(False, True))
        _assert_same_traffic(evs)


@pytest.mark.pure_only  # replaces an Evaluator method on the instance: compiled code does not allow it
@pytest.mark.parametrize("chunk", [None, 700])
@pytest.mark.parametrize("algorithm", ["round_robin", "weighted_random"])
@pytest.mark.parametrize("name", ["eks-alb-defaults", "eks-alb-prestop", "eks-alb-readiness-gate"])
def test_calm_time_in_pieces_changes_nothing(
    name: str, algorithm: str, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any part of calm time is calm time: calm time cut into pieces, so that busy requests come in several
    stretches within a chunk (and, with small chunks, across chunks), counts as no calm time at all."""
    if chunk is not None:
        monkeypatch.setattr(dataplane, "CHUNK", chunk)
    sc = builtin_variant(name, loadBalancer={"algorithm": algorithm})
    for seed in (1, 3):
        cp = run_control_plane(sc, seed)
        evs = fresh_evaluators(sc, cp, keep=(False, False))

        def in_pieces(
            reach: float, calm_intervals: Any = evs[0]._calm_intervals, duration: float = cp.duration_s
        ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
            starts, ends = calm_intervals(reach)
            pieces = [
                (max(s, 2.0 * k), min(e, 2.0 * k + 1.0))
                for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
                for k in range(math.ceil(duration) // 2 + 1)
                if max(s, 2.0 * k) < min(e, 2.0 * k + 1.0)
            ]
            assert len(pieces) > 2, "the scenario has calm time"
            return np.array([a for a, _ in pieces]), np.array([b for _, b in pieces])

        monkeypatch.setattr(evs[0], "_calm_intervals", in_pieces)
        monkeypatch.setattr(evs[1], "_calm_walk", ())  # no calm time
        _assert_same_traffic(evs)


def test_round_robin_reads_what_segments_at_gives() -> None:
    view = RoutingView("v", "round_robin")
    view.set(1.0, [4, 5, 6])
    view.set(2.0, [])
    view.set(3.0, [5, 9])
    view.set(5.0, [1, 2, 3, 4, 5, 6, 7])
    rng = np.random.default_rng(5)
    t = np.sort(np.concatenate([rng.random(300) * 7.0, [1.0, 2.0, 3.0, 5.0, 0.5]]))
    for first in (0, 1, 6, 10**12 + 3):
        flat, at, size = _FlatView(view).segments_at(t)
        want = flat[at + (first + np.arange(len(t))) % np.maximum(size, 1)]
        assert _FlatView(view).round_robin(t, first).tolist() == want.tolist()
    fv = _FlatView(view)
    assert fv.round_robin(t[:0], 3).tolist() == []
    assert fv.round_robin(t[-5:], 2).tolist() == fv.round_robin(t[-5:], 2).tolist()


@pytest.mark.parametrize("algorithm", ["round_robin", "weighted_random"])
def test_picks_for_spans_are_the_picks_for_all(algorithm: str) -> None:
    """``_pick_spans`` picks, for the requests of some stretches of a chunk, what ``_pick`` picks for them
    among all the chunk's requests, and moves the counters and the pick stream on as much."""
    sc = builtin_variant("eks-alb-readiness-gate", loadBalancer={"algorithm": algorithm})
    cp = run_control_plane(sc, 2)
    evs = fresh_evaluators(sc, cp, keep=(False, False))
    rng = np.random.default_rng(9)
    for chunk in range(4):  # the counters carry over from one chunk to the next
        t = np.sort(rng.random(4000)) * cp.duration_s
        view = rng.integers(0, len(cp.views), len(t)).astype(np.int8)
        cuts = np.sort(rng.choice(len(t), 8, replace=False)).tolist()
        spans = [(cuts[i], cuts[i + 1]) for i in range(0, 8, 2)]
        if chunk == 1:
            spans = [(0, 17), *spans[1:], (cuts[-1] + 5, len(t))]
        if chunk == 2:
            spans = [(cuts[3], cuts[6])]
        if chunk == 3:
            spans = []
        busy, got = evs[0]._pick_spans(t, view, spans)
        rank, mine, counts = evs[1]._by_view(view, None)
        draws = [evs[1].rngs["pick"].random(c) for c in counts] if algorithm != "round_robin" else []
        want = evs[1]._pick(t, rank, mine, draws)
        if algorithm == "round_robin":
            evs[1].rr_counter += np.array(counts, dtype=np.int64)
        assert got.tolist() == (want[slice(*spans[0])] if busy is None else want[busy]).tolist()
        assert evs[0].rr_counter.tolist() == evs[1].rr_counter.tolist()
    assert evs[0].rngs["pick"].random() == evs[1].rngs["pick"].random()
