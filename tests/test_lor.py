"""Least outstanding requests (sim/lor.py): the Python loop and the numba-compiled loop give the same picks
as a plain transcription of the rule, as each other, and as the per-request reference evaluator.

numba is in the dev extra, so both loops run here; ``test_the_compiled_loop_is_there`` fails, rather than
skips, when it is missing.
"""

from __future__ import annotations

import heapq
import math
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rollsafe.model.scenario import Scenario
from rollsafe.sim import lor
from rollsafe.sim.dataplane import Evaluator, Traffic
from rollsafe.sim.reference import ReferenceEvaluator
from rollsafe.sim.simulate import run_control_plane

F64 = npt.NDArray[np.float64]


@pytest.fixture
def compiled_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every LOR call, however small, through the compiled loop."""
    assert lor.compiled() is not None
    monkeypatch.setattr(lor, "JIT_MIN_TOTAL", 0)
    monkeypatch.setattr(lor, "JIT_MIN_CALL", 0)


def test_the_compiled_loop_is_there() -> None:
    """The dev extra installs numba: the compiled loop must load, or the tests below would not test it."""
    assert lor.compiled() is not None


# -- the rule, transcribed plainly ---------------------------------------------------------------------------
def _oracle(
    t: F64,
    d: F64,
    segs: lor.Segments,
    w: lor.Windows,
    params: lor.LorParams,
    counts: list[int],
    holds: list[tuple[float, int]],
    last: list[float],
) -> tuple[list[int], list[bool]]:
    """One request at a time: let go of the ended holds, scan the current list for the first of the least
    busy, hold it until the outcome (the per-request path the evaluator used before sim/lor.py)."""
    targets, races = [], []
    for now, dj in zip(t.tolist(), d.tolist(), strict=True):
        while holds and holds[0][0] <= now:
            _, q = heapq.heappop(holds)
            counts[q] -= 1
        seg = max(int(np.searchsorted(segs.times, now, side="right")) - 1, 0)
        size = int(segs.sizes[seg])
        if size == 0:
            targets.append(-1)
            races.append(False)
            continue
        off = int(segs.offsets[seg])
        cands = segs.flat[off : off + size].tolist()
        p = min(cands, key=counts.__getitem__)
        race, release = False, -math.inf
        if now >= w.ip_gone[p]:
            release = now + params.connect if params.waits_on_gone else release
        elif w.listen[p] <= now < w.stop[p]:
            if params.keepalive_race and params.kat <= now - last[p] < params.kat + params.window:
                race = True
            else:
                release = min(now + dj, float(w.exit[p]), float(w.drain[p]), now + params.idle)
        if params.keepalive_race:
            last[p] = now
        if release > now:
            counts[p] += 1
            heapq.heappush(holds, (release, p))
        targets.append(p)
        races.append(race)
    return targets, races


def _world(
    rng: np.random.Generator, n_pods: int, widest: int, n_segs: int
) -> tuple[lor.Segments, lor.Windows]:
    """Random target lists (some empty, none listing a pod twice) and random pod windows."""
    times = np.sort(rng.uniform(0, 100, n_segs))
    times[0] = 0.0
    sizes = rng.integers(1, widest + 1, n_segs)
    sizes[rng.random(n_segs) < 0.1] = 0
    lists = [rng.permutation(n_pods)[: min(int(k), n_pods)] for k in sizes]
    sizes = np.array([len(x) for x in lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([*lists, np.empty(0, dtype=np.int64)]).astype(np.int64)
    listen = rng.uniform(-20, 20, n_pods)
    stop = listen + rng.uniform(10, 100, n_pods)
    stop[rng.random(n_pods) < 0.5] = np.inf
    exit_ = stop + rng.uniform(0, 5, n_pods)
    ip_gone = exit_ + rng.uniform(0, 5, n_pods)
    drain = stop + rng.uniform(0, 10, n_pods)
    return lor.Segments(times, offsets, sizes, flat), lor.Windows(listen, stop, exit_, ip_gone, drain)


def _requests(rng: np.random.Generator, n: int, t0: float, rate: float) -> tuple[F64, F64]:
    t = t0 + np.cumsum(rng.exponential(1 / rate, n))
    # service times in float32, as the evaluator draws them; some repeated, so that holds end together
    d = rng.lognormal(np.log(0.3), 1.0, n).astype(np.float32)
    d[rng.random(n) < 0.2] = np.float32(0.25)
    t[rng.random(n) < 0.05] = t0  # arrivals at the same instant, out of nothing
    return np.sort(t), d.astype(np.float64)


PARAMS = (
    lor.LorParams(idle=60.0, connect=10.0, waits_on_gone=True, keepalive_race=False, kat=75.0, window=0.1),
    lor.LorParams(idle=4.0, connect=2.0, waits_on_gone=False, keepalive_race=True, kat=0.5, window=0.3),
)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("widest", [1, 3, 16, 17, 60])  # the compiled loop scans up to 16, uses a tree above
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_loops_follow_the_rule_call_after_call(seed: int, widest: int, params: lor.LorParams) -> None:
    """Random views and pods, requests in several calls with the state carried over, the loops taking
    turns on the same state: every pick, race, count, last-seen time and hold matches the plain rule."""
    rng = np.random.default_rng(seed * 100 + widest)
    n_pods = max(widest + 5, 8)
    segs, w = _world(rng, n_pods, widest, n_segs=12)
    kernel = lor.compiled()
    assert kernel is not None
    state, last = lor.LorState.empty(n_pods), np.full(n_pods, -np.inf)
    o_counts, o_last = [0] * n_pods, [-math.inf] * n_pods
    o_holds: list[tuple[float, int]] = []
    t0, carried = 0.0, 0
    for call in range(6):
        t, d = _requests(rng, int(rng.integers(1, 3000)), t0, rate=float(rng.choice([100.0, 1000.0])))
        t0 = float(t[-1])
        want_t, want_r = _oracle(t, d, segs, w, params, o_counts, o_holds, o_last)
        if call % 2:
            got_t, got_r = lor._pick_compiled(kernel, t, d, segs, w, params, state, last)
        else:
            got_t, got_r = lor._pick_python(t, d, segs, w, params, state, last)
        assert got_t.tolist() == want_t
        assert got_r.tolist() == want_r
        assert state.counts.tolist() == o_counts
        assert last.tolist() == o_last
        assert sorted(state.heap()) == sorted(o_holds)
        carried = max(carried, len(o_holds))
    assert carried > 0  # holds were carried from one call to the next


def test_ties_go_to_the_first_of_the_least_busy() -> None:
    """All idle: the list order decides, whatever the pod numbers; then the next least busy in order."""
    segs = lor.Segments(
        np.array([0.0]), np.array([0]), np.array([20]), np.arange(20, dtype=np.int64)[::-1].copy()
    )
    w = lor.Windows(
        np.zeros(20), np.full(20, np.inf), np.full(20, np.inf), np.full(20, np.inf), np.full(20, np.inf)
    )
    params = PARAMS[0]
    t = np.linspace(1.0, 1.1, 25)
    d = np.full(25, 10.0)
    kernel = lor.compiled()
    assert kernel is not None
    for run in (lor._pick_python, lambda *a: lor._pick_compiled(kernel, *a)):
        state, last = lor.LorState.empty(20), np.full(20, -np.inf)
        targets, _ = run(t, d, segs, w, params, state, last)
        assert targets.tolist() == [*range(19, -1, -1), 19, 18, 17, 16, 15]


@pytest.mark.parametrize("compiled", [False, True])
def test_a_pod_listed_twice_is_refused(compiled: bool) -> None:
    segs = lor.Segments(np.array([0.0]), np.array([0]), np.array([3]), np.array([0, 1, 0]))
    w = lor.Windows(
        np.zeros(2), np.full(2, np.inf), np.full(2, np.inf), np.full(2, np.inf), np.full(2, np.inf)
    )
    state, last = lor.LorState.empty(2), np.full(2, -np.inf)
    t, d = np.array([1.0]), np.array([0.1])
    kernel = lor.compiled()
    assert kernel is not None
    run = (lambda *a: lor._pick_compiled(kernel, *a)) if compiled else lor._pick_python
    with pytest.raises(ValueError, match="twice"):
        run(t, d, segs, w, PARAMS[0], state, last)


def test_no_jit_and_no_numba_fall_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    lor.compiled.cache_clear()
    try:
        monkeypatch.setenv("ROLLSAFE_NO_JIT", "1")
        assert lor.compiled() is None
        lor.compiled.cache_clear()
        monkeypatch.delenv("ROLLSAFE_NO_JIT")
        monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
        assert lor.compiled() is None
    finally:
        lor.compiled.cache_clear()
    monkeypatch.undo()
    assert lor.compiled() is not None


def test_small_runs_never_load_the_compiled_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run below JIT_MIN_TOTAL requests takes the Python loop (no numba import, no compilation)."""
    called: list[int] = []

    def spy() -> None:
        called.append(1)

    monkeypatch.setattr(lor, "compiled", spy)
    sc = Scenario.model_validate(
        {
            "traffic": {"rps": 500, "durationSeconds": 60},
            "loadBalancer": {"algorithm": "least_outstanding_requests"},
        }
    )
    cp = run_control_plane(sc, 1)
    out = Evaluator(sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s).run()
    assert out.total > 20_000
    assert called == []
    assert lor.wants_jit(lor.JIT_MIN_TOTAL)
    assert not lor.wants_jit(lor.JIT_MIN_TOTAL - 1)


