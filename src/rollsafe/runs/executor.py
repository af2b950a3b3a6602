"""Executors: where the runs of a Monte Carlo go. One interface (Executor.run_stats) so a distributed one
(Dask, another issue) can stand in for the local process pool without the CLI or the reports changing.

The local pool (one worker per usable CPU) sends the scenario to each worker once (the pool's
initializer), seeds in chunks, and gets back RunStats, never RunResults. It must not print or pick exit
codes; it must leave no worker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from rollsafe.model.scenario import Scenario
from rollsafe.runs.stats import RunStats, stats_of
from rollsafe.sim.simulate import simulate

Progress = Callable[[int], Any]

# Seeds per task (chunks()): at most MAX_CHUNK, large enough that pickling and the queue cost little next
# to the runs (a small run is about 10 ms; a task costs well under 1 ms of CPU), small enough that progress
# moves; shrinking toward the end so both cores stay busy to the last run.
MAX_CHUNK = 25
CHUNKS_PER_WORKER = 4


class Executor(Protocol):
    def run_stats(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunStats]:
        """RunStats of each seed, in seed order, whatever order the work finishes in."""
        ...


def run_chunk(scenario: Scenario, seeds: Sequence[int]) -> list[RunStats]:
    return [stats_of(simulate(scenario, s)) for s in seeds]


_SCENARIO: Scenario | None = None  # a worker's copy, set once by the pool's initializer


def _worker_run(seeds: list[int]) -> list[RunStats]:
    assert _SCENARIO is not None
    return run_chunk(_SCENARIO, seeds)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init(parent: int, scenario: Scenario) -> None:
    """In each worker: Ctrl-C and SIGTERM are the parent's to handle (it stops the workers, so a Ctrl-C
    prints one line, not a traceback per worker); and a worker dies with its parent, even a parent killed
    with SIGKILL, instead of waiting forever on a queue nobody writes (Linux: PR_SET_PDEATHSIG). The
    scenario arrives here, once per worker, not with each task."""
    global _SCENARIO  # noqa: PLW0603 - a worker process's one piece of state
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    _SCENARIO = scenario


def usable_cpus() -> int:
    """The CPUs this process may run on (taskset, a container's cpuset), not merely those the machine has:
    a pool wider than that only adds processes that take turns."""
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):
            return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def chunks(seeds: Sequence[int], workers: int) -> list[list[int]]:
    """Seeds in chunks that shrink toward the end (guided scheduling): each is the seeds still to send over
    ``workers * CHUNKS_PER_WORKER``, at most MAX_CHUNK and at least one. The first ones are long enough
    that pickling and the queue cost little; the last ones are single seeds, so the workers finish nearly
    together instead of one waiting out another's long last chunk."""
    out: list[list[int]] = []
    i, n = 0, len(seeds)
    while i < n:
        size = max(1, min(MAX_CHUNK, math.ceil((n - i) / (workers * CHUNKS_PER_WORKER))))
        out.append(list(seeds[i : i + size]))
        i += size
    return out


class LocalPool:
    """The runs in worker processes on this machine (one per core by default); in this process when there
    are too few runs for a pool to pay. If anything interrupts the wait (Ctrl-C, the CLI's SIGTERM handler,
    an error), the workers are killed before the exception goes on: none is left behind."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or usable_cpus()

    def run_stats(
        self, scenario: Scenario, seeds: Sequence[int], progress: Progress | None = None
    ) -> list[RunStats]:
        workers = min(self.workers, len(seeds))
        if workers <= 1 or len(seeds) <= 2:
            out = []
            for s in seeds:
                out.extend(run_chunk(scenario, [s]))
                if progress:
                    progress(1)
            return out
        pool = ProcessPoolExecutor(
            max_workers=workers, initializer=_worker_init, initargs=(os.getpid(), scenario)
        )
        try:
            results: list[RunStats] = []
            # The workers are forked (Linux) while this process's objects are frozen: their collector then
            # leaves the inherited objects alone instead of touching, and so copying, their pages. The
            # workers start on the first task sent (map sends them all), so the freeze lasts only that long.
            gc.freeze()
            try:
                done = pool.map(_worker_run, chunks(seeds, workers))
            finally:
                gc.unfreeze()
            for chunk in done:
                results.extend(chunk)
                if progress:
                    progress(len(chunk))
        except BaseException:
            _kill(pool)
            raise
        pool.shutdown(wait=True)
        return results


def run_stats(
    scenario: Scenario,
    seeds: Sequence[int],
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> list[RunStats]:
    return (executor or LocalPool()).run_stats(scenario, seeds, progress)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stops a pool now: queued runs are dropped and running ones killed (shutdown alone would wait for
    every queued run to finish)."""
    processes = list((pool._processes or {}).values())  # the executor offers no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(OSError, ValueError):
            p.kill()
    for p in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            p.join(timeout=5)
