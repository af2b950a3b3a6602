"""The data plane's fused steps (issue 9, small runs' fixed cost) against the plain ones they stand for:
outcome codes read off the facts packed in a byte agree with ``Precedence.decide`` over the facts as
arrays; round robin for every view at once picks what each view's ``_FlatView.round_robin`` picks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from rollsafe.control.routing import RoutingView
from rollsafe.model.causes import CODE
from rollsafe.model.outcome import FACTS, Precedence, accepted_fate
from rollsafe.scenarios import load_builtin
from rollsafe.sim.dataplane import Evaluator, PodWindows, _code_table, _FlatView
from rollsafe.sim.simulate import run_control_plane
from tests.conftest import builtin_variant, fresh_evaluators


@pytest.mark.parametrize("target_type", ["ip", "instance"])
@pytest.mark.parametrize("vanished", ["timeout", "reset"])
def test_code_table_is_what_decide_gives(target_type: str, vanished: str) -> None:
    """Every byte of facts: bits 7..2 the first six facts in order, the last two the accepted fate."""
    precedence = Precedence.for_setup(target_type=target_type, vanished_pod_ip=vanished)
    table = _code_table(precedence).tolist()
    assert len(table) == 256
    for key in range(256):
        fate = key & 3
        facts = (*(bool(key >> bit & 1) for bit in range(7, 1, -1)), fate == 1, fate == 2, fate == 3)
        assert len(facts) == len(FACTS)
        assert table[key] == precedence.decide(facts), key


def _codes_by_facts(
    ev: Evaluator,
    t: npt.NDArray[np.float64],
    d: npt.NDArray[np.float32],
    target: npt.NDArray[np.int64],
    idle_race: npt.NDArray[np.bool_],
    on_conn: npt.NDArray[np.bool_] | None,
) -> list[int]:
    """The outcome codes as the facts define them: each fact an array over all the requests, every window
    read per request (-1: no target, no fact but the first), the accepted fate over all, then decide."""
    w = ev.w
    window = ev.sc.app.keep_alive_race_window_seconds
    routed = target >= 0
    p = np.maximum(target, 0)

    def at(x: npt.NDArray[np.float64], none: float) -> npt.NDArray[np.float64]:
        return np.where(routed, x[p], none)

    listen, stop, exit_, ip_gone, drain = (
        at(w.listen, -np.inf),
        at(w.stop, np.inf),
        at(w.exit, np.inf),
        at(w.ip_gone, np.inf),
        at(w.drain_deadline, np.inf),
    )
    closes = routed & w.closes_idle[p]
    stopped = t >= stop
    closing_idle = closes & stopped & (t < stop + window)
    if on_conn is not None:
        closing_idle &= on_conn
    idle = ev.sc.load_balancer.idle_timeout_seconds
    killed, drained, timed_out = accepted_fate(end=t + d, exit_t=exit_, drain_t=drain, timeout_t=t + idle)
    race = idle_race if ev.keepalive_race else np.zeros(len(t), dtype=bool)
    facts = (~routed, t >= ip_gone, t < listen, closing_idle, stopped, race, killed, drained, timed_out)
    return [int(c) for c in ev.precedence.decide(facts)]


@pytest.mark.parametrize("on_conn", [False, True])
@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"app": {"keepAliveTimeoutSeconds": 5.0, "keepAliveRaceWindowSeconds": 0.5}},  # the keep-alive race
        {"loadBalancer": {"targetType": "instance"}},
        {"cluster": {"vanishedPodIp": "reset"}},
        {"loadBalancer": {"idleTimeoutSeconds": 1.0}},  # idle timeouts among ordinary requests
    ],
)
def test_outcome_codes_are_the_facts_codes(patch: dict[str, dict[str, object]], on_conn: bool) -> None:
    """Windows, times and service times on a quarter-second grid, so that every tie the precedence settles
    (the request at a window's edge; the exit, the drain deadline and the idle timeout at the same time, or
    at the end) comes up, with some pods closing idle connections, some with no window at all, and requests
    without a target."""
    # a race window of two grid steps: requests at and after a pod's stop meet its idle connections closing
    patches: dict[str, dict[str, object]] = {"app": {"keepAliveRaceWindowSeconds": 0.5}}
    patches.update(patch)
    sc = builtin_variant("eks-alb-defaults", **patches)
    cp = run_control_plane(sc, 1)
    n_pods = 12
    rng = np.random.default_rng(17)
    grid = 0.25

    def times(lo: int, hi: int) -> npt.NDArray[np.float64]:
        x = (rng.integers(lo, hi, n_pods) * grid).astype(np.float64)
        x[rng.random(n_pods) < 0.15] = np.inf
        return x

    listen = times(-4, 40)
    listen[0] = -np.inf
    stop = np.maximum(listen, 0) + times(0, 40)
    windows = PodWindows(
        listen=listen,
        stop=stop,
        exit=stop + times(0, 30),
        ip_gone=stop + times(0, 50),
        drain_deadline=np.where(rng.random(n_pods) < 0.5, stop + times(0, 30), np.inf),
        closes_idle=rng.random(n_pods) < 0.5,
    )
    windows.drain_deadline[:3] = windows.exit[:3]  # ties between the exit and the drain deadline
    ev = Evaluator(sc, cp.views, windows, rngs=cp.traffic_rngs(), duration_s=40.0)
    assert ev._closes_idle
    n = 6000
    t = np.sort(rng.integers(-8, 160, n) * grid)
    d = (rng.integers(0, 12, n) * grid).astype(np.float32)
    d[rng.random(n) < 0.01] = np.float32(sc.load_balancer.idle_timeout_seconds)  # at the idle timeout
    d[rng.random(n) < 0.01] = np.float32(sc.load_balancer.idle_timeout_seconds + 0.5)  # past it
    view = rng.integers(0, len(cp.views), n).astype(np.int8)
    target = rng.integers(-1, n_pods, n)
    idle_race = rng.random(n) < 0.1
    conn = rng.random(n) < 0.5 if on_conn else None
    got = ev._outcomes(t, d, view, target, idle_race=idle_race, on_conn=conn)
    want = _codes_by_facts(ev, t, d, target, idle_race, conn)
    assert got.dtype == np.int64
    assert got.tolist() == want
    assert len(set(want)) >= 6, "the grid reaches most causes"
    # no requests
    assert ev._outcomes(t[:0], d[:0], view[:0], target[:0], idle_race=idle_race[:0]).tolist() == []


def _views() -> list[RoutingView]:
    a = RoutingView("a", "round_robin")
    a.set(1.0, [4, 5, 6])
    a.set(2.0, [])
    a.set(3.0, [5, 9])
    a.set(5.0, [1, 2, 3, 4, 5, 6, 7])
    b = RoutingView("b", "round_robin")
    b.set(0.5, [2], keys=[0])
    b.set(4.0, [2, 8, 3], keys=[0, 5, 9])
    c = RoutingView("c", "round_robin")  # no segment at all: every request unrouted
    d = RoutingView("d", "round_robin")  # gets no request
    d.set(0.0, [1, 2])
    e = RoutingView("e", "round_robin")
    e.set(2.5, [])
    e.set(6.0, [7, 3], keys=[1, 2])
    return [a, b, c, d, e]


@pytest.mark.parametrize(
    "firsts",
    [[0, 0, 0, 0, 0], [5, 1, 2, 0, 11], [10**12 + 3, 7, 0, 4, 2**40], [2**62 + 5, 2**61 + 1, 0, 0, 2**62]],
)
def test_round_robin_for_all_views_is_each_views(firsts: list[int]) -> None:
    """``Evaluator._round_robin_by_view`` (every view in one pass) against ``_FlatView.round_robin`` view by
    view: empty segments, a view with no segment, a view without requests, requests before the first
    segment."""
    sc = load_builtin("eks-alb-defaults")
    cp = run_control_plane(sc, 1)
    views = _views()
    ev = Evaluator(sc, views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=8.0)
    rng = np.random.default_rng(23)
    for n in (1, 2, 40, 3000):
        t = np.sort(np.concatenate([rng.random(n) * 8.0, [1.0, 2.0, 3.0, 5.0, 0.25][: max(0, n - 1)]]))
        view = rng.choice(np.array([0, 1, 2, 4], dtype=np.int8), len(t))
        order, _, _, by_view, _ = ev._round_robin_by_view(t, view, firsts)
        got = np.empty(len(t), dtype=np.int64)
        got[order] = by_view  # back in time order
        want = np.empty(len(t), dtype=np.int64)
        for v, rv in enumerate(views):
            mine = np.flatnonzero(view == v)
            want[mine] = _FlatView(rv).round_robin(t[mine], firsts[v])
        assert got.tolist() == want.tolist()
        if n == 3000:
            assert (got == -1).any()
            assert (got >= 0).any()


@pytest.mark.parametrize("idle", [1.0, 2.5, 4.0, 60.0])
@pytest.mark.parametrize("name", ["eks-alb-defaults", "eks-alb-zero-downtime"])
def test_calm_chunks_near_the_idle_timeout(name: str, idle: float) -> None:
    """The calm-time path leaves out the idle-timeout checks when no request comes within 2 s of the
    timeout: with requests that do (slow ones, short timeouts), it counts what the path that keeps every
    request counts, response timeouts included."""
    sc = builtin_variant(
        name,
        loadBalancer={"idleTimeoutSeconds": idle},
        app={"requestSeconds": {"lognormal": {"median": 0.2, "p99": 1.5}}},
    )
    timeouts = 0
    for seed in (1, 2):
        cp = run_control_plane(sc, seed)
        evs = fresh_evaluators(sc, cp, keep=(False, True))
        fast, kept = (ev.run() for ev in evs)
        assert fast.by_code.tolist() == kept.by_code.tolist()
        assert fast.per_second.tolist() == kept.per_second.tolist()
        timeouts += int(kept.by_code[CODE["response-timeout"]])
        assert len(evs[0]._calm[0]) > 0, "the run has calm time: the calm path was taken"
    if idle < 2.0:
        assert timeouts > 0, "requests meet the idle timeout"


@pytest.mark.parametrize("name", ["eks-alb-defaults", "eks-alb-prestop", "eks-alb-zero-downtime", "recreate"])
def test_calm_intervals_are_finite_starts_and_ends(name: str) -> None:
    """Calm time as ranges: each starts at a finite time (from ``first`` on), before it ends, after the last
    ended; only the last can end at infinity."""
    sc = load_builtin(name)
    for seed in (1, 2, 3):
        cp = run_control_plane(sc, seed)
        ev = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s)
        for reach in (0.0, 2.0, sc.load_balancer.idle_timeout_seconds):
            starts, ends = ev._calm_intervals(reach)
            assert starts.dtype == ends.dtype == np.float64
            assert len(starts) == len(ends)
            assert np.isfinite(starts).all()
            assert (starts < ends).all()
            assert (ends[:-1] < starts[1:]).all()
            assert np.isfinite(ends[:-1]).all()


def test_calm_time_ends_where_a_pod_listed_to_the_end_stops() -> None:
    """A pod listed until the end of the run that stops before it: calm time ends for good there, with no
    empty range at infinity after it."""
    sc = load_builtin("eks-alb-defaults")
    cp = run_control_plane(sc, 1)
    view = RoutingView("a", "round_robin")
    view.set(1.0, [0, 1])
    inf = np.inf
    windows = PodWindows(
        listen=np.array([0.0, 0.0]),
        stop=np.array([9.0, inf]),
        exit=np.array([12.0, inf]),
        ip_gone=np.array([13.0, inf]),
        drain_deadline=np.array([inf, inf]),
        closes_idle=np.zeros(2, dtype=bool),
    )
    ev = Evaluator(sc, [view], windows, rngs=cp.traffic_rngs(), duration_s=20.0)
    starts, ends = ev._calm_intervals(2.0)
    assert starts.tolist() == [1.0]
    assert ends.tolist() == [9.0]
