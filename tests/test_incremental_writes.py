"""The EndpointSlice controller's written slice and Cluster.settled() (issue 9), kept up to date per change
rather than rescanned, against the rescans they replace: each slice write that lands leaves exactly the
slice a full rescan gave at the sync that issued it (endpoints and their order), and settled() answers as
the scan over every old pod and every view does, at every check, also when equal-time events run in any
order."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from rollsafe.control.api import ApiServer, Endpoint
from rollsafe.control.cluster import Cluster
from rollsafe.control.endpointslice import EndpointSliceController, endpoint_for
from rollsafe.scenarios import load_builtin
from rollsafe.sim.rng import SeededStreams
from rollsafe.sim.scheduler import TieShufflingScheduler, VirtualScheduler

VARIANTS = [
    ("eks-alb-defaults", ["workload.replicas=40"]),
    ("eks-alb-zero-downtime", ["workload.replicas=30", "workload.minReadySeconds=3"]),
    ("eks-instance-mode", ["workload.replicas=20"]),
    ("recreate", ["workload.replicas=15"]),
]


def _rescan_settled(cluster: Cluster) -> bool:
    """settled() as a scan of every pod and every view."""
    if cluster.deployment.complete_s is None:
        return False
    new_rs = cluster.deployment.new_rs
    now = cluster.sched.now()
    old = [p for p in cluster.api.pods if new_rs is None or p.rs != new_rs.name]
    if any(not p.gone or p.ip_gone_s > now for p in old):
        return False
    want = {p.index for p in cluster.new_pods()}
    return all(set(v.current) == want for v in cluster.views)


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize(("name", "sets"), VARIANTS)
@pytest.mark.parametrize("shuffle", [None, 3, 11])
def test_slice_writes_and_settled_equal_a_rescan(
    monkeypatch: pytest.MonkeyPatch, name: str, sets: list[str], shuffle: int | None
) -> None:
    issued: deque[list[tuple[str, Endpoint]]] = deque()
    landed = {"writes": 0, "settled": 0, "unsettled": 0}
    sync = EndpointSliceController._sync

    def checked_sync(self: EndpointSliceController) -> float:
        pending = self._pending
        busy = sync(self)
        if self._pending > pending:  # a write was issued: what a rescan gives now must land
            api = self.api
            issued.append([(p.uid, ep) for p in api.pods if (ep := endpoint_for(p)) is not None])
        return busy

    changed = ApiServer.changed

    def checked_changed(self: ApiServer, kind: str, obj: Any) -> None:
        if kind == "endpointslice":
            assert list(self.endpoints.items()) == issued.popleft()
            landed["writes"] += 1
        changed(self, kind, obj)

    monkeypatch.setattr(EndpointSliceController, "_sync", checked_sync)
    monkeypatch.setattr(ApiServer, "changed", checked_changed)
    sc = load_builtin(name, sets)
    sched = VirtualScheduler() if shuffle is None else TieShufflingScheduler(shuffle)
    cluster = Cluster(sched, SeededStreams(shuffle or 1), sc)
    sched.call_at(0.0, cluster.start_rollout)
    t = 0.0
    while t < 900.0:
        t += 1.0
        sched.run(until=t)
        got = cluster.settled()
        assert got == _rescan_settled(cluster), f"t={t}"
        landed["settled" if got else "unsettled"] += 1
        if got:
            break
    assert not issued
    assert landed["writes"] > 5
    assert landed["settled"] == 1
    assert landed["unsettled"] > 5
