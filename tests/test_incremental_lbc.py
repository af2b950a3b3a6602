"""The LB controller's reconcile (issue 9), decided from the changes since the previous one rather than from
a walk over every endpoint and every target, against that walk: at every reconcile the targets it
deregisters and registers (in order), the readiness-gate conditions it patches (in order) and whether it
requeues are exactly what the walk over the written slice, ListTargets and DescribeTargetHealth gives at
that moment, also when equal-time events run in any order."""

from __future__ import annotations

import pytest

from rollsafe.control.api import Pod
from rollsafe.control.cluster import Cluster
from rollsafe.control.lb_controller import LbController, select_endpoints
from rollsafe.scenarios import load_builtin
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import TieShufflingScheduler, VirtualScheduler
from tests.conftest import run_cluster

VARIANTS = [
    ("eks-alb-zero-downtime", ["workload.replicas=30", "workload.minReadySeconds=3"]),
    ("eks-alb-readiness-gate", ["workload.replicas=40"]),
    # every old pod at once: more than one 200-target chunk each way, the gate pending for many pods
    (
        "eks-alb-readiness-gate",
        ["workload.replicas=230", "workload.strategy.maxSurge=100%", "workload.strategy.maxUnavailable=100%"],
    ),
    ("eks-alb-zero-downtime", ["workload.replicas=20", "loadBalancer.nodes=3"]),
    ("eks-alb-defaults", ["workload.replicas=40"]),  # no gate: registrations only
]

Plan = tuple[list[Pod], list[Pod], list[Pod], bool]


def _walk(lbc: LbController) -> Plan:
    """The reconcile's decisions from a walk over every endpoint and every registered target."""
    wanted = select_endpoints(list(lbc.api.endpoints.values()))
    wanted_idx = {p.index for p in wanted}
    current = lbc.tg.registered()
    current_idx = {p.index for p in current}
    to_deregister = [p for p in current if p.index not in wanted_idx]
    to_register = [p for p in wanted if p.index not in current_idx]
    to_patch: list[Pod] = []
    pending = False
    if lbc.gate:
        for pod in wanted:
            if not pod.gated:
                continue
            state = lbc.tg.api_state(pod) if pod.index in current_idx else "initial"
            pending = pending or state != "healthy"
            if state == "healthy" and not pod.gate_true:
                to_patch.append(pod)
    return to_deregister, to_register, to_patch, pending


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize(("name", "sets"), VARIANTS)
@pytest.mark.parametrize("shuffle", [None, 3, 11])
def test_each_reconcile_equals_a_walk_over_every_endpoint_and_target(
    monkeypatch: pytest.MonkeyPatch, name: str, sets: list[str], shuffle: int | None
) -> None:
    seen = {"reconciles": 0, "deregister": 0, "register": 0, "patch": 0, "pending": 0}
    plan = LbController._plan

    def checked_plan(self: LbController) -> Plan:
        expected = _walk(self)
        got = plan(self)
        assert got == expected, f"t={self.api.sched.now()}"
        seen["reconciles"] += 1
        seen["deregister"] += len(got[0])
        seen["register"] += len(got[1])
        seen["patch"] += len(got[2])
        seen["pending"] += got[3]
        return got

    monkeypatch.setattr(LbController, "_plan", checked_plan)
    sc = load_builtin(name, sets)
    sched = VirtualScheduler() if shuffle is None else TieShufflingScheduler(shuffle)
    cluster = run_cluster(sc, shuffle or 1, until=900.0, sched=sched)
    assert cluster.settled()
    replicas = sc.workload.replicas
    assert seen["reconciles"] > 5
    assert seen["register"] >= replicas  # every new pod registered, some more than once while in flight
    assert seen["deregister"] >= replicas
    if sc.workload.readiness_gate:
        assert seen["patch"] >= replicas
        assert seen["pending"] > 0
    else:
        assert seen["patch"] == seen["pending"] == 0


def test_targets_to_deregister_come_in_list_targets_order_not_pod_order() -> None:
    # A target registered again after its old entry went unused is listed after the others: the
    # DeregisterTargets call lists targets in that order (the walk's), whatever their pods' order.
    cluster = Cluster(
        VirtualScheduler(), SeededStreams(1), load_builtin("eks-alb-defaults", ["workload.replicas=8"])
    )
    lbc, tg, api = cluster.lb_controller, cluster.target_group, cluster.api
    assert lbc is not None
    assert lbc._plan() == _walk(lbc) == ([], [], [], False)
    again, other = api.pods[2], api.pods[5]
    tg.deregister_targets([again])
    tg._unused(again)
    tg.register_targets([again])
    assert lbc._plan() == _walk(lbc) == ([], [], [], False)
    for pod in (again, other):  # both leave the slice
        del api.endpoints[pod.uid]
        api.endpoint_writes.append(pod)
    plan = lbc._plan()
    assert plan == _walk(lbc)
    assert [p.index for p in plan[0]] == [5, 2]
