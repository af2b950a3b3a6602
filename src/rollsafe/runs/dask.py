"""The Dask executor: the runs of a Monte Carlo on a ``distributed`` cluster, behind the same interface as
the local pool (``run_stats(scenario, seeds, progress)``, rollsafe.runs.executor.Executor), so callers do
not change. ``map_chunks`` takes any per-chunk function: advise uses it for its own compact per-run
summary (rollsafe.advise.executor.RunSummary).

A run costs tens of milliseconds, far below a Dask task's overhead (about a millisecond on the scheduler,
more over a network), so a task is a batch of seeds sized to about a second of work, measured from the
first batch and re-measured on every call. The scenario is scattered once per scenario with
``broadcast=True``, so each worker holds one copy and tasks carry only a reference and their seeds.
Results come back as the chunk function's compact objects (RunStats, or advise's RunSummary), the same
the local pool returns, so the two are byte-for-byte comparable.

Without a scheduler address a ``LocalCluster`` starts on 127.0.0.1 (processes, one thread each,
dashboards on loopback) and stops with ``close``. This module must not print or pick exit codes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rollsafe.errors import RollsafeError
from rollsafe.model.scenario import Scenario
from rollsafe.runs.executor import Progress, run_chunk
from rollsafe.runs.stats import RunStats

T = TypeVar("T")

TARGET_TASK_S = 1.0  # a task should take about a second: Dask's overhead is then noise
MAX_BATCH = 256


class DaskExecutor:
    def __init__(self, scheduler: str | None = None, *, workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RollsafeError(
                "--executor dask needs the distributed package: pip install 'rollsafe[dask]'"
            ) from None
        self._cluster: Any = None
        if scheduler is None:
            n = workers or os.cpu_count() or 1
            self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # loopback only, any free port
                worker_dashboard_address="127.0.0.1:0",
            )
            self.client: Any = Client(self._cluster)  # type: ignore[no-untyped-call]
            self._where = f"Dask LocalCluster, {n} worker{'s' if n != 1 else ''}"
        else:
            try:
                self.client = Client(scheduler, timeout=10)  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError, ValueError) as exc:
                raise RollsafeError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
            self._where = f"Dask scheduler {scheduler}"
        self.batch = 8  # seeds per task until the first batch has been timed
        self._timed = False
        # the scattered scenario of the last call: advise runs one candidate in several stages, and a
        # scattered value is released when its future goes, so the executor keeps it
        self._scattered: tuple[Scenario, Any] | None = None

    @property
    def description(self) -> str:
        return self._where

    def run_stats(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunStats]:
        """RunStats of each seed, in seed order (rollsafe.runs.executor.Executor)."""
        return self.map_chunks(run_chunk, scenario, seeds, progress)

    def map_chunks(
        self,
        fn: Callable[[Scenario, Sequence[int]], list[T]],
        scenario: Scenario,
        seeds: Sequence[int],
        progress: Progress | None = None,
    ) -> list[T]:
        """``fn(scenario, chunk)`` over chunks of ``seeds`` on the cluster; the results in seed order."""
        if not seeds:
            return []
        from distributed import as_completed

        seeds = list(seeds)
        out: list[T] = []
        if not self._timed:
            # size batches from one measured batch: about TARGET_TASK_S of work each
            first, seeds = seeds[: self.batch], seeds[self.batch :]
            t = time.perf_counter()
            out = self.client.submit(fn, scenario, first, pure=False).result()
            per_run = (time.perf_counter() - t) / max(len(first), 1)
            self.batch = max(1, min(MAX_BATCH, int(TARGET_TASK_S / max(per_run, 1e-4))))
            self._timed = True
            if progress:
                progress(len(out))
            if not seeds:
                return out
        if self._scattered is None or self._scattered[0] is not scenario:
            self._scattered = None
            self._scattered = (scenario, self.client.scatter(scenario, broadcast=True, hash=False))
        remote = self._scattered[1]
        started = time.perf_counter()
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        # never fewer tasks than workers: a short stage still uses the whole cluster
        size = max(1, min(self.batch, -(-len(seeds) // workers)))
        chunks = [seeds[i : i + size] for i in range(0, len(seeds), size)]
        futures = [self.client.submit(fn, remote, c, pure=False) for c in chunks]
        index = {f.key: i for i, f in enumerate(futures)}
        parts: list[list[T]] = [[] for _ in futures]
        for f in as_completed(futures):  # type: ignore[no-untyped-call]
            parts[index[f.key]] = f.result()
            if progress:
                progress(len(parts[index[f.key]]))
        for p in parts:
            out.extend(p)
        # re-size from this call's throughput (the first batch also paid the workers' imports)
        per_run = (time.perf_counter() - started) * workers / max(len(seeds), 1)
        self.batch = max(1, min(MAX_BATCH, int(TARGET_TASK_S / max(per_run, 1e-4))))
        return out

    def close(self) -> None:
        self._scattered = None
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
