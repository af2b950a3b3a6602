"""Trace test: a one-replica rollout with constant timings, event by event.

Every timing below is fixed by the scenario, so each event's time can be checked by hand: e.g. the new
pod's sandbox is ready at 0.3 (created) + 0.1 (kubelet hears) + 0.2 (scheduling) + 1 (sandbox) = 1.6.
The one random timing left is the ALB node's health-check phase for the new target (uniform within the
interval, docs/model.md): it is read from its named stream, the second draw (the first placed the old
target's checks).
"""

from __future__ import annotations

from rollsafe.model.causes import CODE
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.simulate import simulate
from tests.conftest import scenario

SC = scenario(
    workload={
        "replicas": 1,
        "strategy": {"maxSurge": 1, "maxUnavailable": 0},
        "preStopSleepSeconds": 5,
        "terminationGracePeriodSeconds": 10,
    },
    app={"startupSeconds": 1, "onSigterm": "exit"},
    loadBalancer={
        "nodes": 1,
        "registerPropagationSeconds": 2,
        "registerPropagationNodeJitterSeconds": 0,
        "deregisterPropagationSeconds": 3,
        "deregisterPropagationNodeJitterSeconds": 0,
        "deregistrationDelaySeconds": 20,
    },
    lbController={
        "registerTargetsSeconds": 0.2,
        "deregisterTargetsSeconds": 0.05,
        "describeTargetHealthSeconds": 0.05,
    },
    cluster={
        "apiLatencySeconds": 0.05,
        "watchLatencySeconds": 0.1,
        "schedulingSeconds": 0.2,
        "sandboxSeconds": 1,
        "imagePullSeconds": 2,
        "endpointSliceLagSeconds": 0.05,
        "podTeardownSeconds": 1,
        "nodes": 1,
    },
    traffic={"rps": 10},
)

NEW = "pod/web-7f6b9d4c8e-"
OLD = "pod/web-5d8c7b9f6d-"

PHASE = float(SeededStreams(1).rng("alb/hc-phase").uniform(0, 15, 2)[1])
HEALTHY = 6.2 + PHASE + 15  # first check at registration + 2 s + the phase, the second one interval later

EXPECTED = [
    (0.0, "alb", "RoutingChanged", "lb-node-0"),  # the steady state: the old pod is routed to
    (0.0, "kubectl", "RolloutStarted", "deployment/web"),
    (0.15, "deployment-controller", "ScalingReplicaSet", "replicaset/web-7f6b9d4c8e"),  # watch 0.1 + API 0.05
    (0.3, "replicaset-controller", "PodCreated", NEW),
    (1.6, "kubelet", "SandboxReady", NEW),
    (1.85, "endpointslice-controller", "EndpointUpdated", NEW),  # not ready yet
    (3.6, "kubelet", "ContainerStarted", NEW),  # + 2 s image pull
    (3.6, "kubelet", "ContainersReady", NEW),  # no readiness probe: ready as it runs
    (3.65, "kubelet", "PodReady", NEW),
    (3.85, "endpointslice-controller", "EndpointUpdated", NEW),  # ready
    (3.9, "deployment-controller", "ScalingReplicaSet", "replicaset/web-5d8c7b9f6d"),  # 1 -> 0
    (4.0, "replicaset-controller", "PodDeleted", OLD),
    (4.1, "kubelet", "PreStopStarted", OLD),
    (4.1, "deployment-controller", "RolloutComplete", "deployment/web"),
    (4.2, "lb-controller", "RegisterTargets", "targetgroup/"),  # hears 3.95, describe 0.05, register 0.2
    (4.2, "alb", "TargetRegistered", "target/10.0.16.5:8080"),
    (4.2, "endpointslice-controller", "EndpointUpdated", OLD),  # terminating
    (4.4, "lb-controller", "DeregisterTargets", "targetgroup/"),
    (4.4, "alb", "TargetDraining", "target/10.0.16.4:8080"),
    (4.6, "app", "Listening", NEW),  # Ready a second before it listens
    (
        6.2,
        "alb",
        "TargetInitialHealthChecking",
        "target/10.0.16.5:8080",
    ),  # propagation 2 s; the first check, PHASE later, passes
    (7.4, "alb", "NodeStoppedRouting", "target/10.0.16.4:8080"),  # deregistration propagation 3 s
    (7.4, "alb", "RoutingChanged", "lb-node-0"),  # nothing healthy left: 503s from here
    (9.1, "kubelet", "SIGTERM", OLD),  # preStop 5 s
    (9.1, "app", "StoppedAccepting", OLD),
    (9.1, "kubelet", "ContainerExited", OLD),
    (9.2, "kubelet", "PodRemoved", OLD),
    (9.35, "endpointslice-controller", "EndpointRemoved", OLD),
    (10.1, "kubelet", "PodIPGone", OLD),
    (HEALTHY, "alb", "TargetHealthChanged", "target/10.0.16.5:8080"),  # second check, one interval later
    (HEALTHY, "alb", "RoutingChanged", "lb-node-0"),
    (24.4, "alb", "TargetUnused", "target/10.0.16.4:8080"),  # deregistration delay 20 s
]
EXPECTED.sort(key=lambda e: e[0])  # stable: equal times keep the order above


def test_exact_event_sequence() -> None:
    result = simulate(SC, 1)
    got = [(round(e.t_s, 6), e.source, e.kind, e.object) for e in result.timeline]
    assert len(got) == len(EXPECTED)
    for (t, source, kind, obj), (et, esource, ekind, eobj) in zip(got, EXPECTED, strict=True):
        assert (source, kind) == (esource, ekind)
        assert obj.startswith(eobj)
        assert t == round(et, 6), f"{kind} {obj} at {t}, expected {et}"


def test_registration_to_first_traffic_is_recorded() -> None:
    # RegisterTargets returned at 4.2; the only LB node routes to the target once it is healthy
    (lag,) = simulate(SC, 1).registration_to_first_traffic_s
    assert abs(lag - (HEALTHY - 4.2)) < 1e-9


def test_sigkill_time_is_reported_with_sigterm() -> None:
    sigterm = next(e for e in simulate(SC, 1).timeline if e.kind == "SIGTERM")
    assert sigterm.attrs["sigkill_at_s"] == 14.1  # grace 10 - preStop 5 = 5 s after SIGTERM


def test_the_gap_between_old_and_new_targets_is_a_503_window() -> None:
    result = simulate(SC, 1, keep_requests=True)
    req = result.traffic.requests
    assert req is not None
    t, code = req["t"], req["code"]
    in_gap = (t >= 7.4) & (t < HEALTHY)
    assert in_gap.sum() > 0
    assert set(code[in_gap].tolist()) == {CODE["no-healthy-targets"]}
    assert set(code[~in_gap].tolist()) == {0}
