"""The least outstanding requests loops read only the target lists of the segments their requests use
(``_FlatView.segments_for``, issue 9): the picks, races and carried state equal those from every segment's
snapshot, with both loops, while the lists handed over hold only the segments used."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rollsafe.control.routing import RoutingView
from rollsafe.sim import lor
from rollsafe.sim.dataplane import _FlatView


def _view(rng: random.Random, n_pods: int, n_segs: int) -> RoutingView:
    view = RoutingView("lb-node-0", "least_outstanding_requests")
    listed: set[int] = set()
    for k in range(n_segs):
        if rng.random() < 0.1:
            listed = set()  # an empty segment now and then
        else:
            for p in rng.sample(range(n_pods), 3):
                listed ^= {p}
        view.set(float(k), sorted(listed))
    return view


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(("seed", "rate"), [(1, 0.05), (2, 0.5), (3, 20.0)])
def test_the_segments_used_give_the_picks_of_every_snapshot(compiled: bool, seed: int, rate: float) -> None:
    rng = random.Random(seed)
    n_pods = 40
    view = _view(rng, n_pods, n_segs=400)
    fv = _FlatView(view)
    full = lor.Segments(fv.times, fv.offsets, fv.sizes, fv.flat)
    nrng = np.random.default_rng(seed)
    listen = nrng.uniform(-20, 200, n_pods)
    stop = listen + nrng.uniform(10, 300, n_pods)
    w = lor.Windows(listen, stop, stop + 1.0, stop + 2.0, stop + 3.0)
    params = lor.LorParams(
        idle=4.0, connect=2.0, waits_on_gone=True, keepalive_race=True, kat=0.5, window=0.3
    )
    kernel = lor.compiled() if compiled else None
    assert kernel is not None or not compiled
    states = [lor.LorState.empty(n_pods) for _ in range(2)]
    lasts = [np.full(n_pods, -np.inf) for _ in range(2)]
    t0, smaller = -5.0, 0
    for _call in range(4):  # requests in calls, the state carried over
        t = t0 + np.cumsum(nrng.exponential(1 / rate, max(int(100 * rate), 5)))
        d = nrng.exponential(2.0, len(t))
        t0 = float(t[-1])
        used = fv.segments_for(t)
        assert used.times is fv.times
        assert used.sizes is fv.sizes
        smaller += len(used.flat) < len(full.flat)
        got = []
        for segs, state, last in zip([full, used], states, lasts, strict=True):
            if kernel is not None:
                got.append(lor._pick_compiled(kernel, t, d, segs, w, params, state, last))
            else:
                got.append(lor._pick_python(t, d, segs, w, params, state, last))
        (t_full, r_full), (t_used, r_used) = got
        assert t_used.tolist() == t_full.tolist()
        assert r_used.tolist() == r_full.tolist()
        assert states[1].counts.tolist() == states[0].counts.tolist()
        assert sorted(states[1].heap()) == sorted(states[0].heap())
        assert lasts[1].tolist() == lasts[0].tolist()
    assert (t_full >= 0).any()
    assert smaller == 4  # no call needs every segment's list
