"""The data plane: requests as numpy arrays, joined against the control plane's routing views and each
pod's serving windows. Every request gets exactly one outcome code (0 = success, else a cause).

Round robin and weighted random are exact here with ``searchsorted``; least outstanding requests needs
each request's own feedback and takes a slower per-request path.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rollsafe.control.api import Pod
from rollsafe.control.routing import RoutingView
from rollsafe.model.causes import CODE, STATUS_BY_CODE
from rollsafe.model.scenario import Scenario

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

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


@dataclass
class _FlatView:
    times: F64
    flat: I64
    offsets: I64
    sizes: I64

    @staticmethod
    def of(view: RoutingView) -> _FlatView:
        sizes = np.array([len(t) for t in view.targets], dtype=np.int64)
        offsets = np.zeros(len(sizes), dtype=np.int64)
        if len(sizes) > 1:
            offsets[1:] = np.cumsum(sizes)[:-1]
        flat = np.array([i for t in view.targets for i in t], dtype=np.int64)
        return _FlatView(np.array(view.times, dtype=np.float64), flat, offsets, sizes)


@dataclass
class Traffic:
    """What came out of the data plane."""

    total: int
    by_code: I64  # count per outcome code
    per_second: I64  # failures per (second, code): shape (seconds, N_CODES)
    requests: dict[str, npt.NDArray[np.generic]] | None  # per request, when asked for (tests)


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
        self.keepalive_race = app.keep_alive_timeout_seconds < lb.idle_timeout_seconds
        self.last_seen = np.full((len(views), self.n_pods), -np.inf)
        self.seconds = math.ceil(duration_s) + 1
        # least_outstanding_requests: per view, outstanding count per pod and a heap of (end, pod)
        self._lor_state: list[tuple[I64, list[tuple[float, int]]]] = [
            (np.zeros(self.n_pods, dtype=np.int64), []) for _ in views
        ]

    def run(self) -> Traffic:
        rps = self.sc.traffic.rps
        arrivals = self.rngs["arrivals"]
        t0 = 0.0
        by_code = np.zeros(N_CODES, dtype=np.int64)
        per_second = np.zeros((self.seconds, N_CODES), dtype=np.int64)
        total = 0
        kept: dict[str, list[npt.NDArray[np.generic]]] = {
            "t": [],
            "d": [],
            "view": [],
            "target": [],
            "code": [],
        }
        while True:
            n = max(16, min(CHUNK, int(rps * (self.duration - t0) * 1.05) + 16))
            gaps = arrivals.exponential(1.0 / rps, n)
            t = t0 + np.cumsum(gaps)
            done = t[-1] >= self.duration
            if done:
                t = t[t < self.duration]
            else:
                t0 = float(t[-1])
            if len(t):
                view, target, d, code = self._chunk(t)
                total += len(t)
                by_code += np.bincount(code, minlength=N_CODES)
                failed = code != 0
                if failed.any():
                    sec = np.minimum(t[failed].astype(np.int64), self.seconds - 1)
                    np.add.at(per_second, (sec, code[failed]), 1)
                if self.keep:
                    for k, v in (("t", t), ("d", d), ("view", view), ("target", target), ("code", code)):
                        kept[k].append(v)
            if done:
                break
        requests = (
            {k: np.concatenate(v) if v else np.empty(0) for k, v in kept.items()} if self.keep else None
        )
        return Traffic(total=total, by_code=by_code, per_second=per_second, requests=requests)

    # -- one chunk ------------------------------------------------------------------------------------
    def _chunk(self, t: F64) -> tuple[I64, I64, F64, I64]:
        n = len(t)
        n_views = len(self.views)
        view = self.rngs["node"].integers(0, n_views, n) if n_views > 1 else np.zeros(n, dtype=np.int64)
        d = self.sc.app.request_seconds.sample(self.rngs["service"], n)
        if self.policy == "least_outstanding_requests":
            target = self._pick_lor(t, view, d)
        else:
            target = self._pick(t, view)
        return view, target, d, self._outcomes(t, d, view, target)

    def _pick(self, t: F64, view: I64) -> I64:
        target = np.full(len(t), -1, dtype=np.int64)
        for v, fv in enumerate(self.views):
            mask = view == v
            idx = np.flatnonzero(mask)
            if len(idx) == 0:
                continue
            seg = np.searchsorted(fv.times, t[idx], side="right") - 1
            seg = np.maximum(seg, 0)
            size = fv.sizes[seg]
            if self.policy == "round_robin":
                # the k-th request a node sends goes to position k mod n of its current list
                k = self.rr_counter[v] + np.arange(len(idx), dtype=np.int64)
                self.rr_counter[v] += len(idx)
                pos = k % np.maximum(size, 1)
            else:
                u = self.rngs["pick"].random(len(idx))
                pos = np.minimum((u * size).astype(np.int64), np.maximum(size - 1, 0))
            has = size > 0
            chosen = np.full(len(idx), -1, dtype=np.int64)
            chosen[has] = fv.flat[fv.offsets[seg[has]] + pos[has]]
            target[idx] = chosen
        return target

    def _pick_lor(self, t: F64, view: I64, d: F64) -> I64:
        """Least outstanding requests, exactly: one request at a time, per LB node."""
        w = self.w
        idle = self.sc.load_balancer.idle_timeout_seconds
        connect = self.sc.load_balancer.connect_timeout_seconds
        target = np.full(len(t), -1, dtype=np.int64)
        for v, fv in enumerate(self.views):
            outstanding, heap = self._lor_state[v]
            idx = np.flatnonzero(view == v)
            segs = np.maximum(np.searchsorted(fv.times, t[idx], side="right") - 1, 0)
            for j, seg in zip(idx.tolist(), segs.tolist(), strict=True):
                now = t[j]
                while heap and heap[0][0] <= now:
                    _, p = heapq.heappop(heap)
                    outstanding[p] -= 1
                size = int(fv.sizes[seg])
                if size == 0:
                    continue
                cands = fv.flat[fv.offsets[seg] : fv.offsets[seg] + size]
                p = int(cands[int(np.argmin(outstanding[cands]))])
                target[j] = p
                if now >= w.ip_gone[p]:
                    busy = connect
                elif w.listen[p] <= now < w.stop[p]:
                    busy = min(d[j], idle, w.exit[p] - now)
                else:
                    busy = 0.0
                if busy > 0:
                    outstanding[p] += 1
                    heapq.heappush(heap, (now + busy, p))
        return target

    def _outcomes(self, t: F64, d: F64, view: I64, target: I64) -> I64:
        w = self.w
        app, lb = self.sc.app, self.sc.load_balancer
        code = np.zeros(len(t), dtype=np.int64)
        routed = target >= 0
        code[~routed] = CODE["no-healthy-targets"]
        tg = np.where(routed, target, 0)
        undecided = routed.copy()

        gone = undecided & (t >= w.ip_gone[tg])
        vanished = (
            "target-unreachable" if self.sc.cluster.vanished_pod_ip == "timeout" else "stopped-listening"
        )
        code[gone] = CODE[vanished]
        undecided &= ~gone

        not_yet = undecided & (t < w.listen[tg])
        code[not_yet] = CODE["not-yet-listening"]
        undecided &= ~not_yet

        stopped = undecided & (t >= w.stop[tg])
        # a draining server closes its idle pooled connections as it stops accepting: a request the LB sent
        # on one of them just then races the FIN
        race = stopped & w.closes_idle[tg] & (t < w.stop[tg] + app.keep_alive_race_window_seconds)
        code[stopped] = CODE["stopped-listening"]
        code[race] = CODE["keepalive-race"]
        undecided &= ~stopped

        if self.keepalive_race:
            idle_race = self._idle_races(t, view, target) & undecided
            code[idle_race] = CODE["keepalive-race"]
            undecided &= ~idle_race

        # accepted: the first of completion, process exit, end of the deregistration delay, LB idle timeout
        end = t + d
        killed = w.exit[tg]
        drained = w.drain_deadline[tg]
        timeout = t + lb.idle_timeout_seconds
        first_fail = np.minimum(np.minimum(killed, drained), timeout)
        fails = undecided & (first_fail < end)
        code[fails & (killed == first_fail)] = CODE["in-flight-killed"]
        code[fails & (killed != first_fail) & (drained == first_fail)] = CODE["drain-timeout"]
        code[fails & (killed != first_fail) & (drained != first_fail)] = CODE["response-timeout"]
        return code

    def _idle_races(self, t: F64, view: I64, target: I64) -> npt.NDArray[np.bool_]:
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
        key = view[routed] * self.n_pods + target[routed]
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
