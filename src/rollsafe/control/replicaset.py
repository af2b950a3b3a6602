"""The ReplicaSet controller: expectations, slow-start creation batches, ranked deletion, status with
availability.

Follows pkg/controller/replicaset/replica_set.go (syncReplicaSet, manageReplicas, addPod, updatePod,
deletePod) and controller_utils.go (ControllerExpectations, UIDTrackingControllerExpectations,
ActivePodsWithRanks) (kubernetes-rollout-mechanics.md §2). Nothing here decides rollout pace; the
Deployment controller does, by setting spec.replicas. Its correctness must not depend on when its queue
runs or on the order of equal-time events: the expectations, not timing, stop it from acting twice.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter, itemgetter
from typing import Final

from rollsafe.control.api import ApiServer, Pod, ReplicaSet
from rollsafe.control.scheduler import WorkQueue
from rollsafe.model.scenario import as_stored

BURST_REPLICAS: Final = 500  # replica_set.go BurstReplicas
SLOW_START_INITIAL_BATCH: Final = 1  # controller.SlowStartInitialBatchSize
EXPECTATIONS_TIMEOUT_S: Final = 300.0  # controller_utils.go ExpectationsTimeout = 5 * time.Minute


@dataclass
class _Expected:
    """One ReplicaSet's ControlleeExpectations: creations still to be seen, and the pods (by UID, as
    UIDTrackingControllerExpectations keys them) whose deletion is still to be seen."""

    set_s: float
    add: int = 0
    deletes: set[str] = field(default_factory=set)


class Expectations:
    """UIDTrackingControllerExpectations (controller_utils.go): what a controller has asked the API
    server for and not yet seen come back through its watch. While any is outstanding (and younger than
    the 5-minute TTL) the ReplicaSet is not managed, so pods in flight are never counted as missing."""

    def __init__(self) -> None:
        self._by_rs: dict[str, _Expected] = {}

    def expect_creations(self, rs: str, count: int, now: float) -> None:
        # ExpectCreations -> SetExpectations: replaces whatever was there
        self._by_rs[rs] = _Expected(set_s=now, add=count)

    def expect_deletions(self, rs: str, uids: list[str], now: float) -> None:
        # ExpectDeletions: the UID set, then SetExpectations(key, 0, len(uids))
        self._by_rs[rs] = _Expected(set_s=now, deletes=set(uids))

    def creation_observed(self, rs: str) -> None:
        exp = self._by_rs.get(rs)
        if exp is not None:
            exp.add -= 1  # LowerExpectations(key, 1, 0)

    def deletion_observed(self, rs: str, uid: str) -> None:
        # DeletionObserved lowers the count only for a pod it was waiting for, and only once
        exp = self._by_rs.get(rs)
        if exp is not None:
            exp.deletes.discard(uid)

    def satisfied(self, rs: str, now: float) -> bool:
        """SatisfiedExpectations: none recorded, all fulfilled, or expired."""
        exp = self._by_rs.get(rs)
        if exp is None:
            return True
        if exp.add <= 0 and not exp.deletes:
            return True
        return now - exp.set_s > EXPECTATIONS_TIMEOUT_S


def slow_start_batches(count: int) -> list[int]:
    """slowStartBatch: batch sizes 1, 2, 4, ... until ``count`` creations are issued."""
    out, size, left = [], SLOW_START_INITIAL_BATCH, count
    while left > 0:
        batch = min(size, left)
        out.append(batch)
        left -= batch
        size *= 2
    return out


def _log_bucket(now: float, t: float) -> int:
    """The logarithmic compare of LogarithmicScaleDown: int(log2(nanoseconds since t))."""
    ns = (now - t) * 1e9
    return int(math.log2(ns)) if ns >= 1 else 0


def deletion_order(pods: list[Pod], *, now: float, related_per_node: Counter[int]) -> list[Pod]:
    """Pods sorted so that the first ones are deleted first (ActivePodsWithRanks.Less, §2.2).

    Unassigned before assigned; Pending before Running; not Ready before Ready; (deletion cost: all 0);
    more co-located related pods first; among Ready pods, more recently Ready first on a log2 scale;
    (restarts: all 0); newer first on a log2 scale; UID breaks ties.
    """

    def key(p: Pod) -> tuple[int, int, int, int, int, str]:
        assigned = 1 if p.scheduled else 0
        running = 1 if p.running else 0
        ready = 1 if p.ready else 0
        rank = -related_per_node[p.node]
        # both Ready: the more recently Ready first; otherwise the newer first; log2 buckets, then UID
        age = _log_bucket(now, p.ready_since_s) if p.ready else _log_bucket(now, p.created_s)
        return (assigned, running, ready, rank, age, p.uid)

    return sorted(pods, key=key)


# what a pod's place in deletion_order depends on besides its UID
_RANK_FIELDS: Final = attrgetter("scheduled", "running", "ready", "node", "ready_since_s", "created_s")
_Fields = tuple[bool, bool, bool, int, float, float]
_uid: Final = attrgetter("uid")
_FEW_PODS: Final = 16  # up to this many, ranking each pod is cheaper than grouping them


def deletion_victims(pods: list[Pod], count: int, *, now: float, related_per_node: Counter[int]) -> list[Pod]:
    """``deletion_order(pods, ...)[:count]`` (UIDs being unique), without ranking each pod on its own."""
    return DeletionRanking().victims(pods, count, now=now, related_per_node=related_per_node)


class DeletionRanking:
    """One ReplicaSet's pods grouped for ActivePodsWithRanks, kept from one scale-down to the next, so a
    scale-down finds its few victims without sorting every pod (at scale there is one every few new pods).

    Pods alike in all but their UID (same phase, node and times: most old pods of a node) form a group,
    kept sorted by UID, whose rank but for the UID is worked out once per use; the victims are the heads
    of the best groups. At every use all the pods and their rank fields are read again and compared with
    those kept (in C: attrgetter, list equality); only pods that differ are regrouped, so nothing the
    controller was not told of can go stale. ``forget`` drops a pod just deleted, so the next use finds
    everything as kept. Checked against deletion_order in tests/test_replicaset_victims.py.
    """

    def __init__(self) -> None:
        self._fields: dict[Pod, _Fields] = {}  # the pods at the last use, in their order, and their fields
        self._groups: dict[_Fields, list[Pod]] = {}  # each sorted by UID

    def victims(
        self, pods: list[Pod], count: int, *, now: float, related_per_node: Counter[int]
    ) -> list[Pod]:
        """``deletion_order(pods, ...)[:count]``."""
        if len(pods) <= _FEW_PODS:
            return deletion_order(pods, now=now, related_per_node=related_per_node)[:count]
        fields = list(map(_RANK_FIELDS, pods))
        kept = self._fields
        if pods != list(kept) or fields != list(kept.values()):
            self._regroup(pods, fields)
        ranked = [
            (
                (
                    1 if scheduled else 0,
                    1 if running else 0,
                    1 if ready else 0,
                    -related_per_node[node],
                    _log_bucket(now, ready_since_s) if ready else _log_bucket(now, created_s),
                ),
                members,
            )
            for (scheduled, running, ready, node, ready_since_s, created_s), members in self._groups.items()
        ]
        ranked.sort(key=itemgetter(0))
        victims: list[Pod] = []
        i = 0
        while len(victims) < count and i < len(ranked):
            # the groups of equal rank but for the UID: their pods interleave by UID
            rank, members = ranked[i]
            tied = [members]
            i += 1
            while i < len(ranked) and ranked[i][0] == rank:
                tied.append(ranked[i][1])
                i += 1
            need = count - len(victims)
            victims.extend(members[:need] if len(tied) == 1 else islice(heapq.merge(*tied, key=_uid), need))
        return victims

    def forget(self, pod: Pod) -> None:
        """``pod`` has left the active set (the controller deleted it)."""
        fields = self._fields.pop(pod, None)
        if fields is not None:
            self._leave(pod, fields)

    def _regroup(self, pods: list[Pod], fields: list[_Fields]) -> None:
        kept = self._fields
        current = dict(zip(pods, fields, strict=True))
        if not kept:  # the first use: group, then sort each group once
            groups: defaultdict[_Fields, list[Pod]] = defaultdict(list)
            for pod, f in current.items():
                groups[f].append(pod)
            self._groups = {f: sorted(members, key=_uid) for f, members in groups.items()}
        else:
            for pod in kept.keys() - current.keys():
                self._leave(pod, kept[pod])
            for pod, f in current.items():
                old = kept.get(pod)
                if old != f:
                    if old is not None:
                        self._leave(pod, old)
                    self._join(pod, f)
        self._fields = current

    def _join(self, pod: Pod, fields: _Fields) -> None:
        members = self._groups.get(fields)
        if members is None:
            self._groups[fields] = [pod]
        else:
            insort(members, pod, key=_uid)

    def _leave(self, pod: Pod, fields: _Fields) -> None:
        members = self._groups[fields]
        i = bisect_left(members, pod.uid, key=_uid)
        while members[i] is not pod:  # (only were UIDs not unique)
            i += 1
        del members[i]
        if not members:
            del self._groups[fields]


class ActivePodsPerNode:
    """How many active pods of all ReplicaSets each node runs: the "related pods" ActivePodsWithRanks
    counts, kept up to date from what changed instead of counted afresh at each scale-down.

    Pods new to a ReplicaSet are counted when first seen, pods the controller deletes are uncounted at
    once. A pod never becomes active again, so the counted pods are a superset of the active ones; when
    the totals differ, some pod left the active set otherwise and the counted ones are checked. (The
    ReplicaSets passed only ever grow in number: old ones are scaled to 0, never removed.)
    """

    def __init__(self) -> None:
        self.per_node: Counter[int] = Counter()
        self._counted: dict[Pod, None] = {}
        self._seen: dict[ReplicaSet, int] = {}  # how many of each ReplicaSet's pods were looked at

    def update(self, replicasets: Iterable[ReplicaSet]) -> Counter[int]:
        """The counts for the active pods of ``replicasets`` now."""
        total = 0
        for rs in replicasets:
            pods = rs.pods
            seen = self._seen.get(rs, 0)
            if len(pods) > seen:
                for pod in pods[seen:]:
                    if pod.active:
                        self._counted[pod] = None
                        self.per_node[pod.node] += 1
                self._seen[rs] = len(pods)
            total += rs.active_count
        if total != len(self._counted):
            for pod in [p for p in self._counted if not p.active]:
                self.uncount(pod)
        return self.per_node

    def uncount(self, pod: Pod) -> None:
        """``pod`` is no longer active."""
        if pod in self._counted:
            del self._counted[pod]
            self.per_node[pod.node] -= 1


class ReplicaSetController:
    """Keeps each ReplicaSet's active pods at spec.replicas and writes its status."""

    def __init__(self, api: ApiServer, *, make_pod: Callable[[ReplicaSet], Pod]) -> None:
        self.api = api
        self.make_pod = make_pod
        self.min_ready_s = api.scenario.workload.min_ready_seconds
        self.queues: dict[str, WorkQueue] = {}
        self.expectations = Expectations()
        self._observed: set[str] = set()  # pod UIDs the pod informer has delivered (its cache)
        self._per_node = ActivePodsPerNode()
        self._rankings: dict[str, DeletionRanking] = {}  # by ReplicaSet name, made at its first scale-down
        api.watch("replicaset", self._enqueue)
        api.watch("pod", self._on_pod)

    def adopt(self, rs: ReplicaSet) -> None:
        """Start managing ``rs``; the pods it already has are in the informer's initial list."""
        if rs.name not in self.queues:
            self.queues[rs.name] = WorkQueue(self.api.sched, lambda: self._sync(rs))
            self._observed.update(p.uid for p in rs.pods)

    def _enqueue(self, rs: ReplicaSet) -> None:
        self.adopt(rs)
        self.queues[rs.name].add()

    def _on_pod(self, pod: Pod) -> None:
        # the ReplicaSet whose add_pod took the pod is the one named pod.rs; a pod made without an owner is
        # looked up by name
        rs = pod.owner or next(r for r in self.api.replicasets if r.name == pod.rs)
        name, uid = rs.name, pod.uid
        added = uid not in self._observed
        self._observed.add(uid)
        if pod.deletion_s is not None or pod.gone:
            # updatePod with a deletionTimestamp, deletePod, and addPod of a pod already being deleted
            # all count as DeletionObserved (replica_set.go)
            self.expectations.deletion_observed(name, uid)
        elif added:
            self.expectations.creation_observed(name)  # addPod
        queue = self.queues.get(name)
        if queue is None:
            self.adopt(rs)
            queue = self.queues[name]
        queue.add()
        # updatePod: a pod that became Ready is re-checked minReadySeconds + 1 s later (§1.4).
        if pod.ready and self.min_ready_s > 0:
            self.queues[rs.name].add_after(self.min_ready_s + 1.0)

    def _sync(self, rs: ReplicaSet) -> float:
        api = self.api
        now = api.sched.now()
        diff = rs.active_count - rs.replicas
        busy_until = now
        if not self.expectations.satisfied(rs.name, now):
            # syncReplicaSet: manageReplicas only once the creates and deletes it made have been seen;
            # status is written either way
            diff = 0
        if diff < 0:
            self.expectations.expect_creations(rs.name, min(-diff, BURST_REPLICAS), now)
            start = now
            for batch in slow_start_batches(min(-diff, BURST_REPLICAS)):
                done = api.write_at(start, self._creator(rs, batch))
                start = done
            busy_until = start
        elif diff > 0:
            # the head of ActivePodsWithRanks' order, over the related pods per node (both kept cheap at
            # scale, where a scale-down happens for every few new pods; tests/test_replicaset_victims.py)
            related = self._per_node.update(api.replicasets)
            ranking = self._rankings.get(rs.name)
            if ranking is None:
                ranking = self._rankings[rs.name] = DeletionRanking()
            victims = ranking.victims(
                rs.active_pods(), min(diff, BURST_REPLICAS), now=now, related_per_node=related
            )
            self.expectations.expect_deletions(rs.name, [p.uid for p in victims], now)
            for pod in victims:
                # A graceful DELETE sets deletionTimestamp when the API server handles it (§4.1); the
                # latency is the controller's wait for the responses (the deletes run in parallel).
                self._delete(pod)
                self._per_node.uncount(pod)
                ranking.forget(pod)
                busy_until = max(busy_until, now + api.api_latency())
        # The status write is the sync's last step; it does not hold back the next spec change.
        self._write_status(rs, now)
        return busy_until - now

    def _creator(self, rs: ReplicaSet, count: int) -> Callable[[], None]:
        make_pod, api = self.make_pod, self.api

        def apply() -> None:
            for _ in range(count):
                pod = make_pod(rs)
                api.rec.emit(
                    "replicaset-controller", "PodCreated", f"pod/{pod.name}", replicaset=rs.name, ip=pod.ip
                )
                api.changed("pod", pod)

        return apply

    def _delete(self, pod: Pod) -> None:
        api = self.api
        pod.deletion_s = api.sched.now()
        api.rec.emit(
            "replicaset-controller",
            "PodDeleted",
            f"pod/{pod.name}",
            replicaset=pod.rs,
            grace_s=as_stored(api.scenario.workload, "termination_grace_period_seconds"),
        )
        api.changed("pod", pod)

    def _write_status(self, rs: ReplicaSet, now: float) -> float:
        replicas = rs.active_count
        ready = rs.active_ready
        min_ready = self.min_ready_s
        if min_ready == 0:
            available = ready  # Ready is available at once
        else:
            # the active pods with p.available(now, min_ready), counted from the ReplicaSet's ordered Ready
            # pods rather than a scan: a scan on every sync made large rollouts quadratic
            available = rs.active_available(now, min_ready)
            if ready == rs.replicas and available != rs.replicas:
                # syncReplicaSet's "last line of defense" requeue (§1.4)
                self.queues[rs.name].add_after(min_ready)
        if replicas == rs.status_replicas and ready == rs.status_ready and available == rs.status_available:
            return now

        # MODEL SIMPLIFICATION: the status write counts as committed when issued (its latency is folded
        # into the watch latency of those who read it), so status never lags the deletions just made.
        rs.status_replicas, rs.status_ready, rs.status_available = replicas, ready, available
        self.api.changed("replicaset", rs)
        return now
