"""Mechanisms whose breakage once went unnoticed: each test fails when its mechanism is broken."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.control.cluster import Cluster
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import VirtualScheduler
from tests.conftest import scenario


def _ip_cluster(nodes: int = 3) -> Cluster:
    return Cluster(VirtualScheduler(), SeededStreams(1), scenario(loadBalancer={"nodes": nodes}))


def test_describe_target_health_is_healthy_only_when_every_lb_node_agrees() -> None:
    # MODEL ASSUMPTION (docs/model.md): DescribeTargetHealth reports the target group's view, which the
    # readiness gate waits on; healthy on one node of three is not healthy.
    cluster = _ip_cluster()
    tg = cluster.target_group
    pod = cluster.api.pods[0]
    assert tg.api_state(pod) == "healthy"
    node_states = [tg.node_targets[n][pod.index] for n in range(3)]
    node_states[1].state = "initial"
    assert tg.api_state(pod) == "initial"
    node_states[1].state = "unhealthy"
    assert tg.api_state(pod) == "unhealthy"
    node_states[0].state = node_states[2].state = "unhealthy"
    node_states[1].state = "healthy"
    assert tg.api_state(pod) == "unhealthy"


def test_a_new_target_is_initial_until_the_registration_reached_every_node() -> None:
    cluster = _ip_cluster()
    tg = cluster.target_group
    pod = cluster.api.pods[0]
    tg.targets[pod.index].propagated.discard(2)
    assert tg.api_state(pod) == "initial"


def test_a_deregistered_target_is_draining_and_then_gone_from_describe() -> None:
    cluster = _ip_cluster()
    tg = cluster.target_group
    pod = cluster.api.pods[0]
    tg.deregister(pod)
    assert tg.api_state(pod) == "draining"
    assert pod not in tg.registered()


def _rs_syncs(sc: Any, seed: int) -> tuple[Cluster, list[tuple[str, float]]]:
    sched = VirtualScheduler()
    cluster = Cluster(sched, SeededStreams(seed), sc)
    syncs: list[tuple[str, float]] = []
    rsc = cluster.rs_controller
    original = rsc._sync

    def recording(rs: Any) -> float:
        syncs.append((rs.name, sched.now()))
        return float(original(rs))

    rsc._sync = recording  # type: ignore[method-assign]
    sched.call_at(0.0, cluster.start_rollout)
    sched.run(until=200.0)
    return cluster, syncs


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
def test_replicaset_rechecks_availability_min_ready_seconds_plus_one_after_ready() -> None:
    # replica_set.go updatePod: a pod that turned Ready is enqueued again after minReadySeconds + 1 s, so the
    # ReplicaSet's availableReplicas is updated without waiting for another event (§1.4). Two new pods
    # whose startups are far apart: while only the first is Ready, nothing else would sync the ReplicaSet.
    min_ready = 5.0
    sc = scenario(
        workload={
            "replicas": 2,
            "minReadySeconds": min_ready,
            "strategy": {"maxSurge": 2, "maxUnavailable": 0},
            "readinessProbe": {"periodSeconds": 1},
        },
        app={"startupSeconds": {"uniform": [0, 40]}},
    )
    checked = 0
    for seed in range(1, 9):
        cluster, syncs = _rs_syncs(sc, seed)
        new = cluster.deployment.new_rs
        assert new is not None
        first, second = sorted(p.ready_since_s for p in new.pods if p.ready)
        if second < first + min_ready + 2:
            continue
        checked += 1
        # the Ready status write lands one API latency later and the watch delivers it after another delay
        due = first + min_ready + 1
        window = [t for name, t in syncs if name == new.name and due <= t <= due + 0.5]
        assert window, f"seed {seed}: no ReplicaSet sync {min_ready + 1:g} s after Ready at {first:.3f}"
    assert checked >= 2, "the scenario should give pods that turn Ready far apart"
