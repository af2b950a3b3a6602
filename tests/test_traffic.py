"""Instance-mode connection pinning and closed-loop clients, as behaviours (docs/model.md, "Instance
targets: pinned connections" and "Clients: open and closed"). The exact agreement of both evaluators is in
tests/test_reference.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

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
    # (a 40 s sleep: long enough to cover even the ALB's deregistration tail in ip mode, on this seed)
    exit_spec = {
        "loadBalancer": {"targetType": "instance"},
        "workload": {"preStopSleepSeconds": 40, "terminationGracePeriodSeconds": 70},
        "traffic": {"rps": 300},
    }
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


# -- closed-loop clients ------------------------------------------------------------------------------------
def _in_flight_max(traffic: Traffic) -> int:
    """The most requests whose clients were waiting at any one moment (each request holds its client from
    its send until its next send minus the think time, i.e. the next send when there is no think time)."""
    req = traffic.requests
    assert req is not None
    start, client = req["t"], req["client"]
    order = np.lexsort((start, client))
    c, t = client[order], start[order]
    nxt = np.append(t[1:], np.inf)
    nxt[np.append(c[1:] != c[:-1], True)] = np.inf  # a client's last request: held to the end
    events = np.concatenate([np.stack([t, np.ones_like(t)], 1), np.stack([nxt, -np.ones_like(t)], 1)])
    events = events[np.lexsort((events[:, 1], events[:, 0]))]  # ends before starts at equal times
    return int(np.cumsum(events[:, 1]).max())


def test_closed_model_has_at_most_n_requests_in_flight() -> None:
    for clients in (1, 7):
        spec: dict[str, Any] = {"traffic": {"model": "closed", "clients": clients}}
        _, traffic = _run(spec)
        assert traffic.total > 200
        assert _in_flight_max(traffic) == clients


def test_connect_timeouts_hold_clients_and_throughput_falls() -> None:
    # old pods' IPs vanish while an LB node still routes to them: SYNs dropped, 10 s connect timeouts.
    # maxUnavailable 0 and a think time keep fast-failing clients from hammering (and the test fast).
    traffic = {"model": "closed", "clients": 8, "durationSeconds": 30, "thinkSeconds": 0.05}
    spec: dict[str, Any] = {"workload": {"strategy": {"maxUnavailable": 0}}, "traffic": traffic}
    _, held = _run(spec)
    assert held.by_code[CODE["target-unreachable"]] > 0
    _, reset = _run({**spec, "cluster": {"vanishedPodIp": "reset"}})
    assert reset.by_code[CODE["target-unreachable"]] == 0
    # clients stuck for 10 s send nothing meanwhile: fewer requests get served
    assert held.by_code[0] < 0.9 * reset.by_code[0]
    # a client that gives up after 2 s is free again sooner: the stuck requests are its timeouts
    _, impatient = _run({**spec, "traffic": {**traffic, "clientTimeoutSeconds": 2}})
    assert impatient.client_timeouts == impatient.by_code[CODE["target-unreachable"]] > 0
    assert impatient.by_code[0] > held.by_code[0]


def test_504s_are_rarer_with_closed_clients_at_the_same_offered_load() -> None:
    # the same offered load: 20 clients at ~0.07 s per request is about the open model's 280 rps
    _, closed = _run({"traffic": {"model": "closed", "clients": 20}})
    duration = closed.per_second.shape[0] - 1
    _, opened = _run({"traffic": {"rps": closed.total / duration}})
    share = {
        name: t.by_code[CODE["target-unreachable"]] / max(1, int(t.total - t.by_code[0]))
        for name, t in (("closed", closed), ("open", opened))
    }
    rate = {
        name: t.by_code[CODE["target-unreachable"]] / t.total
        for name, t in (("closed", closed), ("open", opened))
    }
    assert rate["closed"] < rate["open"] / 3
    assert share["closed"] < share["open"]


def test_closed_keys_need_the_closed_model() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"traffic\.clients applies only with traffic\.model: closed"):
        Scenario.model_validate({"traffic": {"clients": 5}})
    with pytest.raises(ValidationError, match=r"traffic\.rps applies only"):
        Scenario.model_validate({"traffic": {"model": "closed", "rps": 5}})
    with pytest.raises(ValidationError, match=r"traffic\.rps: null is for traffic\.model: closed"):
        Scenario.model_validate({"traffic": {"rps": None}})
    cleared = Scenario.model_validate({"traffic": {"model": "closed", "rps": None, "clients": 3}})
    assert cleared.traffic.rps is None
    # a scenario dumped with every key (scenarios --show, the JSON settings) reads back
    for spec in (
        {"traffic": {"model": "closed", "clients": 3, "thinkSeconds": 0.1}},
        {"loadBalancer": {"targetType": "instance", "connectionsPerInstance": 2}},
        {},
    ):
        sc = Scenario.model_validate(spec)
        assert Scenario.model_validate(sc.model_dump(by_alias=True)) == sc
    with pytest.raises(ValidationError, match="connectionsPerInstance applies only"):
        Scenario.model_validate({"loadBalancer": {"connectionsPerInstance": 2}})


def test_the_size_budget_knows_the_closed_model() -> None:
    from rollsafe.sim.budget import budget

    closed = budget(Scenario.model_validate({"traffic": {"model": "closed", "clients": 50}}), runs=1)
    assert closed.slow_path
    # about clients / (median service 0.05 s) per second over simulation.maxSeconds
    assert closed.requests == pytest.approx(50 / 0.05 * 3600)
    assert not budget(Scenario.model_validate({}), runs=1).slow_path
