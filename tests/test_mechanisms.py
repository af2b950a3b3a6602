"""Mechanisms whose breakage once went unnoticed: each test fails when its mechanism is broken."""

from __future__ import annotations

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
