"""Monte Carlo runs through one small interface, so the search does not care where runs happen.

``Executor.run(scenario, seeds)`` returns one compact ``RunSummary`` per seed, in seed order. The local
executor keeps one process pool for the whole search (a pool costs a few hundred milliseconds to start,
and advise evaluates many candidates); seeds travel in chunks with their scenario, so a worker unpickles
a scenario once per chunk, not per run. The Dask executor (``rollsafe.runs.dask``) serves the same interface
here. This module must not decide anything about the search: it only runs seeds.

Why not rollsafe.runs' LocalPool and RunStats directly: advise needs the extra pod-seconds, which only the
timeline has (so they are computed in the worker), and a pool that outlives one scenario (LocalPool binds
its pool to one scenario). Worker set-up and teardown are the runs package's; the Dask executor is
rollsafe.runs.dask, used here through its ``map_chunks``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from rollsafe.model.scenario import Scenario
from rollsafe.model.timeline import TimelineEvent
from rollsafe.runs.executor import _kill
from rollsafe.runs.executor import _worker_init as _runs_worker_init
from rollsafe.sim.simulate import RunResult, simulate

Progress = Callable[[int], Any]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the search needs from one run: a few numbers instead of a RunResult with its traffic."""

    seed: int
    failed: int  # failed requests
    rollout_s: float | None  # start -> RolloutComplete
    settled_s: float | None  # start -> the LB routes only to new pods and every old pod is gone
    extra_pod_s: float  # pod-seconds above spec.replicas: surge pods and terminating pods still running
    causes: tuple[int, ...]  # failed requests per cause, in rollsafe.model.causes.CAUSES order

    def key(self) -> tuple[Any, ...]:
        """Every field, for byte-for-byte comparisons between executors."""
        return (self.seed, self.failed, self.rollout_s, self.settled_s, self.extra_pod_s, self.causes)


def extra_pod_seconds(events: Sequence[TimelineEvent], replicas: int, end_s: float) -> float:
    """Pod-seconds above ``replicas`` until ``end_s``: a pod counts from PodCreated until its container
    exits (a terminating pod in its preStop sleep or drain still holds its node's resources); pods running
    before the rollout count from 0. What a rollout costs beyond the steady state."""
    changes: list[tuple[float, int]] = []
    for e in events:
        if e.kind == "PodCreated":
            changes.append((e.t_s, 1))
        elif e.kind == "ContainerExited":
            changes.append((e.t_s, -1))
    changes.sort(key=lambda c: c[0])
    alive, last, total = replicas, 0.0, 0.0
    for at, d in changes:
        t = min(at, end_s)
        total += max(0, alive - replicas) * (t - last)
        alive, last = alive + d, t
    total += max(0, alive - replicas) * max(0.0, end_s - last)
    return total


def summarize_run(result: RunResult) -> RunSummary:
    end = result.settled_s if result.settled_s is not None else result.duration_s
    return RunSummary(
        seed=result.seed,
        failed=result.failed,
        rollout_s=result.rollout_s,
        settled_s=result.settled_s,
        extra_pod_s=round(extra_pod_seconds(result.timeline, result.replicas, end), 6),
        causes=tuple(result.causes().values()),
    )


def run_chunk(scenario: Scenario, seeds: Sequence[int]) -> list[RunSummary]:
    """The unit of work every executor sends: one scenario, a chunk of seeds."""
    return [summarize_run(simulate(scenario, s)) for s in seeds]


class Executor(Protocol):
    def run(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunSummary]:
        """One summary per seed, in the order of ``seeds``."""

    def close(self) -> None: ...

    @property
    def description(self) -> str: ...


def chunks(seeds: Sequence[int], size: int) -> list[list[int]]:
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


class LocalExecutor:
    """A process pool over the cores, kept for the executor's life (``close`` stops it)."""

    def __init__(self, workers: int | None = None, *, chunk: int = 8) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.chunk = chunk
        self._pool: ProcessPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"local process pool, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def run(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunSummary]:
        if self.workers == 1 or len(seeds) <= 1:
            out = []
            for s in seeds:
                out.extend(run_chunk(scenario, [s]))
                if progress:
                    progress(1)
            return out
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, initializer=_worker_init, initargs=(os.getpid(),)
            )
        # small chunks keep both cores busy at the end of a stage; a chunk still carries its scenario once
        size = max(1, min(self.chunk, -(-len(seeds) // (2 * self.workers))))
        try:
            futures = [self._pool.submit(run_chunk, scenario, c) for c in chunks(seeds, size)]
            results: list[RunSummary] = []
            for f in futures:
                got = f.result()
                results.extend(got)
                if progress:
                    progress(len(got))
        except BaseException:
            self._stop()
            raise
        return results

    def _stop(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def make_executor(kind: str, scheduler: str | None = None) -> Executor:
    """``local`` (a process pool) or ``dask`` (an existing scheduler, or a LocalCluster without one)."""
    if kind == "dask":
        from rollsafe.runs.dask import DaskExecutor

        return _DaskAdapter(DaskExecutor(scheduler))
    return LocalExecutor()


def _worker_init(parent: int) -> None:
    """The runs package's worker set-up (signals; die with the parent), without its per-worker scenario:
    advise sends a different scenario per candidate, once per chunk."""
    _runs_worker_init(parent, None)  # type: ignore[arg-type]


class _DaskAdapter:
    """advise's Executor on rollsafe.runs.dask.DaskExecutor: the same batches, advise's own summaries."""

    def __init__(self, dask: Any) -> None:
        self.dask = dask

    @property
    def description(self) -> str:
        return str(self.dask.description)

    def run(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunSummary]:
        out: list[RunSummary] = self.dask.map_chunks(run_chunk, scenario, seeds, progress)
        return out

    def close(self) -> None:
        self.dask.close()
