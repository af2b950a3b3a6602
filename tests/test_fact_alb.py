"""Fact table: ALB target states, fail-open, and the LB controller's endpoint selection
(aws-alb-and-lb-controller.md §1.1-§1.6, §4.3)."""

from __future__ import annotations

import pytest

from rollsafe.control.api import Endpoint, Pod
from rollsafe.control.app import window_accepts
from rollsafe.control.lb_controller import select_endpoints
from rollsafe.control.target_group import next_state, routable

T = {"healthy_needed": 2, "initial_needed": 2, "unhealthy_needed": 2}


@pytest.mark.parametrize(
    ("state", "ok", "run", "expected"),
    [
        ("initial", True, 1, "initial"),  # one success is not enough when two are required
        ("initial", True, 2, "healthy"),
        ("initial", False, 1, "initial"),
        ("initial", False, 2, "unhealthy"),
        ("healthy", False, 1, "healthy"),  # UnhealthyThresholdCount consecutive failures
        ("healthy", False, 2, "unhealthy"),
        ("healthy", True, 7, "healthy"),
        ("unhealthy", True, 1, "unhealthy"),  # HealthyThresholdCount consecutive successes
        ("unhealthy", True, 2, "healthy"),
        ("unhealthy", False, 9, "unhealthy"),
    ],
)
def test_health_state_transitions(state: str, ok: bool, run: int, expected: str) -> None:
    assert next_state(state, ok=ok, run=run, **T) == expected


def test_initial_checks_required_one_follows_the_aws_docs() -> None:
    # "After your target is registered, it must pass one health check to be considered healthy."
    assert next_state("initial", ok=True, run=1, healthy_needed=5, initial_needed=1, unhealthy_needed=2) == (
        "healthy"
    )


def test_routing_sends_to_healthy_targets_only() -> None:
    states = [(0, "healthy"), (1, "initial"), (2, "unhealthy"), (3, "healthy")]
    assert routable(states, minimum_healthy=1, route_initial=False) == ([0, 3], False)


def test_fail_open_when_no_target_is_healthy() -> None:
    # "If a target group contains only unhealthy registered targets, the load balancer routes requests to
    # all those targets"
    states = [(0, "unhealthy"), (1, "initial"), (2, "unhealthy")]
    assert routable(states, minimum_healthy=1, route_initial=False) == ([0, 2], True)


def test_only_initial_targets_get_nothing_by_default() -> None:
    states = [(0, "initial"), (1, "initial")]
    assert routable(states, minimum_healthy=1, route_initial=False) == ([], False)
    assert routable(states, minimum_healthy=1, route_initial=True) == ([0, 1], True)


def test_minimum_healthy_targets_count() -> None:
    # below minimum_healthy_targets.count the node sends to all targets, unhealthy included
    states = [(0, "healthy"), (1, "unhealthy")]
    assert routable(states, minimum_healthy=2, route_initial=False) == ([0, 1], True)


def _pod(i: int, **kw: object) -> Pod:
    pod = Pod(
        index=i, name=f"p{i}", uid=f"u{i}", rs="rs", ip=f"10.0.0.{i}", node=0, created_s=0.0, gated=True
    )
    for k, v in kw.items():
        setattr(pod, k, v)
    return pod


def test_health_check_fails_once_the_pod_ip_is_gone() -> None:
    # a pod deleted before its sandbox came up has no IP, whatever its server would do
    pod = _pod(0, listen_s=5.0, stop_accept_s=20.0, ip_gone_s=10.0)
    assert [window_accepts(pod, t) for t in (5.0, 9.9, 10.0, 12.0)] == [True, True, False, False]


def test_health_check_passes_only_while_listening() -> None:
    pod = _pod(0, listen_s=5.0, stop_accept_s=20.0, ip_gone_s=25.0)
    assert [window_accepts(pod, t) for t in (4.9, 5.0, 19.9, 20.0, 30.0)] == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_lb_controller_endpoint_selection() -> None:
    ready = Endpoint(pod=_pod(0, containers_ready=True), ready=True, serving=True, terminating=False)
    # held NotReady only by the readiness gate: containers ready, not terminating -> registered
    gated = Endpoint(pod=_pod(1, containers_ready=True), ready=False, serving=False, terminating=False)
    # containers not ready yet -> not registered
    starting = Endpoint(pod=_pod(2, containers_ready=False), ready=False, serving=False, terminating=False)
    # terminating: ready is false and the gated path excludes it -> deregistered
    terminating = Endpoint(pod=_pod(3, containers_ready=True), ready=False, serving=True, terminating=True)
    chosen = select_endpoints([ready, gated, starting, terminating])
    assert [p.index for p in chosen] == [0, 1]
