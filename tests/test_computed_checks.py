"""ALB health checks and readiness probes are worked out in advance, not run one event per check.

A checker that ticks (one event per check, asking the app) is kept: it is what an App that is not the
simulated one gets, and here it is the oracle. The worked-out schedule must give the same state changes at
the same floats: next_change and next_probe_action against a check-by-check loop over random windows,
thresholds and intervals; and whole control planes, computed against ticking, event for event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollsafe.control.api import INF, Pod
from rollsafe.control.app import SimulatedApp, answers_from_windows
from rollsafe.control.cluster import Cluster
from rollsafe.control.kubelet import next_probe_action
from rollsafe.control.target_group import next_change, next_state
from rollsafe.scenarios import builtin_names, load_builtin
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler
from tests.conftest import scenario

STATES = ("initial", "healthy", "unhealthy")


def _accepts(listen: float, stop: float, gone: float, t: float) -> bool:
    # window_accepts, spelled out again so that a change to one is caught by the other
    return listen <= t < stop and t < gone


_edge = st.one_of(st.just(INF), st.floats(min_value=-50.0, max_value=400.0, allow_nan=False))


@settings(max_examples=400, deadline=None)
@given(
    state=st.sampled_from(STATES),
    run_ok=st.booleans(),
    run=st.integers(0, 12),
    t=st.floats(min_value=-20.0, max_value=60.0, allow_nan=False),
    interval=st.sampled_from([5.0, 7.3, 10.0, 15.0, 30.0, 0.1 + 0.2, 299.9]),
    listen=_edge,
    stop=_edge,
    gone=_edge,
    healthy=st.integers(2, 10),
    initial=st.integers(1, 10),
    unhealthy=st.integers(2, 10),
    now=st.floats(min_value=-30.0, max_value=500.0, allow_nan=False),
)
def test_next_change_is_the_first_changing_check_of_a_ticking_checker(
    state: str,
    run_ok: bool,
    run: int,
    t: float,
    interval: float,
    listen: float,
    stop: float,
    gone: float,
    healthy: int,
    initial: int,
    unhealthy: int,
    now: float,
) -> None:
    settled, change = next_change(
        state,
        run_ok=run_ok,
        run=run,
        t=t,
        interval=interval,
        listen_s=listen,
        stop_accept_s=stop,
        ip_gone_s=gone,
        healthy_needed=healthy,
        initial_needed=initial,
        unhealthy_needed=unhealthy,
        settled_before=now,
    )
    # the oracle: one check after the other, each at the previous time plus the interval
    edges = [x for x in (listen, stop, gone) if x != INF]
    horizon = max([t, now, *edges]) + 12 * interval
    seen: list[tuple[float, bool, int]] = []  # (time, run_ok, run) before each check
    found = None
    cur_ok, cur_run, cur_t = run_ok, run, t
    while cur_t <= horizon:
        seen.append((cur_t, cur_ok, cur_run))
        ok = _accepts(listen, stop, gone, cur_t)
        cur_run = cur_run + 1 if ok == cur_ok else 1
        cur_ok = ok
        new = next_state(
            state,
            ok=ok,
            run=cur_run,
            healthy_needed=healthy,
            initial_needed=initial,
            unhealthy_needed=unhealthy,
        )
        if new != state:
            found = (cur_t, ok, cur_run, new)
            break
        cur_t = cur_t + interval
    assert change == found
    # What is folded in is the oracle's state before one of its checks: before the first at or after now
    # (or the changing one, if earlier) when there is a change; when there is none, possibly an earlier one
    # (it stops looking once nothing can change).
    stop_at = change[0] if change is not None else math.inf
    expect = next((s for s in seen if s[0] >= now or s[0] >= stop_at), None)
    assert expect is not None
    if change is not None:
        assert settled == expect
    else:
        assert settled in seen
        assert settled[0] <= expect[0]


@settings(max_examples=400, deadline=None)
@given(
    k=st.integers(0, 5),
    runs=st.tuples(st.integers(0, 9), st.integers(0, 5), st.integers(0, 5)),
    started=st.floats(min_value=-1e3, max_value=100.0, allow_nan=False),
    period=st.sampled_from([1.0, 2.0, 3.0, 10.0, 0.1 + 0.2 + 1, 37.7]),
    listen=_edge,
    stop=_edge,
    gone=_edge,
    ready=st.booleans(),
    success=st.integers(1, 5),
    failure=st.integers(1, 5),
    now=st.floats(min_value=-30.0, max_value=500.0, allow_nan=False),
    success_acts=st.booleans(),
    failure_acts=st.booleans(),
)
def test_next_probe_action_is_the_first_acting_probe_of_a_ticking_prober(
    k: int,
    runs: tuple[int, int, int],
    started: float,
    period: float,
    listen: float,
    stop: float,
    gone: float,
    ready: bool,
    success: int,
    failure: int,
    now: float,
    success_acts: bool,
    failure_acts: bool,
) -> None:
    settled, action = next_probe_action(
        k,
        runs,
        started_s=started,
        period_s=period,
        listen_s=listen,
        stop_accept_s=stop,
        ip_gone_s=gone,
        ready=ready,
        success_threshold=success,
        failure_threshold=failure,
        settled_before=now,
        success_acts=success_acts,
        failure_acts=failure_acts,
    )
    edges = [x for x in (listen, stop, gone) if x != INF]
    horizon = max([started + k * period, now, *edges]) + 8 * period
    count, succ, fail = runs
    found = None
    before: list[tuple[int, float, tuple[int, int, int]]] = []
    j = k
    while started + j * period <= horizon:
        t = started + j * period
        before.append((j, t, (count, succ, fail)))
        ok = _accepts(listen, stop, gone, t)
        count += 1
        succ, fail = (succ + 1, 0) if ok else (0, fail + 1)
        if (ok and not ready and succ >= success and success_acts) or (
            not ok and ready and fail >= failure and failure_acts
        ):
            found = (j, (count, succ, fail))
            break
        j += 1
    assert action == found
    stop_k = action[0] if action is not None else math.inf
    expect = next(((jj, r) for jj, t, r in before if t >= now or jj >= stop_k), None)
    assert expect is not None
    if action is not None:
        assert settled == expect
    else:
        assert settled in [(jj, r) for jj, _, r in before]
        assert settled[0] <= expect[0]


class _AskedApp(SimulatedApp):
    """The simulated app, asked at each check: the health checkers tick (the oracle)."""


def _cluster(sc: Any, seed: int, *, ticking: bool) -> tuple[Cluster, VirtualScheduler]:
    sched = VirtualScheduler()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("rollsafe.control.cluster.SimulatedApp", _AskedApp if ticking else SimulatedApp)
        cluster = Cluster(sched, SeededStreams(seed), sc)
    assert answers_from_windows(cluster.app) is not ticking
    return cluster, sched


def _control_plane(sc: Any, seed: int, *, ticking: bool, until: float = 400.0) -> tuple[Cluster, int]:
    cluster, sched = _cluster(sc, seed, ticking=ticking)
    sched.call_at(0.0, cluster.start_rollout)
    sched.run(until=until)
    return cluster, sched.events


def _observed(cluster: Cluster) -> tuple[Any, ...]:
    timeline = [(e.t_s, e.source, e.kind, e.object, sorted(e.attrs.items())) for e in cluster.rec.events]
    views = [(v.name, v.times, v.targets, v.fail_open) for v in cluster.views]
    pods = [
        (p.name, p.ready, p.ready_since_s, p.listen_s, p.stop_accept_s, p.exit_s, p.ip_gone_s)
        for p in cluster.api.pods
    ]
    return timeline, views, pods


VARIANTS = [
    [],
    ["loadBalancer.healthCheck.intervalSeconds=7.3", "loadBalancer.healthCheck.healthyThresholdCount=5"],
    ["loadBalancer.initialHealthChecksRequired=1", "loadBalancer.healthCheck.unhealthyThresholdCount=4"],
    ["workload.readinessProbe.periodSeconds=3", "workload.readinessProbe.failureThreshold=1"],
    ["workload.readinessProbe.successThreshold=3", "app.startupSeconds=13", "app.onSigterm=drain"],
    ["app.onSigterm=ignore", "workload.preStopSleepSeconds=7"],
]


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize(
    "sets", VARIANTS, ids=lambda s: ",".join(x.split("=")[0][-22:] for x in s) or "as-is"
)
def test_a_whole_control_plane_computed_equals_it_ticking(name: str, sets: list[str]) -> None:
    sc = load_builtin(name, sets)
    for seed in (1, 2):
        computed, computed_events = _control_plane(sc, seed, ticking=False)
        ticking, ticking_events = _control_plane(sc, seed, ticking=True)
        assert _observed(computed) == _observed(ticking)
        # the checks that change nothing are no events any more (instance targets are not modelled with
        # ALB health checks: without a readiness probe there is nothing to save)
        if sc.load_balancer.target_type == "ip" or sc.workload.readiness_probe is not None:
            assert computed_events < ticking_events
        else:
            assert computed_events == ticking_events


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_target_placed_again_on_a_node_checks_as_the_ticking_checker_does(seed: int) -> None:
    """A RegisterTargets for a target already registered (or still draining) places a new entry on each
    node while the old entry's checks still run: both chains check the new entry. The computed checker
    hands that key to ticking; the outcome must be the ticking checker's."""
    sc = scenario(
        workload={"replicas": 4},
        loadBalancer={"nodes": 2, "healthCheck": {"intervalSeconds": 5, "timeoutSeconds": 2}},
    )
    outcomes = []
    for ticking in (False, True):
        cluster, sched = _cluster(sc, seed, ticking=ticking)
        tg = cluster.target_group
        pods = cluster.api.pods

        def stop_accepting(pod: Pod, at_s: float) -> Callable[[], None]:
            return lambda: setattr(pod, "stop_accept_s", at_s)

        sched.call_at(3.0, partial(tg.register_targets, [pods[0]]))
        sched.call_at(11.0, partial(tg.deregister_targets, [pods[1]]))
        sched.call_at(12.5, partial(tg.register_targets, [pods[1]]))
        # the app behind pod 2 stops answering, later pod 0's: their targets turn unhealthy, on both chains
        sched.call_at(20.0, stop_accepting(pods[2], 31.0))
        sched.call_at(40.0, stop_accepting(pods[0], 52.0))
        sched.run(until=200.0)
        outcomes.append(_observed(cluster))
        assert any(
            e.kind == "TargetHealthChanged" and e.attrs["new"] == "unhealthy" for e in cluster.rec.events
        )
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("interval", [5.0, 7.3, 15.0, 299.9])
def test_check_phases_drawn_in_blocks_are_the_ones_drawn_one_by_one(interval: float) -> None:
    sc = scenario(loadBalancer={"healthCheck": {"intervalSeconds": interval, "timeoutSeconds": 2}})
    tg = Cluster(VirtualScheduler(), SeededStreams(3), sc).target_group
    one_by_one = SeededStreams(3).rng("alb/hc-phase")
    # the steady-state targets drew theirs already; these continue the stream past a block's end
    drawn = len(tg.targets) * tg.nodes
    expected = [float(one_by_one.uniform(0, interval)) for _ in range(drawn + 300)]
    assert [tg._phase() for _ in range(300)] == expected[drawn:]
