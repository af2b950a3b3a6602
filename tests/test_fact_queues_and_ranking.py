"""Fact tables: the work queue's AddAfter (client-go delaying_queue) and the ReplicaSet controller's
deletion ranking (ActivePodsWithRanks.Less, kubernetes-rollout-mechanics.md §2.2)."""

from __future__ import annotations

from collections import Counter

from rollsafe.control.api import Pod
from rollsafe.control.replicaset import deletion_order, slow_start_batches
from rollsafe.control.scheduler import WorkQueue
from rollsafe.sim.scheduler import VirtualScheduler


def _queue() -> tuple[VirtualScheduler, WorkQueue, list[float]]:
    sched = VirtualScheduler()
    runs: list[float] = []

    def process() -> float:
        runs.append(sched.now())
        return 0.5

    return sched, WorkQueue(sched, process), runs


def test_add_after_keeps_one_waiting_entry_the_earliest() -> None:
    sched, queue, runs = _queue()
    queue.add_after(15)
    sched.call_at(3, lambda: queue.add_after(15))  # later than the one waiting: absorbed
    sched.call_at(4, lambda: queue.add_after(5))  # earlier: moves the entry to 9
    sched.run(until=100)
    assert runs == [9.0]


def test_adds_while_processing_run_once_more_afterwards() -> None:
    sched, queue, runs = _queue()
    queue.add()
    sched.call_at(0.1, queue.add)
    sched.call_at(0.2, queue.add)
    sched.run(until=10)
    assert runs == [0.0, 0.5]


def test_slow_start_batches_double() -> None:
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(1) == [1]


def _pod(i: int, **kw: object) -> Pod:
    pod = Pod(
        index=i, name=f"p{i}", uid=f"u{i}", rs="rs", ip=f"10.0.0.{i}", node=i, created_s=0.0, gated=False
    )
    pod.scheduled = pod.running = pod.ready = True
    for k, v in kw.items():
        setattr(pod, k, v)
    return pod


def test_deletion_ranking() -> None:
    now = 1000.0
    none: Counter[int] = Counter()
    pending = _pod(0, running=False, ready=False)
    unassigned = _pod(1, scheduled=False, running=False, ready=False)
    not_ready = _pod(2, ready=False)
    ready_long_ago = _pod(3, ready_since_s=0.0)
    ready_recently = _pod(4, ready_since_s=990.0)
    order = deletion_order(
        [ready_long_ago, ready_recently, not_ready, pending, unassigned], now=now, related_per_node=none
    )
    # unassigned, then pending, then not ready, then the more recently Ready
    assert [p.name for p in order] == ["p1", "p0", "p2", "p4", "p3"]


def test_doubled_up_pods_go_first() -> None:
    a, b = _pod(0, ready_since_s=0.0), _pod(1, ready_since_s=0.0)
    order = deletion_order([a, b], now=10.0, related_per_node=Counter({0: 1, 1: 3}))
    assert order[0] is b


def test_same_log_bucket_falls_back_to_uid() -> None:
    # ready 100 s and 101 s ago: the same log2 bucket of nanoseconds, so the UID decides
    a = _pod(0, ready_since_s=900.0, uid="zz")
    b = _pod(1, ready_since_s=899.0, uid="aa")
    assert [p.uid for p in deletion_order([a, b], now=1000.0, related_per_node=Counter())] == ["aa", "zz"]


def test_no_request_arrives_at_a_target_after_its_drain_deadline() -> None:
    # a node that lags in stopping new requests still stops when the deregistration delay ends, so a
    # drain-timeout is always a request that was already running then
    from rollsafe.model.causes import CODE
    from rollsafe.scenarios import builtin_text, load_text
    from rollsafe.sim.dataplane import Evaluator
    from rollsafe.sim.simulate import run_control_plane

    sc = load_text(
        builtin_text("eks-alb-zero-downtime"),
        source="x",
        overrides=["loadBalancer.deregistrationDelaySeconds=0"],
    )
    cp = run_control_plane(sc, 1)
    windows = cp.windows()
    traffic = Evaluator(
        sc, cp.views, windows, rngs=cp.traffic_rngs(), duration_s=cp.duration_s, keep_requests=True
    ).run()
    req = traffic.requests
    assert req is not None
    routed = req["target"] >= 0
    deadline = windows.drain_deadline[req["target"][routed]]
    assert (req["t"][routed] < deadline).all()
    drained = req["code"] == CODE["drain-timeout"]
    assert drained.sum() > 0  # requests in flight when a zero delay ends are cut