# -- whole runs against the reference ------------------------------------------------------------------
LOR_CASES: dict[str, dict[str, Any]] = {
    "defaults": {"traffic": {"rps": 300}, "loadBalancer": {"algorithm": "least_outstanding_requests"}},
    "keepalive-race": {
        "traffic": {"rps": 300},
        "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 1, "keepAliveRaceWindowSeconds": 0.2},
        "loadBalancer": {"algorithm": "least_outstanding_requests"},
    },
    "slow-timeout-wide": {
        "workload": {"replicas": 40},
        "traffic": {"rps": 2000, "durationSeconds": 60},
        "app": {"onSigterm": "drain", "requestSeconds": {"lognormal": {"median": 0.5, "p99": 8}}},
        "loadBalancer": {
            "idleTimeoutSeconds": 4,
            "deregistrationDelaySeconds": 2,
            "algorithm": "least_outstanding_requests",
        },
    },
    # closed-loop clients whose failures come back early: batches rolled back, state restored from a copy
    "closed-rollbacks": {
        "traffic": {
            "model": "closed",
            "clients": 40,
            "durationSeconds": 6,
            "thinkSeconds": {"uniform": [0, 0.1]},
        },
        "app": {"onSigterm": "drain", "keepAliveTimeoutSeconds": 1, "keepAliveRaceWindowSeconds": 0.2},
        "loadBalancer": {"algorithm": "least_outstanding_requests"},
    },
    "closed": {
        "traffic": {"model": "closed", "clients": 40, "durationSeconds": 6},
        "loadBalancer": {"algorithm": "least_outstanding_requests"},
    },
}


