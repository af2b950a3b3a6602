"""Instance targets: which pods a worker node's kube-proxy may have sent a refused connection to, and how
likely each was. The access log names the node; kube-proxy picked the pod, so a refusal while a
terminating pod and a just-added pod were both behind the Service is a draw the logs cannot undo. This
module turns it into a posterior share per candidate pod, from the audit log's EndpointSlice writes, the
pods' lives and the requests the ALB sent each node.

The model (each part a MODEL ASSUMPTION, the same ones the simulator makes):
- kube-proxy (iptables mode) picks uniformly at random among the ready, non-terminating endpoints it has
  programmed; with none, among the serving terminating ones (KEP-1669 ProxyTerminatingEndpoints, GA 1.28;
  Kubernetes "Virtual IPs and Service Proxies": "a backend at random"). Rules only ever come from a
  sync, and a sync reads the slice as it is then.
- A sync follows an EndpointSlice write by the watch latency plus the sync delay (``cluster.
  watchLatencySeconds`` and ``cluster.kubeProxySyncSeconds``' defaults: kube-proxy's minSyncPeriod is 1 s
  by default); writes that arrive while a sync is pending are read by that sync. Each node draws its own
  delays, so every node's view at ``t`` has the same prior; the module draws TRAJECTORIES of them.
- A terminating pod refuses from when it stopped accepting (``stopped_at``) until kube-proxy drops it.
  Its IP may go before that (the CNI frees it, unlogged); a connection then is a connect timeout, which
  the access log tells apart.
- A new pod refuses from when it joins a view until ``listen_delay`` after its containers were reported
  ready: one delay for every new pod (an app starts in about the same time each run).
- The ALB's pooled connections stay pinned to the pod kube-proxy chose when each opened (conntrack; the
  simulator's docs/model.md "pinned connections"), so only a request that opens a connection meets the
  pick. Which requests did is not logged; ``open_attempts`` gives each request near a refusal its chance
  of having opened one (the retry after a refusal, the first request on a slot whose pod stopped), and
  the fit takes the rest's chance as one more unknown (``open_share``).

The listen delay is fitted by maximum likelihood to those requests' outcomes (refused or not). Given a
refusal on a node at ``t`` (a connection being opened), every refusing pod in the node's view is equally
likely, so a draw of the sync times contributes ``1/|view|`` per refusing pod in it, weighed by how well
it explains the node's other requests within CONTEXT_S; the shares are those sums normalised.

It reads the correlated World and request times; it decides no cause (attribute.py does).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from rollsafe.diagnose.correlate import PodLife, World
from rollsafe.model.scenario import Cluster, LoadBalancer

TRAJECTORIES = 512  # draws of the sync delays; enough that a share moves by well under 1 %
SEED = 20261129  # a fixed stream: the same logs give the same shares, byte for byte
# The ALB's pooled connections per (LB node, worker node): AWS does not document it; the simulator's
# loadBalancer.connectionsPerInstance default (MODEL ASSUMPTION, docs/model.md "pinned connections")
SLOTS = LoadBalancer().connections_per_instance
OPEN_SHARES = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 31)])  # the fit's grid for open_share
RETRIES = 7  # times the slots: requests after a refusal that may be its retry (weight below 0.1 % after)
PROMPT_EXIT_S = 2.0  # attribute.py's EXIT_PATCH_LAG_S
CONTEXT_S = 1.5  # a node's requests this near a refusal weigh its sync times (the longest lag, about)
LISTEN_DELAY_MAX_S = 120.0  # the longest startup considered (diagnose's NEW_POD_S)
NEW = "not_listening_yet"
OLD = "stopped_listening"

F64 = npt.NDArray[np.float64]


def stopped_at(p: PodLife) -> datetime | None:
    """When a terminating pod stopped accepting. The kubelet's status patch reports the exit up to a PLEG
    relist and a write after it; a pod that exited within PROMPT_EXIT_S of its deletion is taken to have
    stopped at the deletion (MODEL ASSUMPTION: it exits on SIGTERM, which follows the deletion within the
    kubelet's watch latency), one that took longer at its reported exit."""
    if p.deleted is not None and (
        p.exited is None or p.exited - p.deleted <= timedelta(seconds=PROMPT_EXIT_S)
    ):
        return p.deleted
    return p.exited


@dataclass(frozen=True, slots=True)
class Attempt:
    """A request that may have opened a connection through a node's kube-proxy, and how likely it did."""

    at: datetime
    node: str
    refused: bool
    weight: float


def open_attempts(
    requests: list[tuple[datetime, str, str, bool]], stops: list[tuple[datetime, int]]
) -> list[Attempt]:
    """Each request near a refusal, from (time, LB node, worker node, refused) in time order, with the
    chance that it opened a connection through kube-proxy. The ALB keeps pooled connections pinned to the
    pod kube-proxy chose when each opened (conntrack), so most requests never meet the pick. A request
    to a worker node lands on one of its slots at random, SLOTS per LB node (MODEL ASSUMPTION), n in all;
    a slot opens a connection on its first request after its connection went:
    - after a refusal (the refused connect leaves the slot without one), the k-th request to the node
      is that slot's next with probability (1 - 1/n)^(k-1) / n;
    - after a pod stopped (``stops``: when, and the size of the views it was in), each slot was pinned to
      it with probability 1/size, and the k-th request after is its slot's first with the same odds.
    (Keyed by worker node alone: it holds whatever LB node a log line names.)"""
    lb_nodes = {lb for _at, lb, _node, _r in requests}
    n = SLOTS * max(1, len(lb_nodes))
    by_node: dict[str, list[tuple[datetime, bool]]] = {}
    for at, _lb, node, refused in requests:
        by_node.setdefault(node, []).append((at, refused))
    horizon = RETRIES * n
    out = []
    for node, reqs in sorted(by_node.items()):
        weight = [0.0] * len(reqs)
        times = [at for at, _r in reqs]
        for i, (_at, refused) in enumerate(reqs):
            if refused:
                for k in range(1, min(horizon, len(reqs) - i - 1) + 1):
                    weight[i + k] += (1 - 1 / n) ** (k - 1) / n
        for stop, size in stops:
            first = bisect.bisect_left(times, stop)
            for k in range(min(horizon, len(reqs) - first)):
                weight[first + k] += (1 - 1 / n) ** k / max(size, 1)
        out += [Attempt(at, node, r, min(1.0, w)) for (at, r), w in zip(reqs, weight, strict=True)]
    out.sort(key=lambda a: (a.at, a.node))
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    pod: str
    fact: str  # NEW or OLD
    share: float


class ProxyViews:
    """Every node's kube-proxy view as a distribution over the EndpointSlice snapshots it may have read."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.t0 = min(world.slices.times) if world.slices.times else None
        # snapshot j >= 1 is the slice after write j-1; 0 is the slice before the first write seen
        members = [world.slices.initial or {}, *world.slices.members]
        self.views: list[list[PodLife]] = []
        for m in members:
            ready = [n for n, (_ip, r, term) in m.items() if r and not term]
            names = ready or [n for n, (_ip, _r, term) in m.items() if term]
            self.views.append([world.pods[n] for n in sorted(names) if n in world.pods])
        self.write_s = np.array([self._s(t) for t in world.slices.times], dtype=np.float64)
        self.sync_s = self._trajectories()
        self.listen_delay = 0.0
        # the chance that a request near a refusal, other than a retry, opened a connection (fitted)
        self.open_share = 1.0
        self.attempts: list[Attempt] = []  # open attempts near refusals (open_attempts)
        # per refusal asked about: (node, seconds, spread of its new-pod share over the views it may have
        # had): the part of the uncertainty that the node's sync times leave, shared by nearby refusals
        self.spread: dict[int, tuple[str, float, float]] = {}
        # per pod: [from, to) in which it refuses, in seconds from t0 (new pods: to = base + delay)
        self._old: dict[str, tuple[float, float]] = {}
        self._base: dict[str, float] = {}
        for p in world.pods.values():
            stop = stopped_at(p)
            if stop is not None:
                # the final delete does not free the IP (the CNI does, later, unlogged): it refuses until
                # the views drop it; a connection after the IP went is a connect timeout, told apart
                self._old[p.name] = (self._s(stop), np.inf)
            base = p.containers_ready or p.ready or p.in_slice
            if p.created is not None and base is not None:
                self._base[p.name] = self._s(base)

    def _s(self, t: datetime) -> float:
        assert self.t0 is not None
        return (t - self.t0).total_seconds()

    def _trajectories(self) -> F64:
        """Sync times per trajectory (rows), ascending, padded with inf."""
        n = len(self.write_s)
        rng = np.random.Generator(np.random.SFC64(SEED))
        cluster = Cluster()
        watch = cluster.watch_latency_seconds.sample(rng, TRAJECTORIES * n).reshape(TRAJECTORIES, n)
        delay = cluster.kube_proxy_sync_seconds.sample(rng, TRAJECTORIES * n).reshape(TRAJECTORIES, n)
        arrive = np.sort(self.write_s[None, :] + watch, axis=1)
        pending = np.full(TRAJECTORIES, -np.inf)
        out = np.full((TRAJECTORIES, n), np.inf)
        for i in range(n):
            a = arrive[:, i]
            fire = a >= pending  # a watch event while a sync is pending is read by that sync
            s = a + delay[:, i]
            pending = np.where(fire, s, pending)
            out[:, i] = np.where(fire, s, np.inf)
        out.sort(axis=1)
        return out

    def _snapshot_index(self, t: F64) -> npt.NDArray[np.int64]:
        """The snapshot each trajectory's view held at each time: (TRAJECTORIES, len(t))."""
        idx = np.empty((TRAJECTORIES, len(t)), dtype=np.int64)
        for k in range(TRAJECTORIES):
            last_sync = np.searchsorted(self.sync_s[k], t, side="right") - 1
            sync_t = np.where(last_sync >= 0, self.sync_s[k][np.maximum(last_sync, 0)], -np.inf)
            # the snapshot a sync read: the newest write at or before it
            idx[k] = np.where(last_sync >= 0, np.searchsorted(self.write_s, sync_t, side="right"), 0)
        return idx

    def _snapshots(
        self, t: F64
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """For each time: the distinct snapshots the views held then over the trajectories, as (request
        index, snapshot, trajectories holding it)."""
        idx = self._snapshot_index(t)
        key = np.arange(len(t), dtype=np.int64)[None, :] * len(self.views) + idx
        uniq, counts = np.unique(key.ravel(), return_counts=True)
        return uniq // len(self.views), uniq % len(self.views), counts

    def _counts(self, r: npt.NDArray[np.int64], snap: npt.NDArray[np.int64], t: F64) -> tuple[F64, F64, F64]:
        """Per (request, snapshot) pair: the view's size, its refusing old pods, and per new pod in it
        the time since its base (it refuses while that is below the listen delay)."""
        size = np.array([len(self.views[j]) for j in snap.tolist()], dtype=np.float64)
        old = np.zeros(len(r))
        width = max((len(v) for v in self.views), default=0)
        gaps = np.full((len(r), max(width, 1)), np.inf)
        for i, (ri, j) in enumerate(zip(r.tolist(), snap.tolist(), strict=True)):
            tr = float(t[ri])
            col = 0
            for p in self.views[j]:
                lo_hi = self._old.get(p.name)
                if lo_hi is not None and lo_hi[0] <= tr < lo_hi[1]:
                    old[i] += 1
                elif (lo_hi is None or tr < lo_hi[0]) and p.name in self._base:
                    gaps[i, col] = tr - self._base[p.name]
                    col += 1
        return size, old, gaps

    def fit_listen_delay(self, attempts: list[Attempt]) -> float:
        """The listen delay that makes the open attempts' outcomes (refused or accepted, each counting
        its weight) most likely: a grid, then a finer one around its best. Each attempt meets its own
        draw of sync times (a composite likelihood: the nodes' histories are integrated request by
        request)."""
        if self.t0 is None or not attempts or not self._base:
            return self.listen_delay
        t = np.array([self._s(a.at) for a in attempts], dtype=np.float64)
        ref = np.array([a.refused for a in attempts], dtype=bool)
        wt = np.array([a.weight for a in attempts], dtype=np.float64)
        r, snap, n = self._snapshots(t)
        size, old, gaps = self._counts(r, snap, t)
        share = n / TRAJECTORIES / np.maximum(size, 1)

        def composite(d: float) -> tuple[float, float]:
            """The log-likelihood at delay ``d``, maximised over the other requests' open share."""
            per_pair = share * (old + (gaps < d).sum(axis=1))
            q = np.bincount(r, per_pair, minlength=len(t))
            opens = wt[None, :] + (1 - wt[None, :]) * OPEN_SHARES[:, None]
            p = np.clip(opens * q[None, :], 1e-9, 1 - 1e-9)
            ll = np.sum(np.where(ref, np.log(p), np.log1p(-p)), axis=1)
            best = int(np.argmax(ll))
            return float(ll[best]), float(OPEN_SHARES[best])

        grid = np.arange(0.0, LISTEN_DELAY_MAX_S + 1e-9, 0.5)
        first = float(grid[int(np.argmax([composite(float(d))[0] for d in grid]))])
        fine = np.arange(max(0.0, first - 0.5), first + 0.5 + 1e-9, 0.02)
        self.listen_delay = float(fine[int(np.argmax([composite(float(d))[0] for d in fine]))])
        self.open_share = composite(self.listen_delay)[1]
        return self.listen_delay

    def _pair_refuse(self, r: npt.NDArray[np.int64], snap: npt.NDArray[np.int64], t: F64) -> F64:
        """P(a request is refused) per (request, snapshot) pair, with the fitted listen delay."""
        size, old, gaps = self._counts(r, snap, t)
        out: F64 = (old + (gaps < self.listen_delay).sum(axis=1)) / np.maximum(size, 1)
        return out

    def stops(self) -> list[tuple[datetime, int]]:
        """When each pod stopped accepting, and how many pods the views held just before."""
        assert self.t0 is not None
        out = []
        for p in self.w.pods.values():
            stop = stopped_at(p)
            if stop is None:
                continue
            j = int(np.searchsorted(self.write_s, self._s(stop), side="right"))
            out.append((stop, len(self.views[j])))
        return sorted(out)

    def candidates(self, refusals: list[tuple[datetime, str]]) -> list[list[Candidate]]:
        """For every refusal (time, node): each candidate pod with its posterior share. A node's sync
        times are weighed by how likely they make the outcomes of the node's open attempts (``attempts``)
        within CONTEXT_S of the refusal, the refusal itself left out: a view that held refusing pods
        longer than the attempts that got through allow loses weight."""
        out: list[list[Candidate]] = [[] for _ in refusals]
        if self.t0 is None:
            return out
        by_node: dict[str, list[int]] = {}
        for i, (_t, node) in enumerate(refusals):
            by_node.setdefault(node, []).append(i)
        for node in sorted(by_node):
            mine = by_node[node]
            asked = {refusals[i][0] for i in mine}
            samples = [a for a in self.attempts if a.node == node and not (a.refused and a.at in asked)]
            tq = np.array([self._s(refusals[i][0]) for i in mine], dtype=np.float64)
            # the node's open attempts, and the refusals asked about (weight 0: they only need a place)
            t = np.concatenate([np.array([self._s(a.at) for a in samples], dtype=np.float64), tq])
            ref = np.concatenate([np.array([a.refused for a in samples], dtype=bool), np.ones(len(tq), bool)])
            wt = np.concatenate([np.array([a.weight for a in samples], dtype=np.float64), np.zeros(len(tq))])
            is_q = np.concatenate([np.full(len(samples), -1), np.arange(len(tq))])
            order = np.argsort(t, kind="stable")
            t, ref, wt, is_q = t[order], ref[order], wt[order], is_q[order]
            lo = np.searchsorted(t, tq - CONTEXT_S, side="left")
            hi = np.searchsorted(t, tq + CONTEXT_S, side="right")
            near = np.zeros(len(t), dtype=bool)
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                near[a:b] = True
            sel = np.flatnonzero(near)
            ts, refs, ws, qs = t[sel], ref[sel], wt[sel], is_q[sel]
            idx = self._snapshot_index(ts)  # (K, R)
            pair_key = np.arange(len(ts), dtype=np.int64)[None, :] * len(self.views) + idx
            uniq, inv = np.unique(pair_key.ravel(), return_inverse=True)
            rq = uniq // len(self.views)
            q = self._pair_refuse(rq, uniq % len(self.views), ts)
            pr = np.clip(q * (ws[rq] + (1 - ws[rq]) * self.open_share), 1e-9, 1 - 1e-9)
            lp = np.where(refs[rq], np.log(pr), np.log1p(-pr))[inv].reshape(idx.shape)
            lp[:, qs >= 0] = 0.0  # the refusals asked about only need a place
            cum = np.concatenate([np.zeros((TRAJECTORIES, 1)), np.cumsum(lp, axis=1)], axis=1)
            a_s = np.searchsorted(ts, tq - CONTEXT_S, side="left")
            b_s = np.searchsorted(ts, tq + CONTEXT_S, side="right")
            pos = {int(q): j for j, q in enumerate(qs.tolist()) if q >= 0}
            for qi, i in enumerate(mine):
                j = pos[qi]
                logw = cum[:, b_s[qi]] - cum[:, a_s[qi]]
                w = np.exp(logw - logw.max())
                shares: dict[tuple[str, str], float] = {}
                tr = float(ts[j])
                per_view: list[tuple[float, float]] = []  # (posterior mass, share of new pods) per view
                for snap in np.unique(idx[:, j]).tolist():
                    mass = float(w[idx[:, j] == snap].sum())
                    view = self.views[snap]
                    n_new = n_all = 0
                    for p in view:
                        fact = self._fact(p.name, tr)
                        if fact is not None:
                            shares[(p.name, fact)] = shares.get((p.name, fact), 0.0) + mass / len(view)
                            n_all += 1
                            n_new += fact == NEW
                    if n_all:
                        per_view.append((mass * n_all / len(view), n_new / n_all))
                total = sum(shares.values())
                if total > 0:
                    mean = sum(m * x for m, x in per_view) / total
                    self.spread[i] = (
                        node,
                        tr,
                        math.sqrt(sum(m * (x - mean) ** 2 for m, x in per_view) / total),
                    )
                    out[i] = sorted(
                        (Candidate(n, f, v / total) for (n, f), v in shares.items()),
                        key=lambda c: (-c.share, c.pod),
                    )
        return out

    def count_sd(self, share_new: dict[int, float]) -> float:
        """The standard deviation of the number of new-pod refusals among those given (index -> share of
        new pods): each is a draw of kube-proxy (binomial part), and refusals on one node less than
        CONTEXT_S apart share the node's unknown sync times (taken as fully correlated; separate bursts
        and nodes as independent)."""
        var = sum(p * (1 - p) for p in share_new.values())
        bursts: dict[tuple[str, int], float] = {}
        last: dict[str, tuple[float, int]] = {}
        for i in sorted(share_new, key=lambda i: (self.spread[i][0], self.spread[i][1])):
            node, tr, sd = self.spread[i]
            prev = last.get(node)
            burst = (
                prev[1] if prev is not None and tr - prev[0] <= CONTEXT_S else (prev[1] + 1 if prev else 0)
            )
            last[node] = (tr, burst)
            bursts[(node, burst)] = bursts.get((node, burst), 0.0) + sd
        return math.sqrt(var + sum(b * b for b in bursts.values()))

    def _fact(self, name: str, tr: float) -> str | None:
        lo_hi = self._old.get(name)
        if lo_hi is not None and lo_hi[0] <= tr < lo_hi[1]:
            return OLD
        if (
            (lo_hi is None or tr < lo_hi[0])
            and name in self._base
            and tr - self._base[name] < self.listen_delay
        ):
            return NEW
        return None
