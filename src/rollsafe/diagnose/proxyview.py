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
- A terminating pod refuses from its container's exit (the kubelet's status patch; the graceful delete
  when the audit log has no patch) until kube-proxy drops it. Its IP may go before that (the CNI frees
  it, unlogged); a connection then is a connect timeout, which the access log tells apart.
- A new pod refuses from when it joins a view until ``listen_delay`` after its containers were reported
  ready: one delay for every new pod (an app starts in about the same time each run), fitted by maximum
  likelihood to the refused and accepted requests the ALB sent the nodes around the rollout.

Given a refusal on a node at ``t``, every candidate pod in the node's view is equally likely, so a
trajectory contributes ``1/|view|`` per refusing pod in it; the shares are those sums normalised.

It reads the correlated World and request times; it decides no cause (attribute.py does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from rollsafe.diagnose.correlate import PodLife, World
from rollsafe.model.scenario import Cluster

TRAJECTORIES = 512  # draws of the sync delays; enough that a share moves by well under 1 %
SEED = 20261129  # a fixed stream: the same logs give the same shares, byte for byte
FIT_TRAJECTORIES = 128  # sync histories per node for the listen-delay fit
CONTEXT_S = 1.5  # a node's requests this near a refusal weigh its sync times (the longest lag, about)
LISTEN_DELAY_MAX_S = 120.0  # the longest startup considered (diagnose's NEW_POD_S)
NEW = "not_listening_yet"
OLD = "stopped_listening"

F64 = npt.NDArray[np.float64]


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
        self.accepted: dict[str, list[datetime]] = {}  # per node (IP): accepted requests near refusals
        # per refusal asked about: (node, seconds, spread of its new-pod share over the views it may have
        # had): the part of the uncertainty that the node's sync times leave, shared by nearby refusals
        self.spread: dict[int, tuple[str, float, float]] = {}
        # per pod: [from, to) in which it refuses, in seconds from t0 (new pods: to = base + delay)
        self._old: dict[str, tuple[float, float]] = {}
        self._base: dict[str, float] = {}
        for p in world.pods.values():
            stop = p.exited or p.deleted
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

    def fit_listen_delay(
        self, when: list[datetime], node: list[str], refused: list[bool], weight: list[float]
    ) -> float:
        """The listen delay that makes the requests' outcomes (refused or accepted, each counting
        ``weight`` times) most likely. First as if every request met its own draw of sync times (a
        composite likelihood: cheap, over the whole range), then properly: each node's requests share
        one history of syncs, integrated over FIT_TRAJECTORIES of them, near the first estimate."""
        if self.t0 is None or not when or not self._base:
            return self.listen_delay
        t = np.array([self._s(x) for x in when], dtype=np.float64)
        ref = np.array(refused, dtype=bool)
        wt = np.array(weight, dtype=np.float64)
        r, snap, n = self._snapshots(t)
        size, old, gaps = self._counts(r, snap, t)
        share = n / TRAJECTORIES / np.maximum(size, 1)

        def composite(d: float) -> float:
            per_pair = share * (old + (gaps < d).sum(axis=1))
            p = np.clip(np.bincount(r, per_pair, minlength=len(t)), 1e-6, 1 - 1e-6)
            return float(np.sum(wt * np.where(ref, np.log(p), np.log1p(-p))))

        grid = np.arange(0.0, LISTEN_DELAY_MAX_S + 1e-9, 0.5)
        first = float(grid[int(np.argmax([composite(float(d)) for d in grid]))])
        # per node: the (trajectory, request) log-likelihood terms as a function of the delay
        nodes = np.array(node)
        parts = []
        for nd in sorted(set(node)):
            sel = np.flatnonzero(nodes == nd)
            idx = self._snapshot_index(t[sel])[:FIT_TRAJECTORIES]
            key = np.arange(len(sel), dtype=np.int64)[None, :] * len(self.views) + idx
            uniq, inv = np.unique(key.ravel(), return_inverse=True)
            pr_r = uniq // len(self.views)
            size_u, old_u, gaps_u = self._counts(pr_r, uniq % len(self.views), t[sel])
            parts.append((sel, inv.reshape(idx.shape), pr_r, size_u, old_u, gaps_u))

        def joint(d: float) -> float:
            total = 0.0
            for sel, inv, pr_r, size_u, old_u, gaps_u in parts:
                p = np.clip((old_u + (gaps_u < d).sum(axis=1)) / np.maximum(size_u, 1), 1e-6, 1 - 1e-6)
                lp = np.where(ref[sel][pr_r], np.log(p), np.log1p(-p)) * wt[sel][pr_r]
                per_traj = lp[inv].sum(axis=1)
                m = float(per_traj.max())
                total += m + math.log(float(np.mean(np.exp(per_traj - m))))
            return total

        fine = np.arange(max(0.0, 0.5 * first - 0.5), 2 * first + 1.0 + 1e-9, 0.02)
        self.listen_delay = float(fine[int(np.argmax([joint(float(d)) for d in fine]))])
        return self.listen_delay

    def _pair_refuse(self, r: npt.NDArray[np.int64], snap: npt.NDArray[np.int64], t: F64) -> F64:
        """P(a request is refused) per (request, snapshot) pair, with the fitted listen delay."""
        size, old, gaps = self._counts(r, snap, t)
        out: F64 = (old + (gaps < self.listen_delay).sum(axis=1)) / np.maximum(size, 1)
        return out

    def candidates(self, refusals: list[tuple[datetime, str]]) -> list[list[Candidate]]:
        """For every refusal (time, node): each candidate pod with its posterior share. A node's sync
        times are weighed by how likely they make the outcomes of the requests the ALB sent that node
        within CONTEXT_S of the refusal (the other refusals, and ``accepted``), the refusal
        itself left out: a view that held refusing pods for longer than the node's accepted requests
        allow loses weight."""
        out: list[list[Candidate]] = [[] for _ in refusals]
        if self.t0 is None:
            return out
        by_node: dict[str, list[int]] = {}
        for i, (_t, node) in enumerate(refusals):
            by_node.setdefault(node, []).append(i)
        for node in sorted(by_node):
            mine = by_node[node]
            times = self.accepted.get(node, [])
            tq = np.array([self._s(refusals[i][0]) for i in mine], dtype=np.float64)
            # the node's accepted requests and its refusals (the ones asked about: every refusal)
            t = np.concatenate([np.array([self._s(x) for x in times], dtype=np.float64), tq])
            ref = np.concatenate([np.zeros(len(times), dtype=bool), np.ones(len(tq), dtype=bool)])
            is_q = np.concatenate([np.full(len(times), -1), np.arange(len(tq))])
            order = np.argsort(t, kind="stable")
            t, ref, is_q = t[order], ref[order], is_q[order]
            lo = np.searchsorted(t, tq - CONTEXT_S, side="left")
            hi = np.searchsorted(t, tq + CONTEXT_S, side="right")
            near = np.zeros(len(t), dtype=bool)
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                near[a:b] = True
            sel = np.flatnonzero(near)
            ts, refs, qs = t[sel], ref[sel], is_q[sel]
            idx = self._snapshot_index(ts)  # (K, R)
            pair_key = np.arange(len(ts), dtype=np.int64)[None, :] * len(self.views) + idx
            uniq, inv = np.unique(pair_key.ravel(), return_inverse=True)
            pr = np.clip(
                self._pair_refuse(uniq // len(self.views), uniq % len(self.views), ts), 1e-6, 1 - 1e-6
            )
            lp = np.where(refs[uniq // len(self.views)], np.log(pr), np.log1p(-pr))[inv].reshape(idx.shape)
            cum = np.concatenate([np.zeros((TRAJECTORIES, 1)), np.cumsum(lp, axis=1)], axis=1)
            a_s = np.searchsorted(ts, tq - CONTEXT_S, side="left")
            b_s = np.searchsorted(ts, tq + CONTEXT_S, side="right")
            pos = {int(q): j for j, q in enumerate(qs.tolist()) if q >= 0}
            for qi, i in enumerate(mine):
                j = pos[qi]
                logw = cum[:, b_s[qi]] - cum[:, a_s[qi]] - lp[:, j]
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


def fit_windows(world: World, proxy: ProxyViews) -> list[tuple[datetime, datetime]]:
    """The stretches of time whose requests say something about the listen delay: from a new pod's
    joining the slice to the longest delay considered after its base, and each terminating pod's stretch
    in the views. Merged; in time order."""
    pad = timedelta(seconds=2)
    spans = []
    for p in world.pods.values():
        base = p.containers_ready or p.ready or p.in_slice
        if p.created is not None and base is not None and p.name in proxy._base:
            spans.append((min(base, p.in_slice or base), base + timedelta(seconds=LISTEN_DELAY_MAX_S) + pad))
        stop = p.exited or p.deleted
        if stop is not None:
            spans.append((stop, max(stop, p.left_slice or stop) + pad))
    spans.sort()
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
