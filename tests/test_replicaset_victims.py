"""The ReplicaSet controller's scale-down picks its victims without ranking every pod
(replicaset.DeletionRanking, kept from one scale-down to the next) and counts the related pods per node
from what changed (replicaset.ActivePodsPerNode). Both must give exactly what the full
ActivePodsWithRanks sort (deletion_order) over a fresh count gives: on random pod sets, on a pod set
changed at random between uses, and at every scale-down of real runs."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from rollsafe.control.api import Pod, ReplicaSet
from rollsafe.control.replicaset import ActivePodsPerNode, DeletionRanking, deletion_order, deletion_victims
from rollsafe.scenarios import load_builtin
from rollsafe.sim.scheduler import TieShufflingScheduler
from tests.conftest import run_cluster


def _random_pods(rnd: random.Random, n: int) -> list[Pod]:
    # few nodes and few distinct times, so that many pods tie on everything but the UID
    times = [-1e9, 0.0, 3.0, 3.5, 40.0, rnd.uniform(0, 50)]
    uids = rnd.sample(range(10**6), n)
    pods = []
    for i in range(n):
        pod = Pod(
            index=i,
            name=f"p{i}",
            uid=f"u{uids[i]:07d}",
            rs="rs",
            ip=f"10.0.0.{i}",
            node=rnd.randrange(4),
            created_s=rnd.choice(times),
            gated=False,
        )
        pod.scheduled = rnd.random() < 0.8
        pod.running = pod.scheduled and rnd.random() < 0.8
        pod.ready = pod.running and rnd.random() < 0.7
        pod.ready_since_s = rnd.choice(times) if pod.ready else -1e9
        pods.append(pod)
    return pods


@pytest.mark.parametrize("seed", range(40))
def test_victims_are_the_head_of_the_full_ranking(seed: int) -> None:
    rnd = random.Random(seed)
    pods = _random_pods(rnd, rnd.randrange(1, 80))  # both sides of replicaset._FEW_PODS
    related = Counter({node: rnd.randrange(0, 4) for node in range(4)})
    now = rnd.choice([50.0, 100.0, 1e4])
    full = deletion_order(pods, now=now, related_per_node=related)
    for count in range(len(pods) + 2):
        got = deletion_victims(pods, count, now=now, related_per_node=related)
        assert got == full[:count], f"count={count}"


@pytest.mark.parametrize("seed", range(12))
def test_a_kept_ranking_follows_every_change(seed: int) -> None:
    rnd = random.Random(seed)
    pods = _random_pods(rnd, 60)
    ranking = DeletionRanking()
    related = Counter({node: rnd.randrange(0, 4) for node in range(4)})
    for step in range(40):
        now = 100.0 + step
        count = rnd.randrange(1, 6)
        got = ranking.victims(pods, count, now=now, related_per_node=related)
        assert got == deletion_order(pods, now=now, related_per_node=related)[:count], f"step {step}"
        # the controller deletes the victims (and says so, or not); other pods change, or come
        for pod in got[: rnd.randrange(0, count + 1)]:
            pods.remove(pod)
            if rnd.random() < 0.8:
                ranking.forget(pod)
        for pod in rnd.sample(pods, min(len(pods), rnd.randrange(0, 3))):
            field = rnd.choice(["scheduled", "running", "ready", "ready_since_s", "node"])
            if field in ("scheduled", "running", "ready"):
                setattr(pod, field, not getattr(pod, field))
            elif field == "node":
                pod.node = rnd.randrange(4)
            else:
                pod.ready_since_s = now - rnd.choice([0.5, 3.0, 90.0])
        if rnd.random() < 0.3:
            fresh = _random_pods(rnd, rnd.randrange(1, 4))
            for i, pod in enumerate(fresh):  # UIDs unique among all the pods (and never changed)
                pod.uid = f"n{step:02d}{i}{pod.uid}"  # not a hooked field: a plain write
            pods.extend(fresh)
        if rnd.random() < 0.2:
            related[rnd.randrange(4)] += 1


def _rescan(replicasets: list[ReplicaSet]) -> Counter[int]:
    return Counter(p.node for r in replicasets for p in r.active_pods())


def _positive(c: Counter[int]) -> dict[int, int]:
    return {node: n for node, n in c.items() if n}


def test_per_node_counts_follow_pods_that_leave_unannounced() -> None:
    rs = ReplicaSet(name="rs", revision=1, created_s=0.0, replicas=3)
    other = ReplicaSet(name="other", revision=2, created_s=1.0, replicas=2)
    counts = ActivePodsPerNode()
    for i in range(5):
        owner = rs if i < 3 else other
        owner.add_pod(
            Pod(
                index=i,
                name=f"p{i}",
                uid=f"u{i}",
                rs=owner.name,
                ip="",
                node=i % 2,
                created_s=0.0,
                gated=False,
            )
        )
    assert _positive(counts.update([rs, other])) == {0: 3, 1: 2}
    rs.pods[0].terminal = True  # leaves the active set without the controller deleting it
    other.pods[1].deletion_s = 5.0
    assert _positive(counts.update([rs, other])) == _positive(_rescan([rs, other])) == {0: 1, 1: 2}
    rs.add_pod(Pod(index=5, name="p5", uid="u5", rs="rs", ip="", node=1, created_s=6.0, gated=False))
    counts.uncount(rs.pods[2])  # uncounting is idempotent with what update finds
    rs.pods[2].deletion_s = 7.0
    assert _positive(counts.update([rs, other])) == _positive(_rescan([rs, other])) == {1: 3}


SCENARIOS = [
    ("eks-alb-zero-downtime", ["workload.replicas=30", "workload.minReadySeconds=3"]),
    ("eks-alb-defaults", ["workload.replicas=40"]),
    (
        "eks-alb-defaults",
        ["workload.replicas=30", "app.onSigterm=ignore", "workload.readinessProbe={periodSeconds: 2}"],
    ),
    ("recreate", ["workload.replicas=12"]),
    ("eks-instance-mode", ["workload.replicas=20"]),
]


@pytest.mark.pure_only  # patches or subclasses control-plane code: see conftest.py
@pytest.mark.parametrize(("name", "sets"), SCENARIOS)
@pytest.mark.parametrize("shuffle", [None, 3])
def test_every_scale_down_picks_what_the_full_sort_picks(
    monkeypatch: pytest.MonkeyPatch, name: str, sets: list[str], shuffle: int | None
) -> None:
    checked = {"counts": 0, "victims": 0, "deleted": 0}
    update = ActivePodsPerNode.update

    def checked_update(self: ActivePodsPerNode, replicasets: Any) -> Counter[int]:
        replicasets = list(replicasets)
        got = update(self, replicasets)
        assert _positive(got) == _positive(_rescan(replicasets))
        checked["counts"] += 1
        return got

    victims = DeletionRanking.victims

    def checked_victims(
        self: DeletionRanking, pods: list[Pod], count: int, *, now: float, related_per_node: Counter[int]
    ) -> list[Pod]:
        got = victims(self, pods, count, now=now, related_per_node=related_per_node)
        assert got == deletion_order(pods, now=now, related_per_node=related_per_node)[:count]
        checked["victims"] += 1
        checked["deleted"] += len(got)
        return got

    monkeypatch.setattr(ActivePodsPerNode, "update", checked_update)
    monkeypatch.setattr(DeletionRanking, "victims", checked_victims)
    sc = load_builtin(name, sets)
    for seed in (1, 2):
        cluster = run_cluster(sc, seed, until=900.0, sched=TieShufflingScheduler(shuffle))
        assert cluster.settled()
    assert checked["counts"] == checked["victims"] >= 2
    assert checked["deleted"] >= 2 * sc.workload.replicas  # every old pod, in both runs
