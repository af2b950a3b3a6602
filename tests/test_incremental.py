"""The incremental control-plane structures (issue 9 item 1) against the rescans they replace: at every
use, the EndpointSlice controller's derived slice, each ReplicaSet's active set and Ready count, and each
LB node's healthy list must equal what a full rescan of the objects gives at that instant."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.control.endpointslice import EndpointSliceController, endpoint_for
from rollsafe.control.replicaset import ReplicaSetController
from rollsafe.control.target_group import TargetGroup
from rollsafe.scenarios import load_builtin
from rollsafe.sim.simulate import run_control_plane

VARIANTS = [
    ("eks-alb-defaults", ["workload.replicas=40"]),
    ("eks-alb-zero-downtime", ["workload.replicas=30", "workload.minReadySeconds=3"]),
    (
        "eks-alb-defaults",
        ["workload.replicas=30", "app.onSigterm=ignore", "workload.readinessProbe={periodSeconds: 2}"],
    ),
    ("eks-instance-mode", ["workload.replicas=20"]),
]


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize(("name", "sets"), VARIANTS)
def test_incremental_structures_equal_a_rescan(
    monkeypatch: pytest.MonkeyPatch, name: str, sets: list[str]
) -> None:
    checked = {"slice": 0, "rs": 0, "route": 0}
    derive = EndpointSliceController._derive

    def checked_derive(self: EndpointSliceController) -> Any:
        got = derive(self)
        full = {p.uid: ep for p in self.api.pods if (ep := endpoint_for(p)) is not None}
        assert list(got.items()) == list(full.items())  # same endpoints, in the same order
        checked["slice"] += 1
        return got

    rs_sync = ReplicaSetController._sync

    def checked_sync(self: ReplicaSetController, rs: Any) -> float:
        active = [p for p in rs.pods if p.deletion_s is None and not p.terminal and not p.gone]
        assert rs.active_pods() == active
        assert rs.active_ready == sum(p.ready for p in active)
        now = self.api.sched.now()
        for min_ready in (0.0, 3.0, self.min_ready_s):
            assert rs.active_available(now, min_ready) == sum(p.available(now, min_ready) for p in active)
        checked["rs"] += 1
        return rs_sync(self, rs)

    route = TargetGroup._route

    def checked_route(self: TargetGroup, node: int) -> None:
        route(self, node)
        rescan = [i for i, nt in self.node_targets[node].items() if nt.state == "healthy"]
        assert list(self._hidx[node]) == rescan
        checked["route"] += 1

    monkeypatch.setattr(EndpointSliceController, "_derive", checked_derive)
    monkeypatch.setattr(ReplicaSetController, "_sync", checked_sync)
    monkeypatch.setattr(TargetGroup, "_route", checked_route)
    for seed in (1, 2):
        run_control_plane(load_builtin(name, sets), seed)
    assert checked["slice"] > 10
    assert checked["rs"] > 10
    if name != "eks-instance-mode":
        assert checked["route"] > 10
