"""Calibrated lags (issue 6): the mixture distribution, the per-call deregistration tail, the image-pull
cache, the health-check phase, and what the heavy tail does to preStop sleeps on the zero-downtime setup."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from rollsafe.control.cluster import Cluster
from rollsafe.errors import ScenarioError
from rollsafe.model.dist import Dist, parse_dist
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import load_builtin, load_text
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler
from rollsafe.sim.simulate import _registration_to_first_traffic, run_control_plane, simulate
from tests.conftest import scenario

TAIL = {
    "mixture": [
        {"weight": 0.9, "lognormal": {"median": 3, "p99": 25}},
        {"weight": 0.1, "uniform": [100, 200]},
    ]
}


# -- the mixture ----------------------------------------------------------------------------------
def test_mixture_draws_each_component_by_its_weight() -> None:
    d = parse_dist(TAIL)
    x = d.sample(np.random.default_rng(3), 200_000)
    tail = x >= 100
    # 10 % from the tail, within 5 standard errors (sd of the share is 0.00067)
    assert abs(tail.mean() - 0.1) < 0.0034
    assert x[tail].max() <= 200
    # the body is the lognormal: its median is 3 s
    assert abs(np.median(x[~tail]) - 3) < 0.05
    # same stream, same values
    assert np.array_equal(x, d.sample(np.random.default_rng(3), 200_000))


def test_quantile_is_exact_for_every_kind_and_agrees_with_sampling() -> None:
    assert Dist("lognormal", 3.0, 25.0).quantile(0.99) == pytest.approx(25.0)
    assert Dist("lognormal", 3.0, 25.0).quantile(0.5) == pytest.approx(3.0)
    assert Dist.uniform(1, 5).quantile(0.25) == 2.0
    assert Dist("exponential", 2.0).quantile(0.5) == pytest.approx(2 * math.log(2))
    assert Dist.constant(4).quantile(0.99) == 4.0
    d = parse_dist(TAIL)
    x = np.sort(d.sample(np.random.default_rng(5), 400_000))
    for q in (0.5, 0.85, 0.95, 0.99):
        assert d.cdf(d.quantile(q)) == pytest.approx(q, abs=1e-9)
        empirical = x[int(q * len(x))]
        assert d.quantile(q) == pytest.approx(empirical, rel=0.02)
    # the tail's 10 % sits above 100 s: the p95 is about its middle (the body adds a hair above 100 s)
    assert d.quantile(0.95) == pytest.approx(150.0, rel=1e-3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        d.quantile(1.5)


def test_the_default_deregistration_lag_matches_the_documented_figures() -> None:
    d = Scenario().load_balancer.deregister_propagation_seconds
    assert d.kind == "mixture"
    assert d.quantile(0.5) == pytest.approx(3.0, abs=0.05)  # docs/model.md: median 3.0 s
    assert d.quantile(0.99) == pytest.approx(25.9, abs=0.05)  # p99 25.9 s, not the component's 25
    assert 60 < d.quantile(0.9995) <= 150  # the tail is minutes, rarely


def test_mixture_spelling_round_trips_through_a_scenario() -> None:
    sc = load_text(
        "loadBalancer:\n"
        "  deregisterPropagationSeconds:\n"
        "    mixture:\n"
        "      - {weight: 0.75, constant: 2}\n"
        "      - {weight: 0.25, exponential: {mean: 4}}\n",
        source="s.yaml",
    )
    d = sc.load_balancer.deregister_propagation_seconds
    assert d == Dist.mixture([(0.75, Dist.constant(2)), (0.25, Dist("exponential", 4.0))])
    spec = sc.model_dump(by_alias=True)["loadBalancer"]["deregisterPropagationSeconds"]
    assert spec == {
        "mixture": [{"weight": 0.75, "constant": 2.0}, {"weight": 0.25, "exponential": {"mean": 4.0}}]
    }
    assert Scenario.model_validate(sc.model_dump(by_alias=True)) == sc
    assert parse_dist(Scenario().load_balancer.deregister_propagation_seconds.to_spec()) == (
        Scenario().load_balancer.deregister_propagation_seconds
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[]", r"mixture expects a list"),
        ("[{weight: 1}]", r"component 1: expected the weight and exactly one of"),
        ("[{uniform: [1, 2]}]", r"component 1: expected a mapping \{weight"),
        ("[{weight: 0.5, uniform: [1, 2]}, {weight: 0.4, constant: 3}]", r"weights must sum to 1, found 0.9"),
        (
            "[{weight: 0, uniform: [1, 2]}, {weight: 1, constant: 3}]",
            r"component 1: weight expects a number in",
        ),
        ("[{weight: 1.5, uniform: [1, 2]}]", r"component 1: weight expects a number in"),
        ("[{weight: '1', uniform: [1, 2]}]", r"component 1: weight expects a number, found '1'"),
        ("[{weight: 1, uniform: [2, 1]}]", r"component 1: uniform expects 0 <= lo <= hi"),
        ("[{weight: 1, mixture: [{weight: 1, constant: 1}]}]", r"no nested mixture"),
        ("[{weight: 1, constant: 1, uniform: [1, 2]}]", r"exactly one of"),
    ],
)
def test_bad_mixtures_name_file_line_and_key(body: str, expected: str) -> None:
    text = f"loadBalancer:\n  nodes: 3\n  deregisterPropagationSeconds: {{mixture: {body}}}\n"
    with pytest.raises(
        ScenarioError, match=r"s\.yaml:3: loadBalancer\.deregisterPropagationSeconds: .*" + expected
    ):
        load_text(text, source="s.yaml")


def test_a_non_finite_weight_is_refused_where_it_is_written() -> None:
    text = (
        "loadBalancer:\n  deregisterPropagationSeconds:\n    mixture:\n      - {weight: .nan, constant: 1}\n"
    )
    where = r"s\.yaml:4: loadBalancer\.deregisterPropagationSeconds\.mixture\.0\.weight: .*finite"
    with pytest.raises(ScenarioError, match=where):
        load_text(text, source="s.yaml")


# -- the per-call tail ----------------------------------------------------------------------------
def _stops(cluster: Cluster) -> dict[tuple[str, str], float]:
    return {(e.object, e.attrs["node"]): e.t_s for e in cluster.rec.events if e.kind == "NodeStoppedRouting"}


def test_every_target_of_one_deregister_call_shares_the_propagation_draw() -> None:
    sc = scenario(loadBalancer={"nodes": 3, "deregistrationDelaySeconds": 3600})
    sched = VirtualScheduler()
    cluster = Cluster(sched, SeededStreams(4), sc)
    tg = cluster.target_group
    pods = cluster.api.pods[:4]
    sched.run(until=1.0)
    tg.deregister_targets(pods[:3])  # one call of three targets
    tg.deregister_targets(pods[3:])  # a second call
    sched.run(until=3000.0)
    stops = _stops(cluster)
    (t1, prop1), (t2, prop2) = tg.deregister_calls
    assert prop1 != prop2  # each call has its own draw
    jitter = sc.load_balancer.deregister_propagation_node_jitter_seconds
    for node in ("lb-node-0", "lb-node-1", "lb-node-2"):
        first = {stops[(tg._obj(p), node)] for p in pods[:3]}
        assert len(first) == 1  # the call's targets leave this node together
        lag = first.pop() - t1 - prop1
        assert jitter.a <= lag <= jitter.b  # the call's draw plus this node's jitter
        second = stops[(tg._obj(pods[3]), node)] - t2 - prop2
        assert jitter.a <= second <= jitter.b


def test_every_target_of_one_register_call_reaches_a_node_together() -> None:
    sc = scenario(loadBalancer={"nodes": 3})
    sched = VirtualScheduler()
    cluster = Cluster(sched, SeededStreams(6), sc)
    tg = cluster.target_group
    sched.run(until=1.0)
    extra = [cluster._make_pod(cluster.api.replicasets[0]) for _ in range(3)]
    tg.register_targets(extra)
    sched.run(until=100.0)
    arrived: dict[str, set[float]] = {}
    for e in cluster.rec.events:
        if e.kind == "TargetInitialHealthChecking":
            arrived.setdefault(e.attrs["node"], set()).add(e.t_s)
    assert sorted(arrived) == ["lb-node-0", "lb-node-1", "lb-node-2"]
    assert all(len(times) == 1 for times in arrived.values())  # one arrival per node for the call
    spread = max(min(t) for t in arrived.values()) - min(min(t) for t in arrived.values())
    assert 0 < spread <= sc.load_balancer.register_propagation_node_jitter_seconds.b  # the nodes' jitter


def test_a_rollout_draws_once_per_deregister_call_not_per_target() -> None:
    cp = run_control_plane(load_builtin("eks-alb-defaults"), 2)
    calls = [e for e in cp.cluster.rec.events if e.kind == "DeregisterTargets"]
    assert len(cp.cluster.target_group.deregister_calls) == len(calls)
    assert sum(len(e.attrs["targets"]) for e in calls) == cp.cluster.target_group.deregistrations == 10


def test_the_controller_throttle_spaces_calls_beyond_the_burst() -> None:
    from rollsafe.control.lb_controller import TokenBucket

    bucket = TokenBucket(4.0, 20.0)
    times = [bucket.take(0.0) for _ in range(24)]
    assert times[:20] == [0.0] * 20  # the burst
    assert times[20:] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # then 4 per second
    assert bucket.take(100.0) == 100.0  # refilled


# -- the image-pull cache -------------------------------------------------------------------------
def _starts(workers: int) -> tuple[dict[str, float], dict[str, float]]:
    sc = scenario(
        workload={"replicas": 3, "strategy": {"maxSurge": 3, "maxUnavailable": 0}},
        cluster={"nodes": workers, "imagePullSeconds": 10, "sandboxSeconds": {"uniform": [0.5, 3]}},
        loadBalancer={"nodes": 1},
    )
    cp = run_control_plane(sc, 3)
    new = "pod/web-7f6b9d4c8e-"
    ev = [e for e in cp.cluster.rec.events if e.object.startswith(new)]
    sandbox = {e.object: e.t_s for e in ev if e.kind == "SandboxReady"}
    started = {e.object: e.t_s for e in ev if e.kind == "ContainerStarted"}
    return sandbox, started


def test_the_second_pod_on_a_node_does_not_pull_again_and_one_arriving_mid_pull_waits() -> None:
    sandbox, started = _starts(workers=1)
    assert len(started) == 3
    pull_end = min(sandbox.values()) + 10  # one pull, begun by the first sandbox on the node
    assert all(sandbox[p] < pull_end for p in sandbox)  # the others arrived during it ...
    assert started == dict.fromkeys(started, pytest.approx(pull_end))  # ... and waited for it


def test_each_node_pulls_once_for_itself() -> None:
    sandbox, started = _starts(workers=3)
    assert {p: started[p] - sandbox[p] for p in started} == dict.fromkeys(started, pytest.approx(10))


# -- the health-check phase -----------------------------------------------------------------------
def _first_traffic(required: int, seeds: range) -> list[float]:
    sc = scenario(
        # a readiness probe, so the target is registered only once the app listens: every check passes
        workload={
            "replicas": 1,
            "strategy": {"maxSurge": 1, "maxUnavailable": 0},
            "readinessGate": True,
            "readinessProbe": {"periodSeconds": 1},
        },
        loadBalancer={
            "nodes": 1,
            "registerPropagationSeconds": 0,
            "registerPropagationNodeJitterSeconds": 0,
            "initialHealthChecksRequired": required,
            "healthCheck": {"intervalSeconds": 10},
        },
    )
    out: list[float] = []
    for seed in seeds:
        out.extend(_registration_to_first_traffic(run_control_plane(sc, seed).cluster))
    return out


@pytest.mark.parametrize("required", [1, 2])
def test_first_check_lands_at_a_random_phase_and_healthy_needs_the_required_passes(required: int) -> None:
    lags = np.array(_first_traffic(required, range(40)))
    assert len(lags) == 40
    # registration reaches the node at once; the first check lands within one interval; each further
    # required pass costs one interval
    low = (required - 1) * 10
    assert ((lags >= low) & (lags <= low + 10)).all()
    # uniform over the interval, not at its start: mean 5 s in, and spread (sd of U(0,10) is 2.9 s)
    assert abs(lags.mean() - low - 5) < 1.5
    assert lags.std() > 2


def test_registration_to_first_traffic_appears_in_the_json_summary() -> None:
    from rollsafe.report.summary import summarize

    results = [simulate(load_builtin("eks-alb-readiness-gate"), s) for s in (1, 2)]
    got = summarize(results, seed=1, scenario=load_builtin("eks-alb-readiness-gate"))["load_balancer"]
    values = [v for r in results for v in r.registration_to_first_traffic_s]
    assert len(values) == 20
    assert got["registration_to_first_traffic_s"] == {
        "p50": pytest.approx(float(np.median(values)), abs=1e-6),
        "max": pytest.approx(max(values), abs=1e-6),
    }
    # LB controller defaults (interval 15 s, threshold 2): about one to two intervals, never one check
    assert 15 < got["registration_to_first_traffic_s"]["p50"] < 45


# -- what the tail does to preStop sleeps ---------------------------------------------------------
def _fisher_one_sided(k_hi: int, k_lo: int, n: int) -> float:
    """P(a split at least as lopsided as k_hi vs k_lo of the k_hi + k_lo failures, if both arms had the
    same failure probability): Fisher's exact test, one-sided, equal arms of n runs."""
    total = k_hi + k_lo
    denom = math.comb(2 * n, total)
    return sum(math.comb(n, k) * math.comb(n, total - k) for k in range(k_hi, min(n, total) + 1)) / denom


def test_p_any_failure_falls_as_the_prestop_sleep_grows() -> None:
    # The zero-downtime built-in at 4 replicas and 20 rps (to keep it to seconds), grace period raised with
    # the sleep; 100 seeds each. Each step must be a real fall: one-sided Fisher p < 0.01.
    base: dict[str, Any] = load_builtin("eks-alb-zero-downtime").model_dump(by_alias=True)
    base["workload"]["replicas"] = 4
    base["traffic"]["rps"] = 20
    n = 100
    failing: list[int] = []
    for sleep in (2, 5, 10, 20, 40):
        base["workload"]["preStopSleepSeconds"] = sleep
        base["workload"]["terminationGracePeriodSeconds"] = sleep + 30
        sc = Scenario.model_validate(base)
        failing.append(sum(1 for s in range(n) if simulate(sc, s).failed))
    assert failing[1] > n // 2, f"a 5 s sleep must not look safe: {failing}"
    for hi, lo in itertools.pairwise(failing):
        assert hi > lo, failing
        assert _fisher_one_sided(hi, lo, n) < 0.01, failing
