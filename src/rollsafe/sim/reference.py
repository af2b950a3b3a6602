"""A per-request reference implementation of the data plane, to check and benchmark the vectorized one.

``ReferenceEvaluator`` computes the same model as ``rollsafe.sim.dataplane.Evaluator`` as a plain
discrete-event loop on a ``heapq``: a routing change, a request's arrival, a request's completion or
failure, and (for least outstanding requests) the end of the time a request holds its target are each an
event. Every request is one arrival event; a request a pod accepts gets one more event when it completes
or fails. With instance targets each request goes out on a pooled connection slot pinned to a pod, or opens
one through kube-proxy (a per-slot state machine). With closed-loop clients (``traffic.model: closed``)
each client's next arrival is scheduled when its request is answered. All per-request logic is scalar
Python; numpy only draws the random numbers.

It draws from the same streams (``arrivals``, ``node``, ``service``, ``pick``) in the same chunks and
order as ``Evaluator``, so on the same control plane and seed both give identical outcome counts, per
request and per second. It exists for two reasons only: the test suite checks the vectorized evaluator
against it (``tests/test_reference.py``), and ``bench/run.py`` measures the vectorized path's speed-up
over it. Nothing else should use it: it is one to two orders of magnitude slower.

``run_control_plane`` drives the control plane exactly as ``rollsafe.sim.simulate.simulate`` does, so a
caller can time the two planes separately; ``simulate_reference`` is that plus this data plane, with
``max_requests`` to evaluate only a prefix of the traffic of a huge scenario.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rollsafe.control.routing import RoutingView, walk
from rollsafe.model.causes import CODE, SUCCESS
from rollsafe.model.outcome import Precedence, accepted_fate, vanished_ip_cause
from rollsafe.model.scenario import Scenario
from rollsafe.sim.dataplane import (
    CHUNK,
    MIN_ROUND_TRIP_S,
    N_CODES,
    ClientDraws,
    Pins,
    PodWindows,
    Traffic,
    arrival_offsets,
    client_starts,
    draw_views,
)
from rollsafe.sim.simulate import run_control_plane

# Event kinds, which are also their order at equal times. A routing change at t applies to a request
# arriving at t (Evaluator: searchsorted side="right"); a target released at t is free for a request
# arriving at t (Evaluator: pops holds ending <= now). Completions record outcomes and never interact.
_ROUTE, _RELEASE, _FINISH, _ARRIVAL = 0, 1, 2, 3

# (time, kind, sequence, a, b, c); what a, b and c hold depends on the kind:
#   _ROUTE: view, segment          _RELEASE: view, pod
#   _FINISH: request, code, second  _ARRIVAL: unused (the source holds the next request)
_Event = tuple[float, int, int, int, int, int]


@dataclass
class _Chunk:
    """One chunk of requests, drawn exactly as Evaluator.run / Evaluator._chunk draw theirs."""

    t: list[float]
    view: list[int]
    d: list[float]
    picks: list[Iterator[float]]  # per view, the uniforms of its requests in arrival order
    slot: list[int]  # instance targets: each request's pooled-connection slot
    u: list[float]  # instance targets: each request's kube-proxy draw, in arrival order
    last: bool  # no requests after this chunk's


class ReferenceEvaluator:
    """The data plane, one request at a time. Same constructor and result as ``Evaluator``.

    ``max_requests`` stops after the first that many requests (their completions still run); ``total``
    then counts only those.
    """

    def __init__(
        self,
        scenario: Scenario,
        views: list[RoutingView],
        windows: PodWindows,
        *,
        rngs: dict[str, np.random.Generator],
        duration_s: float,
        keep_requests: bool = False,
        max_requests: int | None = None,
    ) -> None:
        self.sc = scenario
        self.views = views
        self.policy = views[0].policy if views else "round_robin"
        self.rngs = rngs
        self.duration = duration_s
        self.keep = keep_requests
        self.max_requests = max_requests
        self.seconds = math.ceil(duration_s) + 1
        self.n_views = len(views)
        self.n_pods = len(windows.listen)
        # scalar copies of the windows: plain floats and bools
        self.listen: list[float] = windows.listen.tolist()
        self.stop: list[float] = windows.stop.tolist()
        self.exit: list[float] = windows.exit.tolist()
        self.ip_gone: list[float] = windows.ip_gone.tolist()
        self.drain_deadline: list[float] = windows.drain_deadline.tolist()
        self.closes_idle: list[bool] = windows.closes_idle.tolist()
        app, lb = scenario.app, scenario.load_balancer
        self.keepalive_race = app.keep_alive_timeout_seconds <= lb.idle_timeout_seconds
        self.truncated = False  # set by run(): max_requests stopped the traffic before its end
        # instance targets: pooled connections pinned to pods (the draws only; the state lives in run())
        self.pinning = scenario.load_balancer.target_type == "instance" and bool(views)
        self.pins = Pins.of(scenario, n_views=len(views))

    # -- the request source ------------------------------------------------------------------------------
    def _chunks(self) -> Iterator[_Chunk]:
        """Arrival times and their draws, chunk by chunk, consuming each stream as Evaluator does."""
        rps = self.sc.traffic.rps
        assert rps is not None  # the open model has a rate (Scenario validates it)
        arrivals = self.rngs["arrivals"]
        uses_pick = self.policy not in ("round_robin", "least_outstanding_requests")
        t0 = 0.0
        done = False
        while not done:
            n = max(16, min(CHUNK, int(rps * (self.duration - t0) * 1.05) + 16))
            offsets: list[float] = arrival_offsets(arrivals, rps, n).tolist()
            times: list[float] = []
            for offset in offsets:
                t = t0 + offset
                if t >= self.duration:  # times only grow: the first one past the end ends the traffic
                    done = True
                    break
                times.append(t)
            if not done:
                t0 = times[-1]
            n = len(times)
            if n == 0:
                continue
            slot: list[int] = []
            u: list[float] = []
            if self.pinning:
                slot = self.pins.draw_slots(self.rngs["node"], n).tolist()
                view = [s // self.pins.per_pair % self.pins.n_workers for s in slot]
            else:
                view = draw_views(self.rngs["node"], self.n_views, n).tolist()
            d: list[float] = self.sc.app.request_seconds.sample(self.rngs["service"], n).tolist()
            picks: list[Iterator[float]] = []
            if self.pinning:
                u = self.rngs["pick"].random(n).tolist()
            elif uses_pick:
                counts = [0] * self.n_views
                for v in view:
                    counts[v] += 1
                for count in counts:  # Evaluator draws view by view, each view's requests in order
                    drawn: list[float] = self.rngs["pick"].random(count).tolist() if count else []
                    picks.append(iter(drawn))
            yield _Chunk(times, view, d, picks, slot, u, done)

    # -- the event loop ----------------------------------------------------------------------------------
    def run(self) -> Traffic:
        sc = self.sc
        app, lb = sc.app, sc.load_balancer
        policy = self.policy
        listen, stop, exit_, ip_gone = self.listen, self.stop, self.exit, self.ip_gone
        drain_deadline, closes_idle = self.drain_deadline, self.closes_idle
        idle = lb.idle_timeout_seconds
        connect = lb.connect_timeout_seconds
        kat = app.keep_alive_timeout_seconds
        race_window = app.keep_alive_race_window_seconds
        keepalive_race = self.keepalive_race
        precedence = Precedence.for_setup(
            target_type=lb.target_type, vanished_pod_ip=sc.cluster.vanished_pod_ip
        )
        decide = precedence.decide
        vanished = CODE[vanished_ip_cause(sc.cluster.vanished_pod_ip)]
        waits_on_gone = sc.cluster.vanished_pod_ip == "timeout"
        accepted_codes = {SUCCESS, CODE["in-flight-killed"], CODE["drain-timeout"], CODE["response-timeout"]}
        last_second = self.seconds - 1
        limit = self.max_requests if self.max_requests is not None else -1

        # state per routing view (per LB node, or per kube-proxy)
        # each view's list, rebuilt from its change log one segment after the other as routing events come
        walkers = [iter(walk(v.log())) for v in self.views]
        current: list[tuple[int, ...]] = [tuple(next(w, ())) for w in walkers]
        rr_next = [0] * self.n_views  # round robin: how many requests this node has sent
        last_seen = [[-math.inf] * self.n_pods for _ in self.views]  # last request on (node, target)
        outstanding = [[0] * self.n_pods for _ in self.views]  # least outstanding requests
        # instance targets, per slot: the pod its open connection is pinned to (-1: none), its last use
        pinned = [-1] * self.pins.slots
        pinned_at = [-math.inf] * self.pins.slots
        reopen_gap, race_gap = self.pins.reopen_gap, self.pins.race_gap

        by_code = [0] * N_CODES
        per_second = [[0] * N_CODES for _ in range(self.seconds)]
        kept_t: list[float] = []
        kept_d: list[float] = []
        kept_view: list[int] = []
        kept_target: list[int] = []
        kept_code: list[int] = []

        heap: list[_Event] = []
        seq = 0
        for v, rv in enumerate(self.views):
            for segment in range(1, len(rv.times)):
                seq += 1
                heap.append((rv.times[segment], _ROUTE, seq, v, segment, 0))
        heapq.heapify(heap)

        closed = sc.traffic.model == "closed"
        client_timeout = sc.traffic.client_timeout_seconds
        abandoned = 0
        kept_client: list[int] = []
        chunk: _Chunk | None
        if closed:
            # each client's next request is an arrival event; at equal times clients go in index order
            # (sequence numbers below every other event's, unique per client: one pending arrival each)
            draws = ClientDraws(sc, self.rngs, pins=self.pins if self.pinning else None, n_views=self.n_views)
            n_clients = sc.traffic.clients
            source: Iterator[_Chunk] = iter(())
            chunk = None
            for client, start in enumerate(client_starts(self.rngs["arrivals"], n_clients).tolist()):
                if start < self.duration and limit != 0:
                    heapq.heappush(heap, (start, _ARRIVAL, client - n_clients, client, 0, 0))
        else:
            source = self._chunks()
            chunk = next(source, None)
        pos = 0  # the next request's place in its chunk
        total = 0
        self.truncated = (chunk is not None or closed) and limit == 0
        if chunk is not None and limit != 0:
            seq += 1
            heapq.heappush(heap, (chunk.t[0], _ARRIVAL, seq, 0, 0, 0))

        while heap:
            now, kind, _, a, b, c = heapq.heappop(heap)
            if kind == _ROUTE:
                current[a] = tuple(next(walkers[a]))  # a view's segments come in order: this is segment b
                continue
            if kind == _RELEASE:
                outstanding[a][b] -= 1
                continue
            if kind == _FINISH:
                by_code[b] += 1
                if b != SUCCESS:
                    per_second[c][b] += 1
                if self.keep:
                    kept_code[a] = b
                continue

            # -- an arrival --------------------------------------------------------------------------------
            think = 0.0
            if closed:  # this client's draws, one request's worth
                where_, d_, u_, think_ = (x.tolist() for x in draws.take(1))
                v_ = where_[0] // self.pins.per_pair % self.pins.n_workers if self.pinning else where_[0]
                picks = [iter(u_ if i == v_ else []) for i in range(self.n_views)]
                chunk, pos = _Chunk([now], [v_], d_, picks, where_, u_, False), 0
                think = think_[0]
            assert chunk is not None
            request = total
            total += 1
            v = chunk.view[pos]
            d = chunk.d[pos]
            t = now
            targets = current[v] if self.n_views else ()
            size = len(targets)
            on_conn = idle_raced = False
            if not self.n_views:  # no routing view at all: nothing to send to
                p = -1
            elif self.pinning:
                slot = chunk.slot[pos]
                p = pinned[slot]
                if p >= 0:
                    # the slot's connection is open unless it idled out or its pod stopped long enough ago
                    # that the LB saw the close
                    gap = t - pinned_at[slot]
                    if gap >= reopen_gap or t >= stop[p] + race_window:
                        p = -1
                    else:
                        on_conn = True
                        idle_raced = gap >= race_gap
                        if idle_raced or t >= stop[p]:
                            pinned[slot] = -1  # the server closed it: this request fails on it
                        else:
                            pinned_at[slot] = t
                if not on_conn:
                    # a new connection: this worker's kube-proxy picks a pod at random among its endpoints
                    u = chunk.u[pos]
                    p = targets[min(int(u * size), size - 1)] if size else -1
                    if p >= 0 and listen[p] <= t < stop[p] and t < ip_gone[p]:
                        pinned[slot], pinned_at[slot] = p, t
                    else:
                        pinned[slot] = -1
            elif policy == "round_robin":
                # the k-th request a node sends goes to position k mod n of its current list
                k = rr_next[v]
                rr_next[v] = k + 1
                p = targets[k % size] if size else -1
            elif policy == "least_outstanding_requests":
                holds = outstanding[v]
                p = min(targets, key=holds.__getitem__) if size else -1  # first of the least busy
            else:  # weighted_random, and kube-proxy's random
                u = next(chunk.picks[v])
                p = targets[min(int(u * size), size - 1)] if size else -1

            # the request's facts, in model/outcome.py's FACTS order; the first that holds decides
            routed = p >= 0
            stopped_now = routed and t >= stop[p]
            if self.pinning:
                pass  # the pooled connection's races were decided above
            elif keepalive_race and routed:
                # one pooled connection per (node, target), closed by the server after kat seconds idle
                gap = t - last_seen[v][p]
                last_seen[v][p] = t
                idle_raced = kat <= gap < kat + race_window
            end = t + d
            if routed:
                # accepted: the first of completion, process exit, end of the deregistration delay, LB idle
                # timeout
                killed, drained, timed_out = accepted_fate(
                    end=end, exit_t=exit_[p], drain_t=drain_deadline[p], timeout_t=t + idle
                )
            else:
                killed = drained = timed_out = False
            code = decide(
                (
                    not routed,
                    routed and t >= ip_gone[p],
                    routed and t < listen[p],
                    # a draining server closes its idle pooled connections as it stops accepting
                    # (with instance targets, only on an open pooled connection)
                    stopped_now
                    and (on_conn or not self.pinning)
                    and closes_idle[p]
                    and t < stop[p] + race_window,
                    stopped_now,
                    idle_raced,
                    killed,
                    drained,
                    timed_out,
                )
            )
            accepted = routed and code in accepted_codes
            second = min(int(t), last_second)
            if self.keep:
                kept_t.append(t)
                kept_d.append(d)
                kept_view.append(v)
                kept_target.append(p)
                kept_code.append(-1 if accepted else code)
            if not accepted:
                by_code[code] += 1
                if code != SUCCESS:
                    per_second[second][code] += 1
            else:
                # the outcome is known now but recorded when it happens
                at = end if code == SUCCESS else min(exit_[p], drain_deadline[p], t + idle)
                seq += 1
                heapq.heappush(heap, (at, _FINISH, seq, request, code, second))
            if policy == "least_outstanding_requests" and p >= 0:
                # the request counts against its target until its outcome: accepted ones until they end,
                # ones at a vanished IP that drops SYNs for the connect timeout, refused ones not at all
                if accepted:
                    release = at
                elif code == vanished and waits_on_gone and t >= ip_gone[p]:
                    release = t + connect
                else:
                    release = -math.inf
                if release > t:
                    outstanding[v][p] += 1
                    seq += 1
                    heapq.heappush(heap, (release, _RELEASE, seq, v, p, 0))

            if closed:
                # the client hears the LB's answer (or gives up), then thinks, then sends again
                if accepted:
                    answered = at
                elif code == vanished and waits_on_gone and routed and t >= ip_gone[p]:
                    answered = t + connect
                else:
                    answered = t
                if client_timeout is not None and answered > t + client_timeout:
                    abandoned += 1
                    answered = t + client_timeout
                if self.keep:
                    kept_client.append(a)
                nxt = max(answered, t + MIN_ROUND_TRIP_S) + think
                if total == limit:
                    self.truncated = True
                elif nxt < self.duration:
                    heapq.heappush(heap, (nxt, _ARRIVAL, a - sc.traffic.clients, a, 0, 0))
                continue

            # the source schedules the next arrival
            pos += 1
            if total == limit:
                self.truncated = pos < len(chunk.t) or not chunk.last
            else:
                if pos == len(chunk.t):
                    chunk, pos = next(source, None), 0
                if chunk is not None:
                    seq += 1
                    heapq.heappush(heap, (chunk.t[pos], _ARRIVAL, seq, 0, 0, 0))

        requests: dict[str, npt.NDArray[np.generic]] | None = None
        if self.keep:
            requests = {
                "t": np.array(kept_t, dtype=np.float64),
                "d": np.array(kept_d, dtype=np.float64),
                "view": np.array(kept_view, dtype=np.int64),
                "target": np.array(kept_target, dtype=np.int64),
                "code": np.array(kept_code, dtype=np.int64),
            }
            if closed:
                requests["client"] = np.array(kept_client, dtype=np.int64)
        return Traffic(
            total=total,
            by_code=np.array(by_code, dtype=np.int64),
            per_second=np.array(per_second, dtype=np.int64).reshape(self.seconds, N_CODES),
            requests=requests,
            client_timeouts=abandoned,
        )


# -- the whole run ------------------------------------------------------------------------------------------
@dataclass
class ReferenceResult:
    scenario: str
    seed: int
    duration_s: float  # simulated seconds of traffic
    control_events: int
    traffic: Traffic  # total counts only the requests evaluated
    truncated: bool  # max_requests stopped the traffic before duration_s


def simulate_reference(
    scenario: Scenario, seed: int = 1, *, max_requests: int | None = None, keep_requests: bool = False
) -> ReferenceResult:
    """``simulate()``'s control plane, then the reference data plane; at most ``max_requests`` requests."""
    cp = run_control_plane(scenario, seed)
    evaluator = ReferenceEvaluator(
        scenario,
        cp.views,
        cp.windows(),
        rngs=cp.traffic_rngs(),
        duration_s=cp.duration_s,
        keep_requests=keep_requests,
        max_requests=max_requests,
    )
    traffic = evaluator.run()
    return ReferenceResult(scenario.name, seed, cp.duration_s, cp.events, traffic, evaluator.truncated)
