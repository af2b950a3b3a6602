"""Least outstanding requests, exactly and fast: the per-request loop of each routing view (one LB node), as
a pure function over plain arrays.

Each request first lets go of the holds that ended by its arrival, then goes to the first of the least busy
targets of the view's current list (the list order breaks ties), and holds that target until its outcome:
completion, process exit, drain deadline or idle timeout if the target accepted it; the connect timeout at
a vanished IP that drops SYNs; not at all if it was refused or met a keep-alive race. That is the
reference's rule (sim/reference.py), request by request.

The least-loaded choice costs O(log n) per request in n targets: a min-tree over the positions of the
current list, keyed by (outstanding, position), so the root is the first of the least busy. It is rebuilt
only when the view's list changes. Holds wait in a heap of (end, pod).

Two implementations of the same loop give identical picks (tests/test_lor.py checks that they do):

- ``_lor_python``: plain Python on lists with ``heapq`` (a lazy heap of (outstanding, position) stands in
  for the min-tree; stale entries are skipped when they surface). Always available.
- ``_lor_kernel``: the same loop over numpy arrays (a 4-ary heap of holds; lists of at most 16 targets
  scanned rather than kept in a min-tree, which is faster there), compiled by numba when it is installed
  (the optional ``fast`` extra: ``pip install 'rollsafe[fast]'``), for large runs only
  (``JIT_MIN_TOTAL``, ``JIT_MIN_CALL``); small ones, and every run when ``ROLLSAFE_NO_JIT=1`` is set or
  numba is missing, take the Python loop. The compiled code is cached on disk (numba ``cache=True``), so
  only the first large run on a machine pays the compilation.
"""

from __future__ import annotations

import heapq
import math
import os
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# When the compiled loop is worth it. Importing numba and loading the cached machine code cost about
# 0.3 s (compiling it the first time on a machine, a few seconds), what the Python loop takes for about
# 200,000 requests: a run expected to send fewer than JIT_MIN_TOTAL requests never imports numba. Calls
# with fewer than JIT_MIN_CALL requests (closed-model batches) stay in Python too: converting the state
# costs more than the loop saves there.
JIT_MIN_TOTAL = 500_000
JIT_MIN_CALL = 1_000
_SHIFT = 32  # min-tree key: outstanding << _SHIFT | position
_POS_MASK = (1 << _SHIFT) - 1
_EMPTY = np.iinfo(np.int64).max  # a min-tree leaf past the end of the list
_LINEAR_MAX = 16  # the compiled loop scans lists up to this long rather than keep a min-tree


@dataclass(frozen=True)
class LorParams:
    """What decides how long a request holds its target (scenario settings)."""

    idle: float  # loadBalancer.idleTimeoutSeconds
    connect: float  # loadBalancer.connectTimeoutSeconds
    waits_on_gone: bool  # a vanished pod IP drops SYNs: the request holds its target for the connect timeout
    keepalive_race: bool  # the server's keep-alive timeout is below the LB's idle timeout
    kat: float  # app.keepAliveTimeoutSeconds
    window: float  # app.keepAliveRaceWindowSeconds


@dataclass(frozen=True)
class Segments:
    """One routing view's target lists: from ``times[k]`` on it routes to
    ``flat[offsets[k] : offsets[k] + sizes[k]]``."""

    times: F64
    offsets: I64
    sizes: I64
    flat: I64

    @cached_property
    def lists(self) -> tuple[list[float], list[int], list[int], list[int]]:
        """The same as lists, for the Python loop (made once)."""
        return self.times.tolist(), self.offsets.tolist(), self.sizes.tolist(), self.flat.tolist()


@dataclass(frozen=True)
class Windows:
    """Per pod: when it listens, stops accepting, exits, loses its IP, reaches its drain deadline."""

    listen: F64
    stop: F64
    exit: F64
    ip_gone: F64
    drain: F64

    @cached_property
    def lists(self) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
        """The same as lists, for the Python loop (made once)."""
        return (
            self.listen.tolist(),
            self.stop.tolist(),
            self.exit.tolist(),
            self.ip_gone.tolist(),
            self.drain.tolist(),
        )


