"""The rollout invariants, checked after every control-plane event on any Scheduler.

Shared by the shuffled-tie and asyncio tests. They re-derive every count from the pods themselves, never
from the controllers' status fields or fenceposts, so a controller that miscounts cannot hide it.
"""

from __future__ import annotations

from rollsafe.control.cluster import Cluster
from rollsafe.control.deployment import resolve_int_or_percent
from rollsafe.control.lb_controller import select_endpoints
from rollsafe.control.target_group import TARGET_PORT
from rollsafe.model.scenario import Scenario


def fenceposts(sc: Scenario) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers, resolved here independently of the controller."""
    replicas = sc.workload.replicas
    strategy = sc.workload.strategy
    if strategy.type == "Recreate":
        return 0, replicas
    surge = resolve_int_or_percent(strategy.max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(strategy.max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


class RolloutInvariants:
    """Call ``check()`` after every event; it raises AssertionError naming the event's time."""

    def __init__(self, cluster: Cluster, label: str = "") -> None:
        self.cluster = cluster
        self.label = label
        sc = cluster.scenario
        self.replicas = sc.workload.replicas
        self.min_ready_s = sc.workload.min_ready_seconds
        self.max_surge, self.max_unavailable = fenceposts(sc)
        self.max_active = 0
        self.min_available = self.replicas
        self.registrations = 0
        self._events_seen = len(cluster.rec.events)

    def check(self) -> None:
        cluster = self.cluster
        now = cluster.sched.now()
        # FilterActivePods: not terminating, not terminal, not gone
        active = [p for p in cluster.api.pods if p.deletion_s is None and not p.terminal and not p.gone]
        available = sum(
            1
            for p in active
            if p.ready and (p.ready_since_s + self.min_ready_s <= now or not self.min_ready_s)
        )
        self.max_active = max(self.max_active, len(active))
        self.min_available = min(self.min_available, available)
        where = f"{self.label} t={now:.6f}"
        assert len(active) <= self.replicas + self.max_surge, (
            f"{where}: {len(active)} active pods, more than {self.replicas} + maxSurge {self.max_surge}: "
            + ", ".join(p.name for p in active)
        )
        assert available >= self.replicas - self.max_unavailable, (
            f"{where}: {available} available pods, fewer than {self.replicas} - "
            f"maxUnavailable {self.max_unavailable}"
        )
        self._check_registrations(where)

    def _check_registrations(self, where: str) -> None:
        """A target registered in this event is a pod the EndpointSlice selects right now."""
        events = self.cluster.rec.events
        new = events[self._events_seen :]
        self._events_seen = len(events)
        for ev in new:
            if ev.kind != "TargetRegistered":
                continue
            self.registrations += 1
            ip = ev.object.removeprefix("target/").removesuffix(f":{TARGET_PORT}")
            selected = {p.ip for p in select_endpoints(list(self.cluster.api.endpoints.values()))}
            assert ip in selected, f"{where}: target {ip} registered but not an endpoint the LB selects"

    def assert_completed(self) -> None:
        cluster = self.cluster
        assert cluster.deployment.complete_s is not None, f"{self.label}: the rollout never completed"
        assert cluster.settled(), f"{self.label}: the rollout completed but never settled"
        new = cluster.new_pods()
        assert len(new) == self.replicas, f"{self.label}: {len(new)} new pods at the end"
        assert all(p.ready for p in new), f"{self.label}: a new pod is not Ready at the end"
