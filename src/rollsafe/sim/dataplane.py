"""The data plane: requests as numpy arrays, joined against the control plane's routing views and each
pod's serving windows. Every request gets exactly one outcome code (0 = success, else a cause).

Round robin and weighted random are exact here with ``searchsorted``; least outstanding requests needs
each request's own feedback and takes a per-request loop (sim/lor.py, compiled when numba is installed).
Instance targets go through pooled connections pinned to pods (``Pins``), computed epoch by epoch.
Closed-loop clients (``traffic.model: closed``) take an exact batch-by-batch path, since each client's next
request waits for its last answer.
Nothing here reads a clock; randomness comes only from the streams it is given.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rollsafe.control.api import Pod
from rollsafe.control.routing import RoutingView, walk
from rollsafe.model.causes import CODE, STATUS_BY_CODE, SUCCESS
from rollsafe.model.outcome import Precedence, accepted_fate
from rollsafe.model.scenario import Scenario
from rollsafe.sim import lor

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Views = npt.NDArray[np.int8] | npt.NDArray[np.int64]  # a routing view index per request
Durations = npt.NDArray[np.floating[Any]]  # service times: float32 draws

CHUNK = 1 << 20  # requests evaluated at once; bounds memory whatever the traffic
N_CODES = len(STATUS_BY_CODE)


@dataclass
class PodWindows:
    """Per pod (by index): when its server accepts, stops, exits, its IP vanishes, its drain ends."""

    listen: F64
    stop: F64
    exit: F64
    ip_gone: F64
    drain_deadline: F64
    closes_idle: npt.NDArray[np.bool_]

    @staticmethod
    def of(pods: list[Pod], drain_deadlines: dict[int, float]) -> PodWindows:
        n = len(pods)
        dd = np.full(n, np.inf)
        for i, t in drain_deadlines.items():
            dd[i] = t
        return PodWindows(
            listen=np.array([p.listen_s for p in pods], dtype=np.float64),
            stop=np.array([p.stop_accept_s for p in pods], dtype=np.float64),
            exit=np.array([p.exit_s for p in pods], dtype=np.float64),
            ip_gone=np.array([p.ip_gone_s for p in pods], dtype=np.float64),
            drain_deadline=dd,
            closes_idle=np.array([p.closes_idle_at_stop for p in pods], dtype=bool),
        )


def arrival_offsets(rng: np.random.Generator, rps: float, n: int) -> F64:
    """The next ``n`` Poisson arrivals at ``rps``, in seconds after the last one drawn (the reference
    implementation draws them the same way). Unit exponential gaps in float32, summed in float64."""
    offsets = np.empty(n, dtype=np.float64)
    # np.cumsum's sums, one after another in float64, without its temporaries
    np.add.accumulate(rng.standard_exponential(n, dtype=np.float32), dtype=np.float64, out=offsets)
    offsets *= 1.0 / rps
    return offsets


def draw_views(rng: np.random.Generator, n_views: int, n: int) -> Views:
    """Which routing view each request goes through: clients spread evenly over the LB nodes (or the LB
    over the worker nodes: MODEL ASSUMPTION, round robin over instances treated as uniform). int8 draws
    are cheaper and hold up to 127 views."""
    if n_views <= 1:
        return np.zeros(n, dtype=np.int8)
    if n_views <= 127:
        return rng.integers(0, n_views, n, dtype=np.int8)
    return rng.integers(0, n_views, n, dtype=np.int64)


# a segment with at most this many requests reads its targets off the walker's list one by one; more build
# an array of the list first
_FEW_PICKS = 32


class _FlatView:
    """One routing view as the data plane reads it: its segments' start times and sizes, and its change
    log (control/routing.py), from which a segment's targets are rebuilt as the evaluator walks to it
    (``seek``, ``lookup``): memory grows with the changes, not with snapshots.

    ``flat`` and ``offsets`` are every segment's list end to end and where each starts: built only when
    first asked for, and O(size x segments), for tests; the least outstanding requests path asks
    ``segments_for`` the lists of the segments its requests use.
    """

    def __init__(self, view: RoutingView) -> None:
        self.log = view.log()
        self.times: F64 = np.array(view.times, dtype=np.float64)
        self.sizes: I64 = np.array(view.sizes, dtype=np.int64)
        # the walker: the segment it is at (-1: before the first), that segment's keys (ascending) and
        # targets side by side, and the targets as an array once one was needed there
        self._seg = -1
        self._keys: list[int] = []
        self._pods: list[int] = []
        self._array: I64 | None = None
        self._flat: tuple[I64, I64] | None = None
        self._times_and_end: F64 | None = None  # _per_segment
        self._modulus: I64 | None = None  # round_robin

    @staticmethod
    def of(view: RoutingView) -> _FlatView:
        return _FlatView(view)

    def seek(self, seg: int) -> list[int]:
        """Segment ``seg``'s targets in order: the walker's own list, valid until the next seek. Forward
        it applies each segment's changes (removals, then additions); back it undoes them in reverse."""
        log, keys, pods = self.log, self._keys, self._pods
        if seg != self._seg:
            self._array = None
        while self._seg < seg:
            s = self._seg + 1
            for i in range(log.end[s - 1] if s else 0, log.end[s]):
                at = bisect.bisect_left(keys, log.key[i])
                if log.added[i]:
                    keys.insert(at, log.key[i])
                    pods.insert(at, log.pod[i])
                else:
                    del keys[at], pods[at]
            self._seg = s
        while self._seg > seg:
            s = self._seg
            for i in range(log.end[s] - 1, (log.end[s - 1] if s else 0) - 1, -1):
                at = bisect.bisect_left(keys, log.key[i])
                if log.added[i]:
                    del keys[at], pods[at]
                else:
                    keys.insert(at, log.key[i])
                    pods.insert(at, log.pod[i])
            self._seg = s - 1
        return pods

    def lookup(self, seg: I64, pos: I64) -> I64:
        """The target at position ``pos[j]`` of segment ``seg[j]``'s list for each j (-1 where the segment
        is empty; a position must be below its segment's size)."""
        out = np.full(len(seg), -1, dtype=np.int64)
        if len(seg) == 0:
            return out
        # requests come in time order, so their segments ascend already, but any order is answered
        order = np.argsort(seg, kind="stable") if bool((seg[1:] < seg[:-1]).any()) else None
        by_seg = seg if order is None else seg[order]
        cuts = (np.flatnonzero(by_seg[1:] != by_seg[:-1]) + 1).tolist()
        for a, b in zip([0, *cuts], [*cuts, len(seg)], strict=True):
            s = int(by_seg[a])
            if self.sizes[s] == 0:
                continue
            rows: slice | I64 = slice(a, b) if order is None else order[a:b]
            pods = self.seek(s)
            if b - a <= _FEW_PICKS:
                out[rows] = [pods[i] for i in pos[rows].tolist()]
            else:
                if self._array is None:
                    self._array = np.array(pods, dtype=np.int64)
                out[rows] = self._array[pos[rows]]
        return out

    def segments_at(self, t: F64) -> tuple[I64, I64, I64]:
        """For requests at times ``t`` (ascending): the lists of the segments they fall in, end to end after
        a -1 (``flat``), and for each request where its segment's list starts in ``flat`` (at the -1 when it
        is empty) and its size. A request before the first segment reads the first, as ``lookup``'s callers
        have it. Built of the segments the requests use only, by the walker."""
        n = len(t)
        if len(self.times) == 0 or n == 0:
            return np.full(1, -1, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        count = self._per_segment(t)
        flat, start = self._lists_of(count)
        return np.array(flat, dtype=np.int64), np.repeat(start, count), np.repeat(self.sizes, count)

    def round_robin(self, t: F64, first: int, rank: I64 | None = None) -> I64:
        """Round robin's targets for requests at ascending times ``t``, the k-th of them at position
        ``(first + rank[k]) mod n`` of its segment's list of n (-1 where the segment is empty; ``rank``
        by default 0, 1, 2, ..., and overwritten): what ``segments_at`` gives, read in fewer steps."""
        if len(self.times) == 0 or len(t) == 0:
            return np.full(len(t), -1, dtype=np.int64)
        count = self._per_segment(t)
        flat, start = self._lists_of(count)
        if rank is None:
            pos = np.arange(first, first + len(t), dtype=np.int64)
        else:
            pos = rank
            pos += first
        pos %= self.modulus().repeat(count)
        pos += start.repeat(count)
        return np.array(flat, dtype=np.int64)[pos]

    def _lists_of(self, count: I64) -> tuple[list[int], I64]:
        """The lists of the segments with requests (``count`` per segment), end to end after a -1, and where
        each segment's list starts in them (at the -1 for an unused or empty segment): read by the walker."""
        flat = [-1]
        start: list[int] = []
        self._lists_into(count, flat, start)
        return flat, np.array(start, dtype=np.int64)

    def _lists_into(self, count: I64, flat: list[int], start: list[int]) -> None:
        """``_lists_of`` onto ``flat``, a list that starts with a -1, and ``start``: appends the lists of the
        segments with requests to ``flat``, and to ``start`` where each segment's list starts in it (0, at
        the -1, for an unused or empty segment)."""
        base = len(start)
        start += [0] * len(count)
        for s in count.nonzero()[0].tolist():
            listed = self.seek(s)
            if listed:
                start[base + s] = len(flat)
                flat += listed

    def modulus(self) -> I64:
        """Each segment's size, or 1 for an empty one (its position 0 reads the -1 before the lists)."""
        if self._modulus is None:
            self._modulus = np.maximum(self.sizes, 1)
        return self._modulus

    def _per_segment(self, t: F64) -> I64:
        """How many of the requests at ascending times ``t`` each segment routes (one before the first
        segment counts in the first). The requests in segment s are t[cut[s]:cut[s + 1]]: one search per
        segment start (and an infinite time after the last, so cut ends with len(t)), not one per request."""
        if self._times_and_end is None:
            self._times_and_end = np.concatenate((self.times, [math.inf]))
        cut = t.searchsorted(self._times_and_end, side="left")
        cut[0] = 0
        return cut[1:] - cut[:-1]

    def segments_for(self, t: F64) -> lor.Segments:
        """The view as sim/lor.py reads it, for requests at ascending times ``t``: every
        segment's start and size, but the target lists (``flat`` at ``offsets``) only of the segments those
        requests are routed by, rebuilt by the walker. The loop builds a segment's list only when a
        request arrives in it, and its segment only moves forward, so it never reads the others: memory
        grows with the segments requests use, not with every segment's snapshot."""
        times, sizes = self.times, self.sizes
        offsets = np.zeros(len(sizes), dtype=np.int64)
        used: list[int] = []
        if len(t) and len(times):  # t ascends, as the loop takes the requests
            used = [s for s in np.flatnonzero(self._per_segment(t)).tolist() if sizes[s] > 0]
        flat = np.empty(int(sizes[used].sum()) if used else 0, dtype=np.int64)
        off = 0
        for s in used:
            listed = self.seek(s)
            flat[off : off + len(listed)] = listed
            offsets[s] = off
            off += len(listed)
        return lor.Segments(times, offsets, sizes, flat)

    def _snapshots(self) -> tuple[I64, I64]:
        if self._flat is None:
            flat = np.empty(int(self.sizes.sum()), dtype=np.int64)
            offsets = np.zeros(len(self.sizes), dtype=np.int64)
            if len(self.sizes) > 1:
                offsets[1:] = np.cumsum(self.sizes)[:-1]
            for s, listed in enumerate(walk(self.log)):
                flat[offsets[s] : offsets[s] + len(listed)] = listed
            self._flat = (flat, offsets)
        return self._flat

    @property
    def flat(self) -> I64:
        return self._snapshots()[0]

    @property
    def offsets(self) -> I64:
        return self._snapshots()[1]


@dataclass
class _ChunkResult:
    """A chunk's failed requests (the rest succeeded): counted per second and code by ``Evaluator.run``,
    whose counts per code are those columns' sums."""

    fail_t: F64  # arrival time of each failed request (in no particular order)
    fail_code: I64
    kept: dict[str, npt.NDArray[Any]] | None  # every request, when asked for (tests)


@dataclass
class Traffic:
    """What came out of the data plane."""

    total: int
    by_code: I64  # count per outcome code
    per_second: I64  # failures per (second, code): shape (seconds, N_CODES)
    requests: dict[str, npt.NDArray[Any]] | None  # per request, when asked for (tests)
    # closed model: requests whose client gave up (traffic.clientTimeoutSeconds) before the LB answered
    client_timeouts: int = 0


# MODEL ASSUMPTION (docs/model.md, "Clients"): a client sees any answer, even an immediate 502 or 503, at
# least this long after it sent the request (a network round trip); closed-loop clients never spin in zero
# time. It also bounds how many pending requests the closed model evaluates at once.
MIN_ROUND_TRIP_S = 0.001
# closed model: clients start at uniform random times within this first stretch (a load generator's workers
# do not all fire in the same microsecond)
CLIENT_START_S = 1.0
# closed model: batches of at most this many requests are evaluated one by one in plain Python
SCALAR_BATCH = 16


class ClientDraws:
    """The closed model's random draws, taken request by request in the order requests are sent, from
    blocks of each stream (both evaluators take them this way, so they see the same numbers): the LB node
    or pooled-connection slot (``node``), the service time (``service``), the kube-proxy or weighted-random
    pick (``pick``) and the think time that follows the answer (``arrivals``)."""

    BLOCK = 4096

    def __init__(
        self, scenario: Scenario, rngs: dict[str, np.random.Generator], *, pins: Pins | None, n_views: int
    ) -> None:
        sc = scenario

        def where(k: int) -> npt.NDArray[Any]:
            if pins is not None:
                return pins.draw_slots(rngs["node"], k)
            return draw_views(rngs["node"], n_views, k).astype(np.int64)

        def service(k: int) -> npt.NDArray[Any]:
            return sc.app.request_seconds.sample(rngs["service"], k)

        def pick(k: int) -> npt.NDArray[Any]:
            return rngs["pick"].random(k)

        def think(k: int) -> npt.NDArray[Any]:
            return sc.traffic.think_seconds.sample(rngs["arrivals"], k)

        self._sources: tuple[Callable[[int], npt.NDArray[Any]], ...] = (where, service, pick, think)
        self._buf: list[npt.NDArray[Any]] = [src(0) for src in self._sources]
        self._pos = [0, 0, 0, 0]

    def untake(self, k: int) -> None:
        """Give back the last ``k`` values taken of each (they go to the next requests instead)."""
        self._pos = [p - k for p in self._pos]

    def take(self, k: int) -> tuple[npt.NDArray[Any], ...]:
        """The next ``k`` values of each: (slot or view, service time, pick, think time)."""
        out = []
        for i, src in enumerate(self._sources):
            buf, pos = self._buf[i], self._pos[i]
            while len(buf) - pos < k:
                buf = np.concatenate([buf[pos:], src(self.BLOCK)])
                pos = 0
            out.append(buf[pos : pos + k])
            self._buf[i], self._pos[i] = buf, pos + k
        return tuple(out)


def _valid_prefix(t: F64, next_send: F64) -> int:
    """How many of the requests (sorted by send time) come before any of their clients' next sends: the
    first k such that every request j < k is sent strictly before each earlier request's next send."""
    if len(t) <= 1:
        return len(t)
    earliest_next = np.minimum.accumulate(next_send)[:-1]
    bad = np.flatnonzero(t[1:] >= earliest_next)
    return int(bad[0]) + 1 if len(bad) else len(t)


def client_starts(rng: np.random.Generator, clients: int) -> F64:
    """When each closed-model client sends its first request."""
    return rng.random(clients) * CLIENT_START_S


def _aranges(starts: I64, lengths: I64) -> I64:
    """The concatenation of ``arange(s, s + k)`` for each start s and length k."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    nz = lengths > 0
    s, k = starts[nz], lengths[nz]
    base = np.repeat(s - np.concatenate([[0], np.cumsum(k)[:-1]]), k)
    return base + np.arange(total, dtype=np.int64)


def _first_at_least(ts: F64, lo: I64, hi: I64, x: F64) -> I64:
    """For each query, the first index i in [lo, hi) with ts[i] >= x (hi if none); ts is sorted within each
    range. A binary search over all queries at once."""
    lo, hi = lo.copy(), hi.copy()
    last = len(ts) - 1
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        below = open_ & (ts[np.minimum(mid, last)] < x)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(open_ & ~below, mid, hi)


@dataclass
class Pins:
    """Instance targets: the pooled keep-alive connections, one slot per (LB node, worker node, connection).

    MODEL ASSUMPTION (docs/model.md, "Instance targets"): each LB node keeps
    ``loadBalancer.connectionsPerInstance`` connections to each worker node's NodePort, and a request goes out
    on one of them chosen uniformly at random (LB node and worker node uniform too: clients spread over the
    LB nodes, and the ALB's algorithm over healthy instances is taken as an even spread). conntrack pins a
    connection to the pod kube-proxy picked when it opened (kube-proxy rules affect only new connections;
    kubernetes-rollout-mechanics §6), until the server or the LB closes it: the server's keep-alive timeout
    or the LB idle timeout, whichever is shorter, measured between requests sent on it (AWS ALB "Connection
    idle timeout"); the pod stopping accepting (its server closes its connections: it exits, or drains and
    closes idle ones). A connection whose pod refused the connect never opens. A request that finds its slot
    without an open connection opens one through its worker node's kube-proxy, which picks a pod at random
    among the endpoints it has then.
    """

    n_lb: int
    n_workers: int
    per_pair: int
    pod: I64  # per slot: the pod its open connection is pinned to, -1 when none is open
    last: F64  # per slot: when the last request went out on its open connection
    reopen_gap: float  # idle this long: the connection is closed and the LB knows it
    race_gap: float  # idle this long (but less than reopen_gap): the server is closing it just now

    @staticmethod
    def of(scenario: Scenario, *, n_views: int) -> Pins:
        lb, app = scenario.load_balancer, scenario.app
        slots = lb.nodes * n_views * lb.connections_per_instance
        kat, window = app.keep_alive_timeout_seconds, app.keep_alive_race_window_seconds
        if kat <= lb.idle_timeout_seconds:  # the server closes first: the keep-alive race
            reopen, race = kat + window, kat
        else:  # the LB closes first and knows it
            reopen = race = lb.idle_timeout_seconds
        return Pins(
            lb.nodes,
            n_views,
            lb.connections_per_instance,
            np.full(slots, -1, dtype=np.int64),
            np.full(slots, -np.inf),
            reopen,
            race,
        )

    @property
    def slots(self) -> int:
        return self.n_lb * self.n_workers * self.per_pair

    def draw_slots(self, rng: np.random.Generator, n: int) -> I64:
        """Each request's slot: (LB node, worker node, connection), uniformly."""
        return rng.integers(0, self.slots, n, dtype=np.int64)

    def view_of(self, slot: I64) -> I64:
        """The worker node (its kube-proxy's routing view) of each slot."""
        return (slot // self.per_pair) % self.n_workers


# the windows (listen, stop, exit, ip gone, drain deadline, closes idle) and, per routing view, its segment
# times and sizes, as plain lists, and the view itself (its walker rebuilds a segment's list)
_Scalar = tuple[
    list[float],
    list[float],
    list[float],
    list[float],
    list[float],
    list[bool],
    list[tuple[list[float], list[int], _FlatView]],
]


def _counts(view: Views, n_views: int) -> list[int]:
    """How many requests each view has. A few views: one comparison each, far cheaper than bincount,
    which first widens the int8 views to int64."""
    if n_views <= 8:
        return [int(np.count_nonzero(view == v)) for v in range(n_views)]
    return [int(c) for c in np.bincount(view, minlength=n_views)]


def _mask_of(n: int, lo: list[int], hi: list[int]) -> npt.NDArray[np.bool_]:
    """Of ``n`` places, those in the ranges ``[lo[k], hi[k])``."""
    mask = np.zeros(n, dtype=bool)
    for a, b in zip(lo, hi, strict=True):
        mask[a:b] = True
    return mask


def _count_into(per_second: I64, t: F64, code: I64) -> None:
    """Add one to ``per_second[sec[j], code[j]]`` for each j, ``sec[j]`` the second of time ``t[j]`` (at most
    the last row): ``np.add.at``'s counts, from one bincount over the flattened (second, code) cells."""
    cells = t.astype(np.int64)
    np.minimum(cells, per_second.shape[0] - 1, out=cells)
    cells *= per_second.shape[1]
    cells += code
    per_second += np.bincount(cells, minlength=per_second.size).reshape(per_second.shape)


# Evaluator._fact_keys: the code of each byte of facts, per precedence (by its codes)
_CODE_TABLES: dict[tuple[int, ...], I64] = {}


def _code_table(precedence: Precedence) -> I64:
    """The outcome code of every byte of facts ``Evaluator._fact_keys`` packs, as ``precedence.decide``
    gives it: the facts unrouted, ip_gone, not_listening_yet, closing_idle, stopped_listening and
    idle_race are bits 7 down to 2; the last two bits are the accepted request's fate, 0 when none of
    killed_first (1), drain_first (2), idle_timeout_first (3) holds (at most one does)."""
    table = _CODE_TABLES.get(precedence.codes)
    if table is None:
        key = np.arange(256)
        fate = key & 3
        facts = (*((key >> bit) & 1 == 1 for bit in range(7, 1, -1)), fate == 1, fate == 2, fate == 3)
        table = precedence.decide(facts)
        table.flags.writeable = False  # shared by every Evaluator with this precedence
        _CODE_TABLES[precedence.codes] = table
    return table


class Evaluator:
    def __init__(
        self,
        scenario: Scenario,
        views: list[RoutingView],
        windows: PodWindows,
        *,
        rngs: dict[str, np.random.Generator],
        duration_s: float,
        keep_requests: bool = False,
    ) -> None:
        self.sc = scenario
        self.views = [_FlatView.of(v) for v in views]
        self.policy = views[0].policy if views else "round_robin"
        self.w = windows
        self.rngs = rngs
        self.duration = duration_s
        self.keep = keep_requests
        self.rr_counter = np.zeros(len(views), dtype=np.int64)
        self.n_pods = len(windows.listen)
        app, lb = scenario.app, scenario.load_balancer
        self.keepalive_race = app.keep_alive_timeout_seconds <= lb.idle_timeout_seconds
        self.last_seen = np.full((len(views), self.n_pods), -np.inf)
        self.seconds = math.ceil(duration_s) + 1
        # least_outstanding_requests: per view, outstanding count per pod and a heap of (end, pod)
        self._lor_states: list[lor.LorState] | None = None  # made when first needed (_lor_state)
        self._lor_windows: lor.Windows | None = None  # _pick_lor
        # the compiled loop (sim/lor.py) only for runs large enough to repay loading it; the closed model's
        # batches decide by their own size
        rps = scenario.traffic.rps
        self._lor_jit = scenario.traffic.model == "closed" or (
            rps is not None and lor.wants_jit(rps * duration_s)
        )
        # instance targets: pooled keep-alive connections pinned to a pod (docs/model.md, "Instance targets")
        self.pinning = scenario.load_balancer.target_type == "instance" and bool(views)
        self._pins: Pins | None = None  # made when first needed (pins)
        # calm time (_calm_intervals): what it is made of, walked once; the last reach it was worked out for
        self._calm_walk = self._calm_stretches()
        self._calm: tuple[F64, F64] = (np.empty(0), np.empty(0))
        self._calm_reach: float | None = None
        self.batches = self.rollbacks = 0  # closed model: how it went (bench)
        self._scalar: _Scalar | None = None  # _scalar_windows
        self._accepted_codes = {
            SUCCESS,
            CODE["in-flight-killed"],
            CODE["drain-timeout"],
            CODE["response-timeout"],
        }
        self.precedence = Precedence.for_setup(
            target_type=scenario.load_balancer.target_type, vanished_pod_ip=scenario.cluster.vanished_pod_ip
        )
        self._code_of_key = _code_table(self.precedence)
        # _outcomes reads the windows of each request's target, one gather per window: one row per window,
        # one column per pod, and a last column that target -1 (no target) reads, whose facts never hold (the
        # request is unrouted, which comes first). closes_idle becomes how long the pod's idle connections
        # close; the last row is the earlier of the exit and the drain deadline.
        window = app.keep_alive_race_window_seconds
        self._closes_idle = bool(windows.closes_idle.any())
        table = np.empty((7, self.n_pods + 1), dtype=np.float64)
        table[0, : self.n_pods] = windows.listen
        table[1, : self.n_pods] = windows.stop
        table[2, : self.n_pods] = windows.exit
        table[3, : self.n_pods] = windows.ip_gone
        table[4, : self.n_pods] = windows.drain_deadline
        table[5, : self.n_pods] = np.where(windows.closes_idle, windows.stop + window, -math.inf)
        table[:6, self.n_pods] = (-math.inf, math.inf, math.inf, math.inf, math.inf, -math.inf)
        np.minimum(table[2], table[4], out=table[6])
        self._windows_by_pod = table

    @property
    def pins(self) -> Pins:
        """Instance targets' pooled connections (made when first asked for)."""
        if self._pins is None:
            self._pins = Pins.of(self.sc, n_views=len(self.views))
        return self._pins

    @property
    def _lor_state(self) -> list[lor.LorState]:
        """least_outstanding_requests: per view, outstanding count per pod and a heap of (end, pod) (made when
        first asked for)."""
        if self._lor_states is None:
            self._lor_states = [lor.LorState.empty(self.n_pods) for _ in self.views]
        return self._lor_states

    @_lor_state.setter
    def _lor_state(self, states: list[lor.LorState]) -> None:
        self._lor_states = states

    def run(self) -> Traffic:
        if self.sc.traffic.model == "closed":
            return self._run_closed()
        rps = self.sc.traffic.rps
        assert rps is not None  # the open model has a rate (Scenario validates it)
        arrivals = self.rngs["arrivals"]
        t0 = 0.0
        per_second = np.zeros((self.seconds, N_CODES), dtype=np.int64)
        total = 0
        kept: dict[str, list[npt.NDArray[Any]]] = {
            "t": [],
            "d": [],
            "view": [],
            "target": [],
            "code": [],
        }
        while True:
            n = max(16, min(CHUNK, int(rps * (self.duration - t0) * 1.05) + 16))
            t = arrival_offsets(arrivals, rps, n)
            if t0:  # adding 0.0 would leave every time as it is
                t += t0
            done = t[-1] >= self.duration
            if done:
                t = t[: t.searchsorted(self.duration)]  # t ascends: the ones before the end
            else:
                t0 = float(t[-1])
            if len(t):
                out = self._chunk(t)
                total += len(t)
                if len(out.fail_t):
                    _count_into(per_second, out.fail_t, out.fail_code)
                if out.kept is not None:
                    for k, v in out.kept.items():
                        kept[k].append(v)
            if done:
                break
        requests = (
            {k: np.concatenate(v) if v else np.empty(0) for k, v in kept.items()} if self.keep else None
        )
        by_code = per_second.sum(axis=0)  # the failures per code (none in the success column)
        by_code[0] = total - by_code.sum()
        return Traffic(total=total, by_code=by_code, per_second=per_second, requests=requests)

    # -- closed-loop clients ---------------------------------------------------------------------------
    def _run_closed(self) -> Traffic:
        """``traffic.clients`` clients, each sending its next request when its last one was answered (plus a
        think time). Exact, in speculative batches: every client has one pending request; the earliest
        pending ones are evaluated together, in (time, client) order, through the same routing and outcome
        code as the open model, as long as no answer among them lets a client send again before the last of
        them. The batch is cut where that would happen if every request succeeded; if a faster failure
        breaks that guess, the routing state is rolled back and only the valid prefix is evaluated again.
        A batch of at most SCALAR_BATCH requests goes one request at a time instead (``_evaluate_few``),
        stopping where an answer would come first, with no rollback."""
        tr = self.sc.traffic
        draws = ClientDraws(
            self.sc, self.rngs, pins=self.pins if self.pinning else None, n_views=len(self.views)
        )
        next_t = client_starts(self.rngs["arrivals"], tr.clients)
        latency = np.full(tr.clients, np.inf)  # each client's last request's, for the batch guess
        clients = np.arange(tr.clients)
        by_code = np.zeros(N_CODES, dtype=np.int64)
        per_second = np.zeros((self.seconds, N_CODES), dtype=np.int64)
        total = abandoned = 0
        kept: dict[str, list[npt.NDArray[Any]]] = {
            k: [] for k in ("t", "d", "view", "target", "code", "client")
        }
        while True:
            live = np.flatnonzero(next_t < self.duration)
            if len(live) == 0:
                break
            batch = live[np.lexsort((clients[live], next_t[live]))]
            t = next_t[batch]
            where, d, u, think = draws.take(len(batch))
            # the guess: each request answered when its service ends, or as fast as its client's last one
            guess = np.maximum(np.minimum(d, latency[batch]), MIN_ROUND_TRIP_S)
            k = _valid_prefix(t, t + guess + think)
            draws.untake(len(batch) - k)
            batch, t, where, d, u, think = batch[:k], t[:k], where[:k], d[:k], u[:k], think[:k]
            if k <= SCALAR_BATCH:
                # a few requests: one at a time, stopping before one an earlier answer would precede
                view, target, code, answered, m = self._evaluate_few(t, where, d, u, think)
                draws.untake(k - m)
                batch, t, d, think = batch[:m], t[:m], d[:m], think[:m]
                gave_up = np.zeros(m, dtype=bool)
                if tr.client_timeout_seconds is not None:
                    gave_up = answered > t + tr.client_timeout_seconds
                    answered = np.where(gave_up, t + tr.client_timeout_seconds, answered)
                nxt = np.maximum(answered, t + MIN_ROUND_TRIP_S) + think
                m = k  # nothing to redo
            else:
                saved = self._routing_state()
                view, target, code = self._evaluate(t, where, d, u)
                answered, gave_up = self._answered(t, d, target, code)
                nxt = np.maximum(answered, t + MIN_ROUND_TRIP_S) + think
                m = _valid_prefix(t, nxt)
            if m < k:  # an early answer: redo the requests before it, from the saved state
                self.rollbacks += 1
                self._restore_routing_state(saved)
                draws.untake(k - m)
                batch, t, where, d, u, think = batch[:m], t[:m], where[:m], d[:m], u[:m], think[:m]
                view, target, code = self._evaluate(t, where, d, u)
                answered, gave_up = self._answered(t, d, target, code)
                nxt = np.maximum(answered, t + MIN_ROUND_TRIP_S) + think
            next_t[batch] = nxt
            latency[batch] = answered - t
            self.batches += 1
            abandoned += int(gave_up.sum())
            total += len(t)
            by_code += np.bincount(code, minlength=N_CODES)
            failed = code != 0
            if failed.any():
                _count_into(per_second, t[failed], code[failed])
            if self.keep:
                for key, value in (
                    ("t", t),
                    ("d", d),
                    ("view", view),
                    ("target", target),
                    ("code", code),
                    ("client", batch),
                ):
                    kept[key].append(value)
        requests = (
            {k: np.concatenate(v) if v else np.empty(0) for k, v in kept.items()} if self.keep else None
        )
        return Traffic(total, by_code, per_second, requests, client_timeouts=abandoned)

    def _evaluate_few(
        self, t: F64, where: I64, d: Durations, u: F64, think: F64
    ) -> tuple[I64, I64, I64, F64, int]:
        """``_evaluate`` and the LB's answer times (before any client timeout) for a few requests, one at a
        time in plain Python, which beats array calls on a handful; it stops before the first request that
        an earlier one's client could precede (sending again after its answer and think time), and returns
        how many it evaluated. The same model as the array path, state for state."""
        sc = self.sc
        listen, stop, exit_, ip_gone, drain, closes_idle, flat_views = self._scalar_windows()
        app, lb = sc.app, sc.load_balancer
        idle, connect = lb.idle_timeout_seconds, lb.connect_timeout_seconds
        kat, window = app.keep_alive_timeout_seconds, app.keep_alive_race_window_seconds
        waits_on_gone = sc.cluster.vanished_pod_ip == "timeout"
        pins, is_lor = self.pins, self.policy == "least_outstanding_requests"
        decide = self.precedence.decide
        k = len(t)
        views, targets, codes, answers = [0] * k, [-1] * k, [0] * k, [0.0] * k
        earliest_next = math.inf
        m = 0
        for j in range(k):
            now, dj, slot = float(t[j]), float(d[j]), int(where[j])
            if now >= earliest_next:
                break
            v = slot // pins.per_pair % pins.n_workers if self.pinning else slot
            fv = flat_views[v] if flat_views else None
            p, on_conn, race, release = -1, False, False, -math.inf
            off = 0  # ``flat`` is the segment's own list
            if fv is not None:
                times, sizes, walker = fv
                seg = max(bisect.bisect_right(times, now) - 1, 0)
                size, flat = sizes[seg], walker.seek(seg)
            else:
                size = 0
                flat = []
            if self.pinning:
                assert fv is not None  # pinning needs routing views
                p = int(pins.pod[slot])
                if p >= 0:
                    gap = now - float(pins.last[slot])
                    if gap >= pins.reopen_gap or now >= stop[p] + window:
                        p = -1
                    else:
                        on_conn = True
                        race = gap >= pins.race_gap
                        if race or now >= stop[p]:
                            pins.pod[slot] = -1
                        else:
                            pins.last[slot] = now
                if not on_conn:
                    p = flat[off + min(int(float(u[j]) * size), size - 1)] if size else -1
                    if p >= 0 and listen[p] <= now < stop[p] and now < ip_gone[p]:
                        pins.pod[slot], pins.last[slot] = p, now
                    else:
                        pins.pod[slot] = -1
            elif fv is not None and size:
                if is_lor:
                    outstanding, heap = self._lor_state[v].counts, self._lor_state[v].heap()
                    while heap and heap[0][0] <= now:
                        _, q = heapq.heappop(heap)
                        outstanding[q] -= 1
                    p = min(
                        flat[off : off + size], key=outstanding.__getitem__
                    )  # the first of the least busy
                elif self.policy == "round_robin":
                    p = flat[off + int(self.rr_counter[v]) % size]
                else:
                    p = flat[off + min(int(float(u[j]) * size), size - 1)]
                if self.keepalive_race:
                    gap = now - float(self.last_seen[v, p])
                    race = kat <= gap < kat + window
                    self.last_seen[v, p] = now
            if not self.pinning and self.policy == "round_robin" and fv is not None:
                self.rr_counter[v] += 1
            routed = p >= 0
            stopped = routed and now >= stop[p]
            if routed:
                killed, drained, timed_out = accepted_fate(
                    end=now + dj,
                    exit_t=exit_[p],
                    drain_t=drain[p],
                    timeout_t=now + idle,
                )
            else:
                killed = drained = timed_out = False
            code = decide(
                (
                    not routed,
                    routed and now >= ip_gone[p],
                    routed and now < listen[p],
                    stopped and (on_conn or not self.pinning) and closes_idle[p] and now < stop[p] + window,
                    stopped,
                    routed and race,
                    killed,
                    drained,
                    timed_out,
                )
            )
            accepted = routed and code in self._accepted_codes
            if not accepted:
                answer = now
                if routed and waits_on_gone and code == CODE["target-unreachable"]:
                    answer = now + connect
            elif code == 0:
                answer = now + dj
            else:
                answer = min(exit_[p], drain[p], now + idle)
            if is_lor and routed:
                # as _pick_lor: a request holds its target until its outcome (races and refusals do not)
                if now >= ip_gone[p]:
                    release = now + connect if waits_on_gone else -math.inf
                elif listen[p] <= now < stop[p] and not race:
                    release = min(now + dj, exit_[p], drain[p], now + idle)
                if release > now:
                    outstanding, heap = self._lor_state[v].counts, self._lor_state[v].heap()
                    outstanding[p] += 1
                    heapq.heappush(heap, (release, p))
            views[j], targets[j], codes[j], answers[j] = v, p, code, answer
            earliest_next = min(earliest_next, max(answer, now + MIN_ROUND_TRIP_S) + float(think[j]))
            m = j + 1
        return (
            np.array(views[:m], dtype=np.int64),
            np.array(targets[:m], dtype=np.int64),
            np.array(codes[:m], dtype=np.int64),
            np.array(answers[:m], dtype=np.float64),
            m,
        )

    def _scalar_windows(self) -> _Scalar:
        """The windows and routing views as plain lists, for ``_evaluate_few`` (made once)."""
        if self._scalar is None:
            w = self.w
            self._scalar = (
                w.listen.tolist(),
                w.stop.tolist(),
                w.exit.tolist(),
                w.ip_gone.tolist(),
                w.drain_deadline.tolist(),
                w.closes_idle.tolist(),
                [(fv.times.tolist(), fv.sizes.tolist(), fv) for fv in self.views],
            )
        return self._scalar

    def _answered(self, t: F64, d: Durations, target: I64, code: I64) -> tuple[F64, npt.NDArray[np.bool_]]:
        """When each request's client has its answer: an accepted request when it ends (served, killed,
        drained or timed out), a connection to a vanished IP that drops SYNs after the connect timeout,
        anything else at once; or when the client gives up (``traffic.clientTimeoutSeconds``, also
        returned)."""
        w, lb = self.w, self.sc.load_balancer
        tg = np.maximum(target, 0)
        answered = np.where(
            code == 0,
            t + d,
            np.where(
                code == CODE["response-timeout"],
                t + lb.idle_timeout_seconds,
                np.where(
                    code == CODE["in-flight-killed"],
                    w.exit[tg],
                    np.where(code == CODE["drain-timeout"], w.drain_deadline[tg], t),
                ),
            ),
        )
        if self.sc.cluster.vanished_pod_ip == "timeout":
            answered = np.where(code == CODE["target-unreachable"], t + lb.connect_timeout_seconds, answered)
        timeout = self.sc.traffic.client_timeout_seconds
        if timeout is None:
            return answered, np.zeros(len(t), dtype=bool)
        gave_up = answered > t + timeout
        return np.where(gave_up, t + timeout, answered), gave_up

    def _routing_state(self) -> tuple[Any, ...]:
        """A copy of everything routing carries from one request to the next."""
        return (
            self.rr_counter.copy(),
            self.last_seen.copy(),
            [state.copy() for state in self._lor_state],
            self.pins.pod.copy(),
            self.pins.last.copy(),
        )

    def _restore_routing_state(self, saved: tuple[Any, ...]) -> None:
        self.rr_counter, self.last_seen, self._lor_state, self.pins.pod, self.pins.last = saved

    def _evaluate(self, t: F64, where: I64, d: Durations, u: F64) -> tuple[I64, I64, I64]:
        """The routing view, target and outcome code of requests given in time order, with their draws
        (``where``: the view, or the pooled-connection slot with instance targets); no calm-time
        shortcut. Routing state carries over to the next call."""
        if self.pinning:
            view = self.pins.view_of(where)
            target, on, race = self._pin(t, where, view, u)
            return view, target, self._outcomes(t, d, view, target, idle_race=race, on_conn=on)
        view = where
        if self.policy == "least_outstanding_requests":
            target, idle_race = self._pick_lor(t, view, d)
            return view, target, self._outcomes(t, d, view, target, idle_race=idle_race)
        n_views = len(self.views)
        if n_views == 0:
            target = np.full(len(t), -1, dtype=np.int64)
            return view, target, self._outcomes(t, d, view, target)
        rank, mine, counts = self._by_view(view, None)
        draws = [u[idx] for idx in mine]
        target = self._pick(t, rank, mine, draws)
        if self.policy == "round_robin":
            self.rr_counter += np.array(counts, dtype=np.int64)
        return view, target, self._outcomes(t, d, view, target)

    # -- calm time -------------------------------------------------------------------------------------
    def _calm_intervals(self, reach: float) -> tuple[F64, F64]:
        """Sorted disjoint [start, end) ranges in which, on every routing view, a request that ends within
        ``reach`` seconds (at most the LB idle timeout) can only succeed, or, with ``reach`` the idle timeout,
        any request can only succeed or hit it: every pod routed to already listens, keeps accepting and
        keeps its IP, and neither exits nor reaches its drain deadline within ``reach``. Requests then skip
        the per-request checks; their outcome is the same either way (the reference implementation, which
        has no such shortcut, checks this). Least outstanding requests still picks a target for each of
        them (every pick moves the outstanding counts); only the outcome is skipped."""
        if not self._calm_walk:
            return np.empty(0), np.empty(0)
        at, listed_from, listed_to, listed_pod, gone, first = self._calm_walk
        w = self.w
        # the reach, and a margin so that ``t < end`` guarantees ``t + reach < exit`` despite float rounding
        # (named for the idle timeout, the reach of any request)
        idle = reach + 1e-6
        # per pod, the latest a calm segment routing to it may end (min(exit) - idle is min(exit - idle):
        # float subtraction keeps order)
        until = np.minimum.reduce([w.stop, w.ip_gone, w.exit - idle, w.drain_deadline - idle]).tolist()
        listen = w.listen.tolist()
        # the time ruled out: [lo, hi) pieces (plain lists: a few per pod, far cheaper than numpy calls)
        lo: list[float] = []
        hi: list[float] = []
        for f, e, p in zip(listed_from, listed_to, listed_pod, strict=True):  # before the pod listens
            lo.append(at[f])
            hi.append(min(listen[p], at[e]))
        for f, e, p in zip(listed_from, listed_to, listed_pod, strict=True):  # from its until on
            lo.append(max(until[p], at[f]))
            hi.append(at[e])
        for g in gone:
            lo.append(at[g])
            hi.append(at[g + 1])
        some = [k for k in range(len(lo)) if lo[k] < hi[k]]
        some.sort(key=lo.__getitem__)  # stable: pieces starting together keep their order
        # calm: from ``first`` to the first piece, between the end of the pieces so far and the next piece,
        # and after the last
        starts: list[float] = []
        ends: list[float] = []
        start = first
        for k in some:
            if start < lo[k]:
                starts.append(start)
                ends.append(lo[k])
            start = max(start, hi[k])
        if start < math.inf:
            starts.append(start)
            ends.append(math.inf)
        return np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64)

    def _calm_stretches(
        self,
    ) -> tuple[list[float], list[int], list[int], list[int], list[int], float] | tuple[()]:
        """What calm time is made of, whatever the reach (walked once): calm time is the time no view rules
        out, from the latest first segment on. A view rules out its segments that list no pod, and, while it
        lists a pod, the time before the pod listens and from its ``until`` on. Walked through each view's
        log for the stretches (of whole segments) each pod is listed in, as indices into every view's segment
        start times end to end (each view's followed by an infinite time): those times, each stretch's first
        and end segment and pod, the segments that list no pod, and the latest first segment's start. Empty
        when there is no calm time at all."""
        if self.keepalive_race or not self.views or self.pinning:
            return ()
        times: list[float] = []
        listed_from: list[int] = []
        listed_to: list[int] = []
        listed_pod: list[int] = []
        empty: list[int] = []  # segments that list no pod
        first = -math.inf
        for fv in self.views:
            log, base = fv.log, len(times)
            if not log.end:
                return ()
            times += fv.times.tolist()
            times.append(math.inf)
            first = max(first, times[base])
            since: dict[int, int] = {}  # the pods listed, and the segment that added each
            start = 0
            for seg, end in enumerate(log.end, start=base):
                for i in range(start, end):
                    p = log.pod[i]
                    if log.added[i]:
                        since[p] = seg
                    else:  # a segment's removals come before its additions
                        listed_from.append(since.pop(p))
                        listed_to.append(seg)
                        listed_pod.append(p)
                start = end
                if not since:
                    empty.append(seg)
            listed_from += since.values()
            listed_to += [base + len(log.end)] * len(since)
            listed_pod += since
        return times, listed_from, listed_to, listed_pod, empty, first

    def _reach(self, d: Durations, longest: float | None = None) -> float:
        """How long after it is sent any of these requests (service times ``d``, the longest ``longest`` if
        known) can end, as calm time reads it: the longest of them rounded up to a power of two (so that
        chunks mostly share one), or the idle timeout if that is shorter."""
        idle = self.sc.load_balancer.idle_timeout_seconds
        if longest is None:
            longest = float(d.max()) if len(d) else 0.0
        if longest >= idle:
            return idle
        if longest <= 0.0:
            return 0.0
        reach = 2.0 ** math.ceil(math.log2(longest))
        if reach < longest:  # log2 rounded down
            reach *= 2.0
        return min(reach, idle)

    def _calm_ranges(self, t: F64, reach: float) -> tuple[list[int], list[int]] | None:
        """The requests (at ascending times ``t``, ending within ``reach``) in calm time, as index ranges
        ``t[lo[k]:hi[k]]`` (ascending, disjoint, none empty); None when no request is."""
        if not self._calm_walk:
            return None
        if reach != self._calm_reach:
            self._calm, self._calm_reach = self._calm_intervals(reach), reach
        starts, ends = self._calm
        if len(starts) == 0:
            return None
        lo = t.searchsorted(starts, side="left")
        hi = t.searchsorted(ends, side="left")
        inside = hi > lo
        if not inside.any():
            return None
        return lo[inside].tolist(), hi[inside].tolist()

    def _calm_mask(self, t: F64, reach: float) -> npt.NDArray[np.bool_] | None:
        """Which requests (at ascending times ``t``, ending within ``reach``) fall in calm time; None when
        none do."""
        ranges = self._calm_ranges(t, reach)
        return None if ranges is None else _mask_of(len(t), *ranges)

    # -- one chunk ------------------------------------------------------------------------------------
    def _chunk(self, t: F64) -> _ChunkResult:
        n = len(t)
        if self.pinning:
            return self._chunk_pinned(t)
        view = self._views_of(n)
        d = self.sc.app.request_seconds.sample(self.rngs["service"], n)
        # None: no request in calm time
        ranges = None
        if self._calm_walk:
            longest = float(d.max()) if n else 0.0
            ranges = self._calm_ranges(t, self._reach(d, longest))
            if ranges is not None and not self.keep and self.policy != "least_outstanding_requests":
                # no request near the idle timeout (a margin for float32's rounding of it): none meets it
                short = longest <= self.sc.load_balancer.idle_timeout_seconds - 2.0
                return self._chunk_calm(t, view, d, *ranges, short=short)
        calm = None if ranges is None else _mask_of(n, *ranges)
        lor_race = None
        if self.policy == "least_outstanding_requests":
            # every request moves the outstanding counts, so every one is picked for; only the busy ones
            # need their outcome worked out
            target, lor_race = self._pick_lor(t, view, d)
        else:
            need = None if self.keep or calm is None else ~calm
            rank, mine, counts = self._by_view(view, need)
            # the pick stream is drawn view by view, each view's requests in arrival order
            draws = [self.rngs["pick"].random(c) for c in counts] if self.policy != "round_robin" else []
            if need is None or any(len(idx) for idx in mine):
                target = self._pick(t, rank, mine, draws)
            else:  # every request in calm time: no target is read
                target = np.empty(0, dtype=np.int64)
            if self.policy == "round_robin":
                self.rr_counter += np.array(counts, dtype=np.int64)
        if calm is None:
            code = self._outcomes(t, d, view, target, idle_race=lor_race)
            return self._result(t, d, view, target, code)
        busy = np.flatnonzero(~calm)
        busy_code = (
            self._outcomes(
                t[busy],
                d[busy],
                view[busy],
                target[busy],
                idle_race=None if lor_race is None else lor_race[busy],
            )
            if len(busy)
            else busy
        )
        # a request in calm time succeeds, or meets the idle timeout: the same test _outcomes makes
        idle = self.sc.load_balancer.idle_timeout_seconds
        long_ones = np.flatnonzero(d > idle - 1.0)
        long_ones = long_ones[calm[long_ones]]
        tl = t[long_ones]
        timed_out = long_ones[tl + idle < tl + d[long_ones]]
        if self.keep:
            code = np.zeros(n, dtype=np.int64)
            code[timed_out] = CODE["response-timeout"]
            code[busy] = busy_code
            return self._result(t, d, view, target, code)
        failed = (busy_code != 0).nonzero()[0]
        fail_t, fail_code = t[busy[failed]], busy_code[failed]
        if len(timed_out):
            fail_t = np.concatenate([fail_t, t[timed_out]])
            fail_code = np.concatenate(
                [fail_code, np.full(len(timed_out), CODE["response-timeout"], dtype=np.int64)]
            )
        return _ChunkResult(fail_t, fail_code, None)

    def _chunk_calm(
        self, t: F64, view: Views, d: Durations, lo: list[int], hi: list[int], *, short: bool = False
    ) -> _ChunkResult:
        """``_chunk`` for round robin and (weighted) random when some requests fall in calm time (the ranges
        ``t[lo[k]:hi[k]]``), requests not kept: the same picks, draws and outcomes, with the busy requests
        (the ranges between) read as slices. A calm request succeeds, or meets the idle timeout. ``short``:
        no request lasts more than the idle timeout less 2 s (none meets it)."""
        n = len(t)
        spans = [(a, b) for a, b in zip([0, *hi], [*lo, n], strict=True) if a < b]
        if not spans:
            self._pick_spans(t, view, [])  # every request calm: the counters and the draws move on
            fail_t, fail_code = t[:0], np.empty(0, dtype=np.int64)
        else:
            if len(spans) == 1 and self.policy == "round_robin" and len(self.views) > 1:
                # the busy requests in view order, as round robin reads them (only their count per second
                # and code is kept)
                a, b = spans[0]
                order, busy_t, busy_view, busy_target = self._round_robin_span(t, view, a, b)
                busy_d = d[a:b][order]
            else:
                busy, busy_target = self._pick_spans(t, view, spans)
                if busy is None:
                    a, b = spans[0]
                    busy_t, busy_d, busy_view = t[a:b], d[a:b], view[a:b]
                else:
                    busy_t, busy_d, busy_view = t[busy], d[busy], view[busy]
            key = self._fact_keys(busy_t, busy_d, busy_view, busy_target, None, None, short=short)
            failed = (key != 0).nonzero()[0]  # where no fact holds: success (a bool nonzero is faster)
            fail_t, fail_code = busy_t[failed], self._code_of_key.take(key[failed])
        if short:
            return _ChunkResult(fail_t, fail_code, None)
        # a request in calm time succeeds, or meets the idle timeout: the same test _outcomes makes
        idle = self.sc.load_balancer.idle_timeout_seconds
        long_ones = (d > idle - 1.0).nonzero()[0]
        if len(long_ones):
            long_ones = long_ones[_mask_of(n, lo, hi)[long_ones]]
            tl = t[long_ones]
            timed_out = long_ones[tl + idle < tl + d[long_ones]]
            if len(timed_out):
                fail_t = np.concatenate([fail_t, t[timed_out]])
                fail_code = np.concatenate(
                    [fail_code, np.full(len(timed_out), CODE["response-timeout"], dtype=np.int64)]
                )
        return _ChunkResult(fail_t, fail_code, None)

    def _pick_spans(self, t: F64, view: Views, spans: list[tuple[int, int]]) -> tuple[I64 | None, I64]:
        """``_pick``'s targets for the requests of the spans ``t[a:b]`` (ascending, disjoint, not empty)
        only, with the draws and the round robin counters moved on as for the whole chunk ``t``. Returns
        which requests those are (None for one span: ``t[a:b]`` itself) and their targets. A request's place
        among its view's requests is its place among the view's in the spans, plus the view's requests in
        the gaps before its span."""
        round_robin = self.policy == "round_robin"
        n_views = len(self.views)
        if round_robin and len(spans) == 1 and n_views > 1:
            order, _, _, by_view = self._round_robin_span(t, view, *spans[0])
            target = np.empty(len(order), dtype=np.int64)
            target[order] = by_view
            return None, target
        counts = _counts(view, n_views)
        # the pick stream is drawn view by view, each view's requests in arrival order
        draws = [] if round_robin else [self.rngs["pick"].random(c) for c in counts]
        if len(spans) == 1:
            (a, b), busy = spans[0], None
            ts, vs = t[a:b], view[a:b]
        elif not spans:
            busy, ts, vs = np.empty(0, dtype=np.int64), t[:0], view[:0]
        else:
            busy = np.concatenate([np.arange(a, b) for a, b in spans])
            ts, vs = t[busy], view[busy]
        # where each span but the first starts among them
        starts = np.cumsum([b - a for a, b in spans[:-1]]) if len(spans) > 1 else None
        gaps = (
            list(zip([0] + [b for _, b in spans[:-1]], [a for a, _ in spans], strict=True)) if spans else []
        )
        target = np.empty(len(ts), dtype=np.int64)
        for v, fv in enumerate(self.views):
            mine = np.flatnonzero(vs == v)
            if len(mine) == 0:
                continue
            # the view's requests in the gap before each span
            between = [int(np.count_nonzero(view[g0:g1] == v)) if g1 > g0 else 0 for g0, g1 in gaps]
            # their places among the view's requests after the first gap's: 0, 1, 2, ... and each later
            # gap's requests from there on
            rank: I64 | None = None
            if starts is not None:
                rank = np.arange(len(mine), dtype=np.int64)
                for j, extra in zip(np.searchsorted(mine, starts).tolist(), between[1:], strict=True):
                    if extra:
                        rank[j:] += extra
            k = between[0]  # the first one's place
            if round_robin:
                target[mine] = fv.round_robin(ts[mine], int(self.rr_counter[v]) + k, rank)
            else:
                flat, at, size = fv.segments_at(ts[mine])
                u = draws[v][k : k + len(mine)] if rank is None else draws[v][rank + k]
                pos = np.minimum((u * size).astype(np.int64), np.maximum(size - 1, 0))
                target[mine] = flat[at + pos]
        if round_robin:
            self.rr_counter += np.array(counts, dtype=np.int64)
        return busy, target

    def _round_robin_span(self, t: F64, view: Views, a: int, b: int) -> tuple[I64, F64, Views, I64]:
        """Round robin for the requests ``t[a:b]`` of a chunk ``t`` (views ``view``), the counters moved on as
        for the whole chunk: ``_round_robin_by_view`` of those requests."""
        n_views = len(self.views)
        first = self.rr_counter.tolist()
        if a:  # the view's requests before the span come first
            first = [f + c for f, c in zip(first, _counts(view[:a], n_views), strict=True)]
        order, ts, vs, target, inside = self._round_robin_by_view(t[a:b], view[a:b], first)
        after = _counts(view[b:], n_views) if b < len(view) else [0] * n_views
        self.rr_counter = np.array(
            [f + k + c for f, k, c in zip(first, inside, after, strict=True)], dtype=np.int64
        )
        return order, ts, vs, target

    def _round_robin_by_view(
        self, t: F64, view: Views, first: list[int]
    ) -> tuple[I64, F64, Views, I64, list[int]]:
        """Round robin's targets for requests at ascending times ``t`` through the routing views ``view``:
        view v's k-th request at position ``(first[v] + k) mod n`` of its segment's list of n (-1 where the
        segment is empty), as ``_FlatView.round_robin`` gives them view by view, here for all the views at
        once, with the requests sorted by view (stable: each view's in time order). Returns that order, the
        requests' times, views and targets in it, and how many each view has."""
        n = len(t)
        order = view.argsort(kind="stable")
        ts = t[order]
        vs = view[order]
        # where each view's requests start and end among the sorted ones
        bounds = [0, *vs.searchsorted(np.arange(1, len(self.views), dtype=view.dtype)).tolist(), n]
        flat = [-1]
        counts: list[I64] = []  # per view with requests, per segment: how many
        moduli: list[I64] = []
        starts: list[int] = []  # per view with requests, per segment: where its list starts in flat
        offsets: list[int] = []  # per view with requests: its first one's place, less its start in ts
        sizes: list[int] = []  # per view: how many
        for v, fv in enumerate(self.views):
            lo, hi = bounds[v], bounds[v + 1]
            sizes.append(hi - lo)
            if hi == lo:
                continue
            if len(fv.times) == 0:  # no segment: every request reads the -1
                counts.append(np.array([hi - lo], dtype=np.int64))
                moduli.append(np.ones(1, dtype=np.int64))
                starts.append(0)
            else:
                count = fv._per_segment(ts[lo:hi])
                counts.append(count)
                moduli.append(fv.modulus())
                fv._lists_into(count, flat, starts)
            offsets.append(first[v] - lo)
        per_segment = np.concatenate(counts)
        pos = np.arange(n, dtype=np.int64)
        pos += np.array(offsets, dtype=np.int64).repeat([k for k in sizes if k])
        pos %= np.concatenate(moduli).repeat(per_segment)
        pos += np.array(starts, dtype=np.int64).repeat(per_segment)
        return order, ts, vs, np.array(flat, dtype=np.int64)[pos], sizes

    def _chunk_pinned(self, t: F64) -> _ChunkResult:
        """Instance targets: each request goes out on one of its (LB node, worker node) pair's pooled
        connections, pinned to a pod, or opens a new one through that worker's kube-proxy."""
        n = len(t)
        slot = self.pins.draw_slots(self.rngs["node"], n)
        d = self.sc.app.request_seconds.sample(self.rngs["service"], n)
        u = self.rngs["pick"].random(n)
        view = self.pins.view_of(slot)
        target, on_conn, race = self._pin(t, slot, view, u)
        code = self._outcomes(t, d, view, target, idle_race=race, on_conn=on_conn)
        return self._result(t, d, view, target, code)

    def _kube_proxy_pick(self, t: F64, view: I64, u: F64) -> I64:
        """The pod each request's worker node's kube-proxy would DNAT a new connection to (iptables: at
        random, uniformly; kubernetes-rollout-mechanics §6)."""
        target = np.full(len(t), -1, dtype=np.int64)
        for v, fv in enumerate(self.views):
            idx = np.flatnonzero(view == v)
            if len(idx) == 0:
                continue
            seg = np.maximum(np.searchsorted(fv.times, t[idx], side="right") - 1, 0)
            size = fv.sizes[seg]
            pos = np.minimum((u[idx] * size).astype(np.int64), np.maximum(size - 1, 0))
            target[idx] = fv.lookup(seg, pos)
        return target

    def _pin(
        self, t: F64, slot: I64, view: I64, u: F64
    ) -> tuple[I64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Which pod each request reaches, whether it went out on an already open pinned connection, and
        whether it met the server's keep-alive close (an idle race). Exact, and the same as the reference's
        request-by-request state machine (sim/reference.py), computed epoch by epoch:

        a request on a slot with an open connection goes to its pod, unless the connection has closed: idle
        past the keep-alive timeouts (``Pins.reopen_gap``) or the pod stopped accepting at least the race
        window ago. One sent within the race window of the server's close (keep-alive timer, or the pod
        stopping) still goes to the pod, fails, and leaves the slot without a connection. Any other request
        opens a new connection through kube-proxy; it stays open if the pod accepted it.
        """
        w, pins = self.w, self.pins
        window = self.sc.app.keep_alive_race_window_seconds
        n = len(t)
        q = self._kube_proxy_pick(t, view, u)
        qq = np.maximum(q, 0)
        ok = (q >= 0) & (w.listen[qq] <= t) & (t < w.stop[qq]) & (t < w.ip_gone[qq])
        order = np.argsort(slot, kind="stable")  # within a slot, arrival order
        ss, ts, qs, oks = slot[order], t[order], q[order], ok[order]
        first = np.ones(n, dtype=bool)
        first[1:] = ss[1:] != ss[:-1]
        prev = np.empty(n)
        prev[1:] = ts[:-1]
        carried = pins.pod[ss[first]]
        prev[first] = np.where(carried >= 0, pins.last[ss[first]], -np.inf)
        gap = ts - prev
        gbreak = gap >= pins.reopen_gap
        graced = ~gbreak & (gap >= pins.race_gap)
        starts = np.flatnonzero(first | gbreak)
        ends = np.append(starts[1:], n)
        idx = np.arange(n)
        next_ok = np.minimum.accumulate(np.where(oks, idx, n)[::-1])[::-1]
        next_ok = np.append(next_ok, n)
        next_graced = np.append(np.minimum.accumulate(np.where(graced, idx, n)[::-1])[::-1], n)
        target = qs.copy()
        on = np.zeros(n, dtype=bool)
        race = np.zeros(n, dtype=bool)
        # segments that begin with the connection carried over from the previous chunk, still open
        carry_seg = first[starts] & ~gbreak[starts]
        ep_o = starts[carry_seg] - 1  # the epoch's opener: before this chunk
        ep_p = pins.pod[ss[starts[carry_seg]]]
        ep_end = ends[carry_seg]
        cur_c, cur_end = starts[~carry_seg], ends[~carry_seg]
        while True:
            if len(cur_c):
                o = next_ok[cur_c]
                has = o < cur_end
                ep_o = np.concatenate([ep_o, o[has]])
                ep_p = np.concatenate([ep_p, qs[o[has]]])
                ep_end = np.concatenate([ep_end, cur_end[has]])
            if len(ep_o) == 0:
                break
            lo = ep_o + 1
            j = np.minimum(_first_at_least(ts, lo, ep_end, w.stop[ep_p]), next_graced[lo])
            j = np.minimum(j, ep_end)
            inner = j - lo  # requests on the open connection before its end
            if inner.sum():
                at = _aranges(lo, inner)
                on[at] = True
                target[at] = np.repeat(ep_p, inner)
            ending = j < ep_end
            jj, pp, ee = j[ending], ep_p[ending], ep_end[ending]
            known = ts[jj] >= w.stop[pp] + window  # the LB already saw the close: a new connection
            r = jj[~known]
            on[r] = True
            target[r] = pp[~known]
            race[r] = graced[r]
            nxt = r + 1
            more = nxt < ee[~known]
            cur_c = np.concatenate([jj[known], nxt[more]])
            cur_end = np.concatenate([ee[known], ee[~known][more]])
            ep_o = ep_p = ep_end = np.empty(0, dtype=np.int64)
        # the slots' state after the chunk, from each slot's last request
        ended = on & (race | (ts >= w.stop[np.maximum(target, 0)]))
        after = np.where(on, ~ended, oks)
        last = np.flatnonzero(np.append(ss[1:] != ss[:-1], True))
        pins.pod[ss[last]] = np.where(after[last], target[last], -1)
        pins.last[ss[last]] = ts[last]
        out_t = np.empty(n, dtype=np.int64)
        out_on, out_race = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
        out_t[order], out_on[order], out_race[order] = target, on, race
        return out_t, out_on, out_race

    def _result(self, t: F64, d: Durations, view: Views, target: I64, code: I64) -> _ChunkResult:
        kept = {"t": t, "d": d, "view": view, "target": target, "code": code} if self.keep else None
        failed = (code != 0).nonzero()[0]
        return _ChunkResult(t[failed], code[failed], kept)

    def _views_of(self, n: int) -> Views:
        return draw_views(self.rngs["node"], len(self.views), n)

    def _by_view(self, view: Views, need: npt.NDArray[np.bool_] | None) -> tuple[I64, list[I64], list[int]]:
        """Each request's place among its routing view's requests (``rank``: the k-th an LB node sends);
        per view, which of them need a target (those where ``need`` holds, or all), in arrival order; and
        how many requests each view has."""
        rank = np.empty(len(view), dtype=np.int64)  # set where a target is needed
        if need is not None and not need.any():  # all in calm time: only the counts
            return rank, [rank[:0]] * len(self.views), _counts(view, len(self.views))
        mine: list[I64] = []
        counts = []
        for v in range(len(self.views)):
            of_v = np.flatnonzero(view == v)
            if need is None:
                idx, places = of_v, np.arange(len(of_v), dtype=np.int64)
            else:
                places = np.flatnonzero(need[of_v])
                idx = of_v[places]
            rank[idx] = places
            mine.append(idx)
            counts.append(len(of_v))
        return rank, mine, counts

    def _pick(self, t: F64, rank: I64, mine: list[I64], draws: list[F64]) -> I64:
        """Targets for round robin and (weighted) random, for requests in time order: ``mine[v]`` the ones of
        view v that need a target, ``rank`` each one's place among its view's requests, ``draws[v]`` view
        v's pick draws by place. -1 for the requests not asked for."""
        target = np.full(len(t), -1, dtype=np.int64)
        for v, (fv, idx) in enumerate(zip(self.views, mine, strict=True)):
            if len(idx) == 0:
                continue
            flat, at, size = fv.segments_at(t[idx])
            if self.policy == "round_robin":
                # the k-th request a node sends goes to position k mod n of its current list
                pos = (self.rr_counter[v] + rank[idx]) % np.maximum(size, 1)
            else:
                u = draws[v][rank[idx]]
                pos = np.minimum((u * size).astype(np.int64), np.maximum(size - 1, 0))
            target[idx] = flat[at + pos]
        return target

    def _pick_lor(self, t: F64, view: Views, d: Durations) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Least outstanding requests, exactly: one request at a time, per LB node (sim/lor.py). A request
        counts against its target until its outcome: completion, process exit, drain deadline or idle
        timeout if accepted; the connect timeout at a vanished IP that drops SYNs; not at all if refused.
        Also returns the idle keep-alive races, decided here in arrival order."""
        w = self.w
        lb, app = self.sc.load_balancer, self.sc.app
        params = lor.LorParams(
            idle=lb.idle_timeout_seconds,
            connect=lb.connect_timeout_seconds,
            waits_on_gone=self.sc.cluster.vanished_pod_ip == "timeout",
            keepalive_race=self.keepalive_race,
            kat=app.keep_alive_timeout_seconds,
            window=app.keep_alive_race_window_seconds,
        )
        if self._lor_windows is None:  # made once: the Python loop keeps list copies of them
            self._lor_windows = lor.Windows(w.listen, w.stop, w.exit, w.ip_gone, w.drain_deadline)
        windows = self._lor_windows
        segs = [fv.segments_for(t[view == v]) for v, fv in enumerate(self.views)]
        return lor.pick(t, d, view, segs, windows, params, self._lor_state, self.last_seen, jit=self._lor_jit)

    def _outcomes(
        self,
        t: F64,
        d: Durations,
        view: Views,
        target: I64,
        *,
        idle_race: npt.NDArray[np.bool_] | None = None,
        on_conn: npt.NDArray[np.bool_] | None = None,
    ) -> I64:
        """Each request's outcome code, from its facts (model/outcome.py decides the precedence).
        ``on_conn`` (instance targets): which requests went out on an open pooled connection; only those can
        meet a draining server closing its idle connections."""
        return self._code_of_key.take(self._fact_keys(t, d, view, target, idle_race, on_conn))

    def _fact_keys(
        self,
        t: F64,
        d: Durations,
        view: Views,
        target: I64,
        idle_race: npt.NDArray[np.bool_] | None,
        on_conn: npt.NDArray[np.bool_] | None,
        *,
        short: bool = False,
    ) -> npt.NDArray[np.uint8]:
        """Each request's facts packed in a byte (``_code_table``: the first six facts a bit each, from the
        top, and the accepted request's fate in the last two bits); 0 where the request succeeds. The code
        is ``self._code_of_key[key]``. ``short``: no request lasts more than the idle timeout less 2 s."""
        # the facts after the first (unrouted) are only read for routed requests: an unrouted one reads
        # the last column, and its cause is decided by the first fact anyway
        table = self._windows_by_pod
        key = (target < 0).view(np.uint8)  # unrouted
        key += key
        key |= (t >= table[3].take(target)).view(np.uint8)  # ip gone
        key += key
        key |= (t < table[0].take(target)).view(np.uint8)  # not listening yet
        stopped = t >= table[1].take(target)
        key += key
        if self._closes_idle:  # only matters when some pod closes idle connections
            closable = stopped if on_conn is None else stopped & on_conn
            # a draining server closes its idle pooled connections as it stops accepting: a request the LB
            # sent on one of them just then races the FIN (before stop + keepAliveRaceWindowSeconds)
            key |= (closable & (t < table[5].take(target))).view(np.uint8)
        key += key
        key |= stopped.view(np.uint8)
        key += key
        if self.keepalive_race:
            if idle_race is None:
                idle_race = self._idle_races(t, view, target)
            key |= idle_race.view(np.uint8)
        key += key
        key += key
        # accepted: the first of completion, process exit, end of the deregistration delay, LB idle timeout
        # (accepted_fate), worked out for the requests no fact so far holds for, where one of those comes
        # before the end: the exit or the drain deadline (the earlier of them, ``table[6]``) before it, or
        # the idle timeout, which only a request longer than the timeout can meet (t + idle < t + d needs
        # idle < d)
        end = t + d
        idle = self.sc.load_balancer.idle_timeout_seconds
        cand = table[6].take(target) < end
        if not short:
            long_ones = (d > idle - 1.0).nonzero()[0]
            if len(long_ones):
                cand[long_ones] |= t[long_ones] + idle < end[long_ones]
        cand &= key == 0
        some = cand.nonzero()[0]
        if len(some):
            pods = target[some]
            killed, drained, timed_out = accepted_fate(
                end=end[some],
                exit_t=table[2].take(pods),
                drain_t=table[4].take(pods),
                timeout_t=t[some] + idle,
            )
            fate = killed.view(np.uint8) + drained.view(np.uint8) * 2 + timed_out.view(np.uint8) * 3
            key[some] |= fate
        return key

    def _idle_races(self, t: F64, view: Views, target: I64) -> npt.NDArray[np.bool_]:
        """Requests the LB sent on a pooled connection just as the server's keep-alive timer closed it.

        MODEL ASSUMPTION: one pooled connection per (LB node, target); the server closes it after
        keepAliveTimeoutSeconds idle (before the LB's own idle timeout, or there is no race), and a request
        sent within keepAliveRaceWindowSeconds of that close finds it closing.
        """
        kat = self.sc.app.keep_alive_timeout_seconds
        window = self.sc.app.keep_alive_race_window_seconds
        out = np.zeros(len(t), dtype=bool)
        routed = np.flatnonzero(target >= 0)
        if len(routed) == 0:
            return out
        key = view[routed].astype(np.int64) * self.n_pods + target[routed]
        order = np.argsort(key, kind="stable")  # stable: within a key, arrival order
        k_sorted = key[order]
        t_sorted = t[routed][order]
        prev = np.empty_like(t_sorted)
        prev[1:] = t_sorted[:-1]
        first = np.ones(len(k_sorted), dtype=bool)
        first[1:] = k_sorted[1:] != k_sorted[:-1]
        flat_last = self.last_seen.reshape(-1)
        prev[first] = flat_last[k_sorted[first]]
        gap = t_sorted - prev
        hit = (gap >= kat) & (gap < kat + window)
        last = np.ones(len(k_sorted), dtype=bool)
        last[:-1] = k_sorted[1:] != k_sorted[:-1]
        flat_last[k_sorted[last]] = t_sorted[last]
        out[routed[order[hit]]] = True
        return out