@dataclass
class LorState:
    """One view's state from one request to the next: the outstanding count per pod, and the holds not yet
    ended as a heap of (end, pod). The heap lives as a ``heapq`` list or as arrays (for the compiled
    loop), whichever was used last; each form is made from the other only when needed."""

    counts: I64
    _heap: list[tuple[float, int]] | None = field(default_factory=list)
    _arrays: tuple[F64, I64, int] | None = None

    @staticmethod
    def empty(n_pods: int) -> LorState:
        return LorState(np.zeros(n_pods, dtype=np.int64))

    def heap(self) -> list[tuple[float, int]]:
        """The holds as a ``heapq`` list, to be changed in place."""
        if self._heap is None:
            assert self._arrays is not None
            ends, pods, n = self._arrays
            self._heap = list(zip(ends[:n].tolist(), pods[:n].tolist(), strict=True))
            heapq.heapify(self._heap)
            self._arrays = None
        return self._heap

    def arrays(self) -> tuple[F64, I64, int]:
        """The holds as the compiled loop's 4-ary heap: (ends, pods, count). Sorted is a valid heap."""
        if self._arrays is None:
            heap = sorted(self._heap or [])
            cap = max(64, 2 * len(heap))
            ends, pods = np.empty(cap), np.empty(cap, dtype=np.int64)
            if heap:
                ends[: len(heap)] = [e for e, _ in heap]
                pods[: len(heap)] = [p for _, p in heap]
            self._arrays, self._heap = (ends, pods, len(heap)), None
        return self._arrays

    def set_arrays(self, ends: F64, pods: I64, n: int) -> None:
        self._arrays, self._heap = (ends, pods, n), None

    def copy(self) -> LorState:
        if self._heap is not None:
            return LorState(self.counts.copy(), list(self._heap))
        assert self._arrays is not None
        ends, pods, n = self._arrays
        return LorState(self.counts.copy(), None, (ends.copy(), pods.copy(), n))


def pick(
    t: F64,
    d: npt.NDArray[np.floating[Any]],
    view: npt.NDArray[np.integer[Any]],
    segs: list[Segments],
    w: Windows,
    params: LorParams,
    states: list[LorState],
    last: F64,
    *,
    jit: bool,
) -> tuple[I64, npt.NDArray[np.bool_]]:
    """The target of each request (in arrival order; -1 when its view routes nowhere), and which met a
    keep-alive race (the server closing the idle pooled connection just then). ``view``: each request's
    routing view; per view, its target lists, its state and its row of ``last`` (per pod: when the view
    last sent it a request), which carry over to the next call. ``jit``: the run is large enough for the
    compiled loop (``wants_jit``)."""
    n = len(t)
    targets = np.full(n, -1, dtype=np.int64)
    races = np.zeros(n, dtype=bool)
    kernel = compiled() if jit and n >= JIT_MIN_CALL else None
    if kernel is not None:
        d64 = d.astype(np.float64)
        for v, (sv, state) in enumerate(zip(segs, states, strict=True)):
            idx = np.flatnonzero(view == v)
            if len(idx):
                _run_compiled(kernel, t, d64, idx, sv, w, params, state, last[v], targets, races)
        return targets, races
    for v, (sv, state) in enumerate(zip(segs, states, strict=True)):
        idx = np.flatnonzero(view == v)
        if len(idx):
            targets[idx], races[idx] = _pick_python(t[idx], d[idx], sv, w, params, state, last[v])
    return targets, races


def wants_jit(expected_requests: float) -> bool:
    """Whether a run expected to send this many requests should use the compiled loop (if it is there)."""
    return expected_requests >= JIT_MIN_TOTAL


