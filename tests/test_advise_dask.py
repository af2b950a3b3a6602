"""The Dask executor: a LocalCluster on 127.0.0.1 (2 worker processes), a few hundred runs, results byte for
byte those of the local process pool for the same seeds."""

from __future__ import annotations

import pickle

from rollsafe.advise.dask import DaskExecutor
from rollsafe.advise.executor import LocalExecutor
from rollsafe.scenarios import load_builtin


def test_dask_localcluster_matches_the_local_pool_byte_for_byte() -> None:
    sc = load_builtin("eks-instance-mode", ["traffic.rps=10"])
    seeds = list(range(7, 7 + 200))
    local = LocalExecutor(2)
    try:
        want = local.run(sc, seeds)
    finally:
        local.close()
    dask = DaskExecutor(workers=2)
    try:
        assert dask.description == "Dask LocalCluster, 2 workers"
        addresses = list(dask.client.scheduler_info()["workers"])
        assert addresses
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses)
        ticks: list[int] = []
        got = dask.run(sc, seeds, ticks.append)
        again = dask.run(sc, seeds[:50])  # batches now sized from the first one: same answers
    finally:
        dask.close()
    assert sum(ticks) == len(seeds)
    assert pickle.dumps([r.key() for r in got]) == pickle.dumps([r.key() for r in want])
    assert [r.key() for r in again] == [r.key() for r in want[:50]]
    assert any(r.failed for r in got)  # instance mode drops requests: the comparison is not all zeros
