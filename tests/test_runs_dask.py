"""The Dask executor (rollsafe.runs.dask): a LocalCluster on 127.0.0.1 with 2 worker processes, a few
hundred runs, results byte for byte those of the local process pool for the same seeds, both through the
runs interface (RunStats) and through advise's (RunSummary)."""

from __future__ import annotations

import pickle

from rollsafe.advise.executor import LocalExecutor, _DaskAdapter
from rollsafe.runs.dask import DaskExecutor
from rollsafe.runs.executor import LocalPool
from rollsafe.scenarios import load_builtin


def test_dask_localcluster_matches_the_local_pool_byte_for_byte() -> None:
    sc = load_builtin("eks-instance-mode", ["traffic.rps=10"])
    seeds = list(range(7, 7 + 200))
    want = LocalPool(2).run_stats(sc, seeds)
    local = LocalExecutor(2)
    try:
        want_summaries = local.run(sc, seeds[:60])
    finally:
        local.close()
    dask = DaskExecutor(workers=2)
    try:
        assert dask.description == "Dask LocalCluster, 2 workers"
        addresses = list(dask.client.scheduler_info()["workers"])
        assert addresses
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses)
        ticks: list[int] = []
        got = dask.run_stats(sc, seeds, ticks.append)
        again = dask.run_stats(sc, seeds[:50])  # batches now sized from the first call: same answers
        summaries = _DaskAdapter(dask).run(sc, seeds[:60])
    finally:
        dask.close()
    assert sum(ticks) == len(seeds)
    assert pickle.dumps(got) == pickle.dumps(want)
    assert again == want[:50]
    assert pickle.dumps([r.key() for r in summaries]) == pickle.dumps([r.key() for r in want_summaries])
    assert any(r.failed for r in got)  # instance mode drops requests: the comparison is not all zeros