def _run(spec: dict[str, Any], *, reference: bool, max_requests: int | None = None) -> Traffic:
    sc = Scenario.model_validate(spec)
    cp = run_control_plane(sc, 1)
    common: dict[str, Any] = {"rngs": cp.traffic_rngs(), "duration_s": cp.duration_s, "keep_requests": True}
    if reference:
        return ReferenceEvaluator(sc, cp.views, cp.windows(), max_requests=max_requests, **common).run()
    return Evaluator(sc, cp.views, cp.windows(), **common).run()


def _same(a: Traffic, b: Traffic) -> None:
    assert a.total == b.total > 0
    assert a.requests is not None
    assert b.requests is not None
    for key in ("t", "view", "target", "code"):
        np.testing.assert_array_equal(a.requests[key], b.requests[key], err_msg=key)
    np.testing.assert_array_equal(a.by_code, b.by_code)


@pytest.mark.usefixtures("compiled_everywhere")
@pytest.mark.parametrize("name", sorted(LOR_CASES))
def test_compiled_runs_match_the_reference(name: str) -> None:
    vec = _run(LOR_CASES[name], reference=False)
    ref = _run(LOR_CASES[name], reference=True)
    _same(vec, ref)
    assert vec.requests is not None
    assert len(set(vec.requests["target"].tolist())) > 2


def test_a_large_run_takes_the_compiled_loop_and_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above JIT_MIN_TOTAL the evaluator uses the compiled loop on its own; its picks equal the Python
    loop's over the whole run and the reference's over the first 100,000 requests."""
    spec = {
        "workload": {"replicas": 30},
        "traffic": {"rps": 10_000, "durationSeconds": 60},
        "loadBalancer": {"algorithm": "least_outstanding_requests"},
    }
    kernel = lor.compiled()
    assert kernel is not None
    calls: list[int] = []

    def counting(*args: Any) -> Any:
        calls.append(len(args[2]))  # the requests of one view
        return kernel(*args)

    monkeypatch.setattr(lor, "compiled", lambda: counting)
    fast = _run(spec, reference=False)
    assert sum(calls) == fast.total
    monkeypatch.setattr(lor, "compiled", lambda: None)
    slow = _run(spec, reference=False)
    _same(fast, slow)
    ref = _run(spec, reference=True, max_requests=100_000)
    assert fast.requests is not None
    assert ref.requests is not None
    for key in ("t", "view", "target"):
        np.testing.assert_array_equal(fast.requests[key][:100_000], ref.requests[key], err_msg=key)


def test_the_readme_and_pyproject_say_how_to_get_the_compiled_loop() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "pip install 'rollsafe[fast]'" in readme
    assert "ROLLSAFE_NO_JIT=1" in readme
    assert f"{lor.JIT_MIN_TOTAL:,} requests" in readme
    extras = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert [r for r in extras["fast"] if r.startswith("numba")]
    assert set(extras["fast"]) <= set(extras["dev"])  # make test exercises the compiled loop