def _pick_compiled(
    kernel: Kernel,
    t: F64,
    d: npt.NDArray[np.floating[Any]],
    segs: Segments,
    w: Windows,
    params: LorParams,
    state: LorState,
    last: F64,
) -> tuple[I64, npt.NDArray[np.bool_]]:
    """``pick`` through the compiled loop, for one view's requests."""
    n = len(t)
    targets = np.full(n, -1, dtype=np.int64)
    races = np.zeros(n, dtype=bool)
    _run_compiled(kernel, t, d.astype(np.float64), np.arange(n), segs, w, params, state, last, targets, races)
    return targets, races


def _run_compiled(
    kernel: Kernel,
    t: F64,
    d: F64,
    idx: I64,
    segs: Segments,
    w: Windows,
    params: LorParams,
    state: LorState,
    last: F64,
    targets: I64,
    races: npt.NDArray[np.bool_],
) -> None:
    ends, pods, n_holds = state.arrays()
    # contiguous float64 and int64 everywhere, so one compiled signature serves every call
    ends, pods, n_holds, error = kernel(
        np.ascontiguousarray(t, dtype=np.float64),
        d,
        idx,
        np.ascontiguousarray(segs.times, dtype=np.float64),
        np.ascontiguousarray(segs.offsets, dtype=np.int64),
        np.ascontiguousarray(segs.sizes, dtype=np.int64),
        np.ascontiguousarray(segs.flat, dtype=np.int64),
        w.listen,
        w.stop,
        w.exit,
        w.ip_gone,
        w.drain,
        float(params.idle),
        float(params.connect),
        bool(params.waits_on_gone),
        bool(params.keepalive_race),
        float(params.kat),
        float(params.window),
        state.counts,
        ends,
        pods,
        n_holds,
        last,
        targets,
        races,
    )
    state.set_arrays(ends, pods, n_holds)
    if error:
        raise ValueError(f"routing view lists a pod twice at {float(t[error - 1])} s")


def _pick_python(
    t: F64,
    d: npt.NDArray[np.floating[Any]],
    segs: Segments,
    w: Windows,
    params: LorParams,
    state: LorState,
    last: F64,
) -> tuple[I64, npt.NDArray[np.bool_]]:
    counts = state.counts.tolist()
    seen = last.tolist()
    targets, races = _lor_python(
        t.tolist(),
        d.tolist(),
        *segs.lists,
        *w.lists,
        params,
        counts,
        state.heap(),
        seen,
    )
    state.counts[:] = counts
    last[:] = seen
    return np.array(targets, dtype=np.int64), np.array(races, dtype=bool)


def _lor_python(
    t: list[float],
    d: list[float],
    times: list[float],
    offsets: list[int],
    sizes: list[int],
    flat: list[int],
    listen: list[float],
    stop: list[float],
    exit_: list[float],
    ip_gone: list[float],
    drain: list[float],
    params: LorParams,
    counts: list[int],
    holds: list[tuple[float, int]],
    last: list[float],
) -> tuple[list[int], list[bool]]:
    """The loop in plain Python. ``counts``, ``holds`` and ``last`` are changed in place."""
    idle, connect, waits_on_gone = params.idle, params.connect, params.waits_on_gone
    keepalive_race, kat, window = params.keepalive_race, params.kat, params.window
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    n = len(t)
    targets, races = [-1] * n, [False] * n
    posof = [-1] * len(counts)  # each pod's position in the current list, -1 if not in it
    least: list[tuple[int, int]] = []  # lazy heap of (outstanding, position) over the current list
    current: list[int] = []
    built, seg, nseg = -1, 0, len(times)
    if n and nseg:
        seg = max(bisect_right(times, t[0]) - 1, 0)
    for j in range(n):
        now = t[j]
        while holds and holds[0][0] <= now:
            _, p = heappop(holds)
            c = counts[p] - 1
            counts[p] = c
            i = posof[p]
            if i >= 0:
                heappush(least, (c, i))
        if nseg == 0:
            continue
        while seg + 1 < nseg and times[seg + 1] <= now:
            seg += 1
        size = sizes[seg]
        if size == 0:
            continue
        if seg != built or len(least) > 4 * size + 64:
            for p in current:
                posof[p] = -1
            off = offsets[seg]
            current = flat[off : off + size]
            for i, p in enumerate(current):
                if posof[p] >= 0:
                    raise ValueError(f"routing view lists pod {p} twice at {times[seg]} s")
                posof[p] = i
            least = [(counts[p], i) for i, p in enumerate(current)]
            heapq.heapify(least)
            built = seg
        while True:  # the first of the least busy: skip entries made stale by a later count change
            c, i = least[0]
            p = current[i]
            if counts[p] == c:
                break
            heappop(least)
        targets[j] = p
        release = -math.inf
        if now >= ip_gone[p]:
            if waits_on_gone:
                release = now + connect
        elif listen[p] <= now < stop[p]:
            if keepalive_race and kat <= now - last[p] < kat + window:
                races[j] = True
            else:
                release = min(now + d[j], exit_[p], drain[p], now + idle)
        if keepalive_race:
            last[p] = now
        if release > now:
            counts[p] = c + 1
            heapreplace(least, (c + 1, i))
            heappush(holds, (release, p))
    return targets, races


