"""The control plane runs unchanged on a Scheduler driven by hand: it never reads a clock, sleeps or
draws from a global RNG (architecture.md, "The two clocks")."""

from __future__ import annotations

import ast
import heapq
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import rollsafe.control
from rollsafe.control.cluster import Cluster
from rollsafe.control.scheduler import Handle
from rollsafe.sim.rng import SeededStreams
from tests.conftest import scenario

CONTROL = Path(rollsafe.control.__file__).parent


@dataclass(order=True)
class _Call:
    t: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class HandScheduler:
    """A Scheduler whose time moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[_Call] = []
        self.seq = 0

    def now(self) -> float:
        return self.t

    def call_at(self, t: float, fn: Callable[[], None]) -> Handle:
        self.seq += 1
        call = _Call(max(t, self.t), self.seq, fn)
        heapq.heappush(self.calls, call)
        return call

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        for fn in fns:
            self.call_at(t, fn)

    def advance_to(self, t: float) -> int:
        ran = 0
        while self.calls and self.calls[0].t <= t:
            call = heapq.heappop(self.calls)
            if call.cancelled:
                continue
            self.t = call.t
            call.fn()
            ran += 1
        self.t = t
        return ran


def _forbid(*_a: object, **_k: object) -> None:
    raise AssertionError("the control plane touched a clock or the global RNG")


def test_control_plane_runs_on_a_hand_driven_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("time", "monotonic", "perf_counter", "sleep", "time_ns"):
        monkeypatch.setattr(time, name, _forbid)
    for name in ("random", "uniform", "randint", "choice", "shuffle", "expovariate"):
        monkeypatch.setattr(random, name, _forbid)
    for name in ("random", "uniform", "exponential", "integers", "rand", "seed"):
        if hasattr(np.random, name):
            monkeypatch.setattr(np.random, name, _forbid)
    sched = HandScheduler()
    sc = scenario(workload={"replicas": 4, "readinessGate": True, "preStopSleepSeconds": 10})
    cluster = Cluster(sched, SeededStreams(7), sc)
    sched.call_at(0.0, cluster.start_rollout)
    ran = 0
    for step in range(1, 601):
        ran += sched.advance_to(step * 0.5)
        if cluster.settled():
            break
    assert cluster.settled(), "the rollout should settle within 300 hand-driven seconds"
    assert cluster.deployment.complete_s is not None
    assert ran > 100
    assert {p.index for p in cluster.new_pods()} == set(cluster.views[0].current)


def test_control_modules_import_no_clock_or_global_rng() -> None:
    forbidden = {"time", "datetime", "random", "asyncio", "threading"}
    for path in sorted(CONTROL.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & forbidden, f"{path.name} imports {names & forbidden}"
        src = path.read_text(encoding="utf-8")
        assert "np.random." not in src.replace("np.random.Generator", ""), (
            f"{path.name} uses numpy's global RNG"
        )
