"""The ReplicaSet controller: slow-start creation batches, ranked deletion, status with availability.

Follows pkg/controller/replicaset/replica_set.go manageReplicas and controller_utils.go
ActivePodsWithRanks (kubernetes-rollout-mechanics.md §2). Nothing here decides rollout pace; the
Deployment controller does, by setting spec.replicas.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from rollsafe.control.api import ApiServer, Pod, ReplicaSet
from rollsafe.control.scheduler import WorkQueue

BURST_REPLICAS = 500  # replica_set.go BurstReplicas
SLOW_START_INITIAL_BATCH = 1  # controller.SlowStartInitialBatchSize


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


class ReplicaSetController:
    """Keeps each ReplicaSet's active pods at spec.replicas and writes its status."""

    def __init__(self, api: ApiServer, *, make_pod: Callable[[ReplicaSet], Pod]) -> None:
        self.api = api
        self.make_pod = make_pod
        self.min_ready_s = api.scenario.workload.min_ready_seconds
        self.queues: dict[str, WorkQueue] = {}
        api.watch("replicaset", self._enqueue)
        api.watch("pod", self._on_pod)

    def adopt(self, rs: ReplicaSet) -> None:
        if rs.name not in self.queues:
            self.queues[rs.name] = WorkQueue(self.api.sched, lambda: self._sync(rs))

    def _enqueue(self, rs: ReplicaSet) -> None:
        self.adopt(rs)
        self.queues[rs.name].add()

    def _on_pod(self, pod: Pod) -> None:
        rs = next(r for r in self.api.replicasets if r.name == pod.rs)
        self._enqueue(rs)
        # updatePod: a pod that became Ready is re-checked minReadySeconds + 1 s later (§1.4).
        if pod.ready and self.min_ready_s > 0:
            self.queues[rs.name].add_after(self.min_ready_s + 1.0)

    def _sync(self, rs: ReplicaSet) -> float:
        api = self.api
        now = api.sched.now()
        active = rs.active_pods()
        diff = len(active) - rs.replicas
        busy_until = now
        if diff < 0:
            start = now
            for batch in slow_start_batches(min(-diff, BURST_REPLICAS)):
                done = api.write_at(start, self._creator(rs, batch))
                start = done
            busy_until = start
        elif diff > 0:
            related = Counter(p.node for r in api.replicasets for p in r.pods if p.active)
            victims = deletion_order(active, now=now, related_per_node=related)[: min(diff, BURST_REPLICAS)]
            for pod in victims:
                # A graceful DELETE sets deletionTimestamp when the API server handles it (§4.1); the
                # latency is the controller's wait for the responses (the deletes run in parallel).
                self._deleter(pod)()
                busy_until = max(busy_until, now + api.api_latency())
        # The status write is the sync's last step; it does not hold back the next spec change.
        self._write_status(rs, now)
        return busy_until - now

    def _creator(self, rs: ReplicaSet, count: int) -> Callable[[], None]:
        def apply() -> None:
            for _ in range(count):
                pod = self.make_pod(rs)
                self.api.rec.emit(
                    "replicaset-controller", "PodCreated", f"pod/{pod.name}", replicaset=rs.name, ip=pod.ip
                )
                self.api.changed("pod", pod)

        return apply

    def _deleter(self, pod: Pod) -> Callable[[], None]:
        def apply() -> None:
            pod.deletion_s = self.api.sched.now()
            self.api.rec.emit(
                "replicaset-controller",
                "PodDeleted",
                f"pod/{pod.name}",
                replicaset=pod.rs,
                grace_s=self.api.scenario.workload.termination_grace_period_seconds,
            )
            self.api.changed("pod", pod)

        return apply

    def _write_status(self, rs: ReplicaSet, now: float) -> float:
        active = rs.active_pods()
        replicas = len(active)
        ready = sum(p.ready for p in active)
        min_ready = self.min_ready_s
        available = (
            ready if min_ready == 0 else sum(p.ready and p.ready_since_s + min_ready <= now for p in active)
        )
        if ready == rs.replicas and available != rs.replicas and self.min_ready_s > 0:
            # syncReplicaSet's "last line of defense" requeue (§1.4)
            self.queues[rs.name].add_after(self.min_ready_s)
        if (replicas, ready, available) == (rs.status_replicas, rs.status_ready, rs.status_available):
            return now

        # MODEL SIMPLIFICATION: the status write counts as committed when issued (its latency is folded
        # into the watch latency of those who read it), so status never lags the deletions just made.
        rs.status_replicas, rs.status_ready, rs.status_available = replicas, ready, available
        self.api.changed("replicaset", rs)
        return now
