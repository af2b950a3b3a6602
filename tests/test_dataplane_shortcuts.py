"""The data plane's array shortcuts (issue 9, small runs' fixed cost) against their plain definitions: calm
time is exactly the time in which, on every routing view, every pod the current segment lists listens, keeps
accepting and keeps its IP, and neither exits nor reaches its drain deadline before the idle timeout; a
segment's targets read through ``segments_at`` are those its snapshot lists. (The outcome precedence over
arrays is checked against the scalar one in test_outcome.py.)"""

from __future__ import annotations

import bisect

import numpy as np
import pytest

from rollsafe.control.routing import RoutingView
from rollsafe.scenarios import load_builtin
from rollsafe.sim.dataplane import Evaluator, _FlatView
from rollsafe.sim.simulate import run_control_plane


def _calm_by_definition(ev: Evaluator, t: float) -> bool:
    """Is time ``t`` calm, from each view's segment snapshots and the pods' windows, one pod at a time."""
    w = ev.w
    idle = ev.sc.load_balancer.idle_timeout_seconds + 1e-6  # the margin _calm_intervals documents
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
def test_calm_time_is_what_every_view_allows(name: str, seed: int) -> None:
    sc = load_builtin(name)
    cp = run_control_plane(sc, seed)
    ev = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s)
    starts, ends = ev._calm
    assert np.all(starts < ends), "non-empty ranges"
    assert np.all(ends[:-1] <= starts[1:]), "sorted and disjoint"
    # every boundary the definition can switch at (segment starts, windows), just before and at it, and a grid
    w = ev.w
    idle = sc.load_balancer.idle_timeout_seconds + 1e-6
    windows = [w.listen, w.stop, w.ip_gone, w.exit - idle, w.drain_deadline - idle]
    grid = np.linspace(0, cp.duration_s, 400)
    edges = np.concatenate([*(fv.times for fv in ev.views), *windows, starts, ends, grid])
    edges = edges[np.isfinite(edges) & (edges > -1e6)]
    probes = np.unique(np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)]))
    mask = ev._calm_mask(probes)
    got = np.zeros(len(probes), dtype=bool) if mask is None else mask
    want = np.array([_calm_by_definition(ev, float(x)) for x in probes])
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
