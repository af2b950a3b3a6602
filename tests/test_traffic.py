"""Instance-mode connection pinning and closed-loop clients, as behaviours (docs/model.md, "Instance
targets: pinned connections" and "Clients: open and closed"). The exact agreement of both evaluators is in
tests/test_reference.py."""

from __future__ import annotations

from typing import Any

import numpy as np

from rollsafe.model.causes import CODE
from rollsafe.model.scenario import Scenario
from rollsafe.sim.dataplane import Evaluator, Traffic
from rollsafe.sim.simulate import ControlPlane, run_control_plane

INSTANCE_PRESTOP: dict[str, Any] = {
    "loadBalancer": {"targetType": "instance"},
    "workload": {"preStopSleepSeconds": 10, "terminationGracePeriodSeconds": 40},
}


def _run(spec: dict[str, Any], seed: int = 1) -> tuple[ControlPlane, Traffic]:
    sc = Scenario.model_validate(spec)
    cp = run_control_plane(sc, seed)
    traffic = Evaluator(
        sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s, keep_requests=True
    ).run()
    return cp, traffic


def _sent_after_kube_proxy_dropped(cp: ControlPlane, traffic: Traffic) -> int:
    """Requests that reached a pod their worker node's kube-proxy no longer listed when they were sent."""
    req = traffic.requests
    assert req is not None
    count = 0
    for v, view in enumerate(cp.views):
        mine = req["view"] == v
        t, pod = req["t"][mine], req["target"][mine]
        seg = np.searchsorted(np.array(view.times), t, side="right") - 1
        count += sum(
            p >= 0 and p not in view.targets[s] for p, s in zip(pod.tolist(), seg.tolist(), strict=True)
        )
    return count


def test_pinned_connections_reach_a_pod_after_kube_proxy_dropped_it() -> None:
    spec = {**INSTANCE_PRESTOP, "traffic": {"rps": 30}}
    cp, traffic = _run(spec)
    long_lived = _sent_after_kube_proxy_dropped(cp, traffic)
    assert long_lived > 100  # about a tenth of the traffic: the preStop sleep's worth, on pinned connections
    # a server keep-alive shorter than the gaps between requests on a connection re-pins it through
    # kube-proxy long before the pod stops
    spec_short = {**spec, "app": {"keepAliveTimeoutSeconds": 0.2}}
    cp, traffic = _run(spec_short)
    assert _sent_after_kube_proxy_dropped(cp, traffic) < long_lived / 20


def test_a_prestop_sleep_does_not_save_in_flight_requests_on_pinned_connections() -> None:
    # an exit-on-SIGTERM server: what the pinned connections have in flight at SIGTERM dies, however long the
    # sleep; a draining server finishes it
    exit_spec = {**INSTANCE_PRESTOP, "traffic": {"rps": 300}}
    _, exiting = _run(exit_spec)
    assert exiting.by_code[CODE["in-flight-killed"]] > 5
    drain_spec = {**exit_spec, "app": {"onSigterm": "drain"}}
    _, draining = _run(drain_spec)
    assert draining.by_code[CODE["in-flight-killed"]] == 0
    # ip targets: the same sleep covers the deregistration lag, nothing is in flight at SIGTERM
    _, ip = _run({**exit_spec, "loadBalancer": {"targetType": "ip"}})
    assert ip.by_code[CODE["in-flight-killed"]] < exiting.by_code[CODE["in-flight-killed"]] / 5


def test_one_connection_per_pair_keeps_a_pair_on_one_pod() -> None:
    # one slot per (LB node, worker node), busy enough never to idle out, no pod stopping: each slot's
    # requests all go to one pod
    spec = {
        "loadBalancer": {"targetType": "instance", "connectionsPerInstance": 1, "nodes": 2},
        "cluster": {"nodes": 2},
        "traffic": {"rps": 200, "durationSeconds": 20},
        "simulation": {"maxSeconds": 20},
        "workload": {"replicas": 6, "minReadySeconds": 600},
    }
    _, traffic = _run(spec)
    req = traffic.requests
    assert req is not None
    early = req["t"] < 1.0  # before any old pod is deleted
    targets = set(req["target"][early].tolist())
    assert 1 <= len(targets) <= 4  # 4 slots, each pinned to one pod