# -- the compiled loop --------------------------------------------------------------------------------------
def _lor_kernel(
    t: F64,
    d: F64,
    idx: I64,
    times: F64,
    offsets: I64,
    sizes: I64,
    flat: I64,
    listen: F64,
    stop: F64,
    exit_: F64,
    ip_gone: F64,
    drain: F64,
    idle: float,
    connect: float,
    waits_on_gone: bool,
    keepalive_race: bool,
    kat: float,
    window: float,
    counts: I64,
    ends: F64,
    pods: I64,
    n_holds: int,
    last: F64,
    targets: I64,
    races: npt.NDArray[np.bool_],
) -> tuple[F64, I64, int, int]:
    """The loop over arrays, for numba (self-contained: numba compiles it alone), over the requests
    ``idx`` (increasing) of a chunk: one view's. ``counts``, ``last``, ``targets`` and ``races``
    (chunk-long) are written in place.

    The holds are a 4-ary min-heap on their ends in ``ends``/``pods``, ``n_holds`` long (only the ends
    are compared: which holds have ended by a time does not depend on the order of equal ends). It may
    outgrow its arrays, so it is returned: (ends, pods, count, error), error being 1 + the index of a
    request whose view lists a pod twice (0 when none).

    The least-loaded choice: a min-tree over the current list's positions whose leaf i holds
    outstanding << _SHIFT | i, so the root names the first of the least busy; O(log n) per count
    change. Views never wider than _LINEAR_MAX targets scan their list instead, which is faster there."""
    nseg = times.shape[0]
    widest = 1
    for k in range(nseg):
        widest = max(widest, sizes[k])
    linear = widest <= _LINEAR_MAX
    leaves = 1
    while leaves < widest and not linear:
        leaves *= 2
    tree = np.full(2 * leaves, _EMPTY, dtype=np.int64)
    posof = np.full(counts.shape[0], -1, dtype=np.int64)
    # linear mode: the current list's outstanding counts by position, kept beside ``counts`` so the scan
    # reads one small contiguous array
    here = np.zeros(widest, dtype=np.int64)
    built, seg, cur_off, cur_size = -1, -1, 0, 0
    for j in idx:
        now = t[j]
        # the holds that ended by now let go of their targets
        while n_holds > 0 and ends[0] <= now:
            p = pods[0]
            n_holds -= 1  # pop: the last entry sifts down from the root
            e_end, e_pod = ends[n_holds], pods[n_holds]
            h = 0
            while True:
                first = 4 * h + 1
                if first >= n_holds:
                    break
                best, best_end = first, ends[first]
                for q in range(first + 1, min(first + 4, n_holds)):
                    if ends[q] < best_end:
                        best, best_end = q, ends[q]
                if e_end <= best_end:
                    break
                ends[h], pods[h] = best_end, pods[best]
                h = best
            ends[h], pods[h] = e_end, e_pod
            c = counts[p] - 1
            counts[p] = c
            i = posof[p]
            if i >= 0 and linear:
                here[i] = c
            elif i >= 0:  # mend the min-tree from leaf i up, stopping where nothing changes
                k = leaves + i
                tree[k] = (c << _SHIFT) | i
                k >>= 1
                while k >= 1:
                    a, b = tree[2 * k], tree[2 * k + 1]
                    m = a if a < b else b
                    if tree[k] == m:
                        break
                    tree[k] = m
                    k >>= 1
        if nseg == 0:
            continue
        if seg < 0:
            seg = max(np.searchsorted(times, now, side="right") - 1, 0)
        while seg + 1 < nseg and times[seg + 1] <= now:
            seg += 1
        size = sizes[seg]
        if size == 0:
            continue
        if seg != built:  # the list changed
            for i in range(cur_size):
                posof[flat[cur_off + i]] = -1
            cur_off, cur_size = offsets[seg], size
            for i in range(size):
                p = flat[cur_off + i]
                if posof[p] >= 0:
                    return ends, pods, n_holds, j + 1
                posof[p] = i
            if linear:
                for i in range(size):
                    here[i] = counts[flat[cur_off + i]]
            else:
                tree[:] = _EMPTY
                for i in range(size):
                    tree[leaves + i] = (counts[flat[cur_off + i]] << _SHIFT) | i
                for k in range(leaves - 1, 0, -1):
                    a, b = tree[2 * k], tree[2 * k + 1]
                    tree[k] = a if a < b else b
            built = seg
        if linear:
            i, least = 0, here[0]
            for q in range(1, size):
                c = here[q]
                if c < least:
                    i, least = q, c
        else:
            i = tree[1] & _POS_MASK
        p = flat[cur_off + i]
        targets[j] = p
        release = -np.inf
        if now >= ip_gone[p]:
            if waits_on_gone:
                release = now + connect
        elif listen[p] <= now < stop[p]:
            gap = now - last[p]
            if keepalive_race and kat <= gap < kat + window:
                races[j] = True
            else:
                release = min(now + d[j], exit_[p], drain[p], now + idle)
        if keepalive_race:
            last[p] = now
        if release > now:
            c = counts[p] + 1
            counts[p] = c
            if linear:
                here[i] = c
            else:
                k = leaves + i
                tree[k] = (c << _SHIFT) | i
                k >>= 1
                while k >= 1:
                    a, b = tree[2 * k], tree[2 * k + 1]
                    m = a if a < b else b
                    if tree[k] == m:
                        break
                    tree[k] = m
                    k >>= 1
            if n_holds == ends.shape[0]:
                grown_e = np.empty(2 * n_holds + 64)
                grown_p = np.empty(2 * n_holds + 64, dtype=np.int64)
                grown_e[:n_holds] = ends[:n_holds]
                grown_p[:n_holds] = pods[:n_holds]
                ends, pods = grown_e, grown_p
            h = n_holds  # push: sift up from the end
            n_holds += 1
            while h > 0:
                parent = (h - 1) >> 2
                if ends[parent] <= release:
                    break
                ends[h], pods[h] = ends[parent], pods[parent]
                h = parent
            ends[h], pods[h] = release, p
    return ends, pods, n_holds, 0


Kernel = Callable[..., tuple[F64, I64, int, int]]


@cache
def compiled() -> Kernel | None:
    """The compiled loop, or None: numba is not installed, or ``ROLLSAFE_NO_JIT=1``. numba is imported only
    here, the first time a call is large enough to want it."""
    if os.environ.get("ROLLSAFE_NO_JIT", "") not in ("", "0"):
        return None
    try:
        import numba
    except ImportError:
        return None
    try:
        kernel: Kernel = numba.njit(cache=True, nogil=True)(_lor_kernel)
    except RuntimeError:  # nowhere to write the on-disk cache: compile in memory, once per process
        kernel = numba.njit(nogil=True)(_lor_kernel)
    return kernel
