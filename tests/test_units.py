"""The parts no other test names: kube-proxy's endpoint choice, the EndpointSlice's endpoint for a pod,
routing views, the seeded streams, the no-healthy-target metric and the aggregation over several runs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from rollsafe.control.api import Endpoint, Pod
from rollsafe.control.cluster import _ALPHABET, Cluster
from rollsafe.control.endpointslice import endpoint_for
from rollsafe.control.kube_proxy import proxy_targets
from rollsafe.control.routing import RoutingView
from rollsafe.control.scheduler import Sampler
from rollsafe.model.dist import parse_dist
from rollsafe.report.summary import summarize
from rollsafe.scenarios import builtin_names, load_builtin
from rollsafe.sim.rng import RUN_STREAMS, SeededStreams, seed_sequence_states, stream_seed
from rollsafe.sim.scheduler import VirtualScheduler
from rollsafe.sim.simulate import _no_healthy_seconds, simulate
from tests.conftest import scenario


def _pod(index: int, **kw: Any) -> Pod:
    return Pod(
        index=index, name=f"p{index}", uid=f"u{index}", rs="rs", ip=f"10.0.0.{index}", node=0, created_s=0,
        gated=False, **kw,
    )  # fmt: skip


def _ep(index: int, *, ready: bool, serving: bool, terminating: bool) -> Endpoint:
    return Endpoint(pod=_pod(index), ready=ready, serving=serving, terminating=terminating)


# -- kube-proxy (KEP-1669 ProxyTerminatingEndpoints) ---------------------------------------------------
def test_kube_proxy_prefers_ready_endpoints_and_ignores_terminating_ones_then() -> None:
    eps = [
        _ep(3, ready=True, serving=True, terminating=False),
        _ep(1, ready=False, serving=True, terminating=True),
        _ep(2, ready=True, serving=True, terminating=False),
    ]
    assert proxy_targets(eps) == [2, 3]


def test_kube_proxy_falls_back_to_serving_terminating_endpoints() -> None:
    eps = [
        _ep(1, ready=False, serving=True, terminating=True),
        _ep(2, ready=False, serving=False, terminating=True),  # no longer serving: never used
        _ep(0, ready=False, serving=True, terminating=True),
    ]
    assert proxy_targets(eps) == [0, 1]


def test_kube_proxy_has_nothing_when_no_endpoint_serves() -> None:
    assert proxy_targets([_ep(1, ready=False, serving=False, terminating=True)]) == []
    assert proxy_targets([]) == []


# -- EndpointSlice: podToEndpoint ----------------------------------------------------------------------
def test_endpoint_for_a_running_pod_follows_its_readiness() -> None:
    ready = endpoint_for(_pod(1, has_ip=True, serving=True))
    assert ready is not None
    assert (ready.ready, ready.serving, ready.terminating) == (True, True, False)
    unready = endpoint_for(_pod(1, has_ip=True, serving=False))
    assert unready is not None
    assert (unready.ready, unready.serving, unready.terminating) == (False, False, False)


def test_a_terminating_pod_is_never_ready_but_keeps_serving() -> None:
    ep = endpoint_for(_pod(1, has_ip=True, serving=True, deletion_s=3.0))
    assert ep is not None
    assert (ep.ready, ep.serving, ep.terminating) == (False, True, True)


@pytest.mark.parametrize("state", [{"has_ip": False}, {"terminal": True}, {"gone": True}])
def test_pods_without_ip_terminal_or_gone_are_not_endpoints(state: dict[str, bool]) -> None:
    assert endpoint_for(_pod(1, **{"has_ip": True, "serving": True, **state})) is None


# -- routing views ---------------------------------------------------------------------------------------
def test_routing_view_records_changes_only() -> None:
    view = RoutingView("lb-node-0", "round_robin")
    assert not view.current
    assert view.set(1.0, [1, 2])
    assert not view.set(2.0, (1, 2)), "the same targets are no change"
    assert view.set(3.0, [1, 2], fail_open=True), "the same targets failing open are a change"
    assert view.set(4.0, [2])
    assert view.times == [1.0, 3.0, 4.0]
    assert view.targets == [(1, 2), (1, 2), (2,)]
    assert view.fail_open == [False, True, False]
    assert view.current == (2,)


def test_routing_view_replaces_a_change_at_the_same_instant() -> None:
    view = RoutingView("lb-node-0", "round_robin")
    view.set(1.0, [1])
    view.set(2.0, [1, 2])
    view.set(2.0, [2])
    assert view.times == [1.0, 2.0]
    assert view.targets == [(1,), (2,)]


# -- seeded streams ----------------------------------------------------------------------------------------
def test_stream_seeds_depend_on_seed_and_name_only() -> None:
    assert stream_seed(1, "traffic/arrivals") == stream_seed(1, "traffic/arrivals")
    assert stream_seed(1, "traffic/arrivals") != stream_seed(2, "traffic/arrivals")
    assert stream_seed(1, "traffic/arrivals") != stream_seed(1, "traffic/service")
    # pinned: a change here changes every run's output (the goldens would show it too)
    assert stream_seed(1, "traffic/arrivals") == 16265588598969715723


def test_a_stream_is_the_same_whatever_other_streams_were_drawn() -> None:
    alone = SeededStreams(5).rng("alb/hc-phase").random(4)
    streams = SeededStreams(5)
    streams.rng("traffic/arrivals").random(1000)
    streams.rng("a-new-stream").random(10)
    assert np.array_equal(streams.rng("alb/hc-phase").random(4), alone)
    assert not np.array_equal(SeededStreams(6).rng("alb/hc-phase").random(4), alone)


@pytest.mark.parametrize(
    "spec",
    [
        {"uniform": [0.5, 3.0]},
        {"exponential": {"mean": 2.0}},
        {"lognormal": {"median": 2.0, "p99": 10.0}},
        {
            "mixture": [
                {"weight": 0.9, "lognormal": {"median": 3.0, "p99": 25.0}},
                {"weight": 0.1, "uniform": [60, 150]},
            ]
        },
    ],
)
def test_a_sampler_hands_out_the_draws_of_whole_256_blocks(spec: dict[str, Any]) -> None:
    """Whatever block sizes the Sampler uses, its values are those of drawing 256 at a time."""
    dist = parse_dist(spec)
    sampler = Sampler(SeededStreams(3), "api/latency", dist)
    got = [sampler() for _ in range(700)]
    rng = SeededStreams(3).rng("api/latency")
    want = np.concatenate([dist.sample(rng, 256) for _ in range(3)])[:700]
    assert got == want.tolist()
    assert all(type(v) is float for v in got)


def test_pod_uids_are_sixteen_draws_per_pod_whatever_the_blocks() -> None:
    """The cluster draws UID characters ahead in growing blocks (twice the replicas' worth, at least 16
    pods, then twice the last block, up to 256 pods at a time); each pod's UID is still the 16 draws a call
    per pod would give, across every block boundary: 8 replicas make the 16-pod first block, then blocks of
    32, 64, 128 and 256 pods; 300 replicas start at 256."""
    for replicas in (8, 300):
        sc = scenario(workload={"replicas": replicas})
        cluster = Cluster(VirtualScheduler(), SeededStreams(4), sc)
        for _ in range(600 - replicas):  # more pods, as a rollout (and pods replaced again) would make
            cluster._make_pod(cluster.api.replicasets[0])
        rng = SeededStreams(4).rng("pods/uid")
        want = [
            "".join(_ALPHABET[x] for x in rng.integers(0, len(_ALPHABET), 16).tolist()) for _ in range(600)
        ]
        assert [p.uid for p in cluster.api.pods] == want
        assert len(set(want)) == 600


def test_vectorized_seeding_is_numpys_seed_sequence() -> None:
    rng = np.random.default_rng(0)
    entropy = [
        0,
        1,
        2**32 - 1,
        2**32,
        2**63,
        2**64 - 1,
        *(int(x) for x in rng.integers(0, 2**64, 3000, np.uint64)),
    ]
    entropy += [int(x) for x in rng.integers(0, 2**32, 500)]  # one-word integers
    ours = seed_sequence_states(entropy)
    for e, row in zip(entropy, ours, strict=True):
        assert row.tolist() == np.random.SeedSequence(e).generate_state(3, np.uint64).tolist(), e


def test_a_stream_is_sfc64_of_its_stream_seed() -> None:
    """The precomputed seeding gives the generator SFC64(stream_seed(seed, name)) gives, listed or not."""
    for seed in (0, 1, 123456789):
        streams = SeededStreams(seed)
        for name in (*RUN_STREAMS, "a-stream-nobody-listed"):
            plain = np.random.Generator(np.random.SFC64(stream_seed(seed, name)))
            ours = streams.rng(name)
            ours_state, plain_state = ours.bit_generator.state["state"], plain.bit_generator.state["state"]
            assert ours_state["state"].tolist() == plain_state["state"].tolist(), name
            assert np.array_equal(ours.random(8), plain.random(8)), name


@pytest.mark.parametrize("name", builtin_names())
def test_every_stream_a_builtin_run_uses_is_seeded_at_once(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = SeededStreams.rng

    def rng(self: SeededStreams, n: str) -> np.random.Generator:
        asked.append(n)
        return real(self, n)

    monkeypatch.setattr(SeededStreams, "rng", rng)
    simulate(load_builtin(name), 1)
    assert asked, "the run asked for its streams"
    assert set(asked) <= set(RUN_STREAMS), "a stream missing from RUN_STREAMS is seeded the slow way"


# -- the no-healthy-target metric --------------------------------------------------------------------------
def _views(*specs: list[tuple[float, list[int], bool]]) -> list[RoutingView]:
    views = []
    for spec in specs:
        view = RoutingView("v", "round_robin")
        for t, targets, fail_open in spec:
            view.set(t, targets, fail_open=fail_open)
        views.append(view)
    return views


def test_no_healthy_seconds_counts_empty_and_fail_open_time_on_any_view_once() -> None:
    views = _views(
        [(-1e9, [1], False), (10.0, [], False), (14.0, [2], False)],  # empty 10-14
        [(-1e9, [1], False), (12.0, [1, 2], True), (20.0, [2], False)],  # failing open 12-20
    )
    # the union of [10, 14) and [12, 20) is 10 s
    assert _no_healthy_seconds(views, 100.0) == pytest.approx(10.0)


def test_no_healthy_seconds_is_clipped_to_the_simulated_window() -> None:
    views = _views([(-1e9, [], False), (5.0, [1], False), (90.0, [], False)])
    assert _no_healthy_seconds(views, 100.0) == pytest.approx(5.0 + 10.0)
    assert _no_healthy_seconds(_views([(-1e9, [1], False)]), 100.0) == 0.0


# -- aggregation over several runs --------------------------------------------------------------------------
def test_several_runs_aggregate_as_documented() -> None:
    sc = scenario(workload={"replicas": 3}, traffic={"rps": 50})
    results = [simulate(sc, seed) for seed in (1, 2, 3, 4)]
    doc = summarize(results, seed=1, scenario=sc)
    failed = [r.failed for r in results]
    assert doc["runs"] == 4
    assert doc["requests"]["failed"] == pytest.approx(np.mean(failed))
    assert doc["requests"]["total"] == pytest.approx(np.mean([r.traffic.total for r in results]))
    for cause in doc["causes"]:
        assert doc["causes"][cause] == pytest.approx(np.mean([r.causes()[cause] for r in results]))
    rs = doc["runs_summary"]
    assert rs["seeds"] == [1, 2, 3, 4]
    assert rs["failed"]["max"] == max(failed)
    assert rs["failed"]["p50"] == pytest.approx(np.percentile(failed, 50))
    assert rs["p_any_failure"] == pytest.approx(sum(f > 0 for f in failed) / 4)
    # the deregistration lag is the worst run's, not a mean
    lags = [r.stop_routing_lag_s for r in results if r.stop_routing_lag_s is not None]
    assert doc["load_balancer"]["stop_routing_lag_s"] == pytest.approx(max(lags))
    assert doc["rollout"]["completed_runs"] == sum(r.rollout_s is not None for r in results)
    assert doc["rollout"]["duration_s"] == pytest.approx(np.mean([r.rollout_s for r in results]))


# -- the summary's one-run shortcuts ----------------------------------------------------------------------
def test_summary_mean_and_percentile_are_numpys() -> None:
    from rollsafe.report.summary import _mean, _percentile

    rng = np.random.default_rng(4)
    samples: list[Any] = [[3], [0], [2.5], [1e-7], [123456789], list(rng.random(1)), list(rng.random(7))]
    samples += [rng.random(1), rng.integers(0, 50, 9), [1, 2], []]
    for values in samples:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want_mean = float(np.mean(values))
            got_mean = _mean(values)
        assert got_mean == want_mean or (np.isnan(got_mean) and np.isnan(want_mean)), values
        for q in (0, 50, 90, 95, 99, 100):
            if len(values):
                assert _percentile(values, q) == float(np.percentile(values, q)), (values, q)
