"""The Deployment controller: fenceposts, one scaling action per sync, RollingUpdate and Recreate.

Follows pkg/controller/deployment (rolling.go, recreate.go, util/deployment_util.go); the fact sheet is
shared/reference/kubernetes-rollout-mechanics.md §1. Pure decisions are plain functions so they are
table-testable; DeploymentController wires them to the API server.
"""

from __future__ import annotations

from bisect import insort
from typing import Final, NamedTuple

from rollsafe.control.api import ApiServer, ReplicaSet
from rollsafe.control.scheduler import WorkQueue


def resolve_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """intstrutil.GetValueFromIntOrPercent: percentages scale ``total``, rounding up or down."""
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%"))
    # integer arithmetic, so 25% of 10 rounds from exactly 2.5 (Go uses math.Ceil/Floor on the product)
    return -((-pct * total) // 100) if round_up else (pct * total) // 100


def resolve_fenceposts(max_surge: int | str, max_unavailable: int | str, replicas: int) -> tuple[int, int]:
    """ResolveFenceposts: surge rounds up, unavailable rounds down, both zero makes unavailable 1.

    deployment_util.go ResolveFenceposts (§1.1). MaxUnavailable is capped at replicas.
    """
    surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def new_rs_new_replicas(*, replicas: int, max_surge: int, all_spec: int, new_spec: int) -> int:
    """NewRSNewReplicas for RollingUpdate: how big the new ReplicaSet may become now (§1.3)."""
    max_total = replicas + max_surge
    if all_spec >= max_total:
        return new_spec
    scale_up = min(max_total - all_spec, replicas - new_spec)
    return new_spec + max(scale_up, 0)


class RsView(NamedTuple):
    """What the rolling-update arithmetic reads of a ReplicaSet."""

    name: str
    created_s: float
    spec: int
    available: int


def plan_old_scale_down(
    *, replicas: int, max_unavailable: int, new: RsView, olds: list[RsView]
) -> dict[str, int]:
    """reconcileOldReplicaSets: the new spec.replicas of each old RS this sync changes (§1.3).

    (1) cleanupUnhealthyReplicas: oldest first, remove only the unavailable surplus;
    (2) scaleDownOldReplicaSetsForRollingUpdate: oldest first, down to minAvailable.
    """
    old_spec = sum(r.spec for r in olds)
    if old_spec == 0:
        return {}
    all_spec = old_spec + new.spec
    min_available = replicas - max_unavailable
    new_unavailable = new.spec - new.available
    max_scaled_down = all_spec - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    specs = {r.name: r.spec for r in olds}
    before = dict(specs)
    ordered = sorted(olds, key=lambda r: (r.created_s, r.name))
    cleaned = 0
    for r in ordered:
        if cleaned >= max_scaled_down:
            break
        if specs[r.name] == 0 or specs[r.name] == r.available:
            continue
        down = min(max_scaled_down - cleaned, specs[r.name] - r.available)
        if down < 0:
            # status says more available than spec (stale): the controller returns an error
            # ("when cleaning up unhealthy replicas, got invalid request to scale down") and this sync
            # scales nothing
            return {}
        specs[r.name] -= down
        cleaned += down
    # scaleDownOldReplicaSetsForRollingUpdate reads status.availableReplicas of all RSs
    available = new.available + sum(r.available for r in olds)
    if available > min_available:
        remaining = available - min_available
        for r in ordered:
            if remaining <= 0:
                break
            if specs[r.name] == 0:
                continue
            down = min(specs[r.name], remaining)
            specs[r.name] -= down
            remaining -= down
    return {name: spec for name, spec in specs.items() if spec != before[name]}


class _Seen(NamedTuple):
    """A ReplicaSet as the Deployment controller's informer last delivered it."""

    rs: ReplicaSet
    spec: int
    status_replicas: int
    available: int

    def view(self) -> RsView:
        return RsView(
            name=self.rs.name, created_s=self.rs.created_s, spec=self.spec, available=self.available
        )


class DeploymentController:
    """Syncs the one Deployment whenever one of its ReplicaSets changes.

    It reads ReplicaSets only as its informer last delivered them (``seen``), never the store directly, so
    it learns of its own scaling through the watch, like the ReplicaSet controller. A scaling write based
    on a stale read is refused as a conflict (``_scale``), so a sync that runs before its informer caught up
    can never scale twice, whatever the order of equal-time events.
    """

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        sc = api.scenario
        self.replicas = sc.workload.replicas
        self.strategy = sc.workload.strategy.type
        self.max_surge, self.max_unavailable = resolve_fenceposts(
            sc.workload.strategy.max_surge, sc.workload.strategy.max_unavailable, self.replicas
        )
        if self.strategy == "Recreate":
            self.max_surge, self.max_unavailable = 0, self.replicas
        self.new_name = f"{sc.workload.name}-{NEW_HASH}"
        self.new_rs: ReplicaSet | None = None
        self.seen: dict[str, _Seen] = {}
        self._old_names: list[str] = []  # the keys of ``seen`` but the new ReplicaSet's, sorted
        self.complete_s: float | None = None
        self.steps = 0
        self.queue = WorkQueue(api.sched, self._sync)
        api.watch("replicaset", self._on_rs)
        # Recreate waits for old pods to stop running: deletePod enqueues it (§1.7); only Recreate.
        if self.strategy == "Recreate":
            api.watch("pod-deleted", lambda _pod: self.queue.add())

    def _observe(self, rs: ReplicaSet) -> None:
        name = rs.name
        if name not in self.seen and name != self.new_name:
            insort(self._old_names, name)
        self.seen[name] = _Seen(rs, rs.replicas, rs.status_replicas, rs.status_available)

    def _on_rs(self, rs: ReplicaSet) -> None:
        self._observe(rs)
        self.queue.add()

    def start_rollout(self) -> None:
        """The pod template changed (kubectl set image): the controller hears of it after a watch delay."""
        for rs in self.api.replicasets:
            self._observe(rs)
        self.api.rec.emit("kubectl", "RolloutStarted", f"deployment/{self.api.scenario.workload.name}")
        self.api.sched.call_at(self.api.sched.now() + self.api.watch_latency(), self.queue.add)

    # -- one sync ---------------------------------------------------------------------------------
    def _sync(self) -> float:
        now = self.api.sched.now()
        seen = self.seen
        olds = [seen[name] for name in self._old_names]  # by name, as a sorted scan of ``seen`` gives
        new = seen.get(self.new_name)
        if self.new_rs is not None and new is None:
            return 0.0  # created, not yet seen: the watch event will bring us back
        if self.strategy == "Recreate":
            return self._sync_recreate(now, olds, new)
        if new is None:
            size = new_rs_new_replicas(
                replicas=self.replicas,
                max_surge=self.max_surge,
                all_spec=sum(s.spec for s in olds),
                new_spec=0,
            )
            return self._create_new_rs(now, size)
        all_spec = new.spec + sum(s.spec for s in olds)
        # reconcileNewReplicaSet
        if new.spec > self.replicas:
            return self._scale(now, new.rs, new.spec, self.replicas)
        if new.spec < self.replicas:
            target = new_rs_new_replicas(
                replicas=self.replicas, max_surge=self.max_surge, all_spec=all_spec, new_spec=new.spec
            )
            if target != new.spec:
                return self._scale(now, new.rs, new.spec, target)
        # reconcileOldReplicaSets
        plan = plan_old_scale_down(
            replicas=self.replicas,
            max_unavailable=self.max_unavailable,
            new=new.view(),
            olds=[s.view() for s in olds if s.spec > 0],
        )
        busy = 0.0
        for s in olds:
            if s.rs.name in plan:
                busy = max(busy, self._scale(now, s.rs, s.spec, plan[s.rs.name]))
        if busy == 0.0:
            self._check_complete(now, olds, new)
        return busy

    def _sync_recreate(self, now: float, olds: list[_Seen], new: _Seen | None) -> float:
        # rolloutRecreate (§1.7): scale every old RS to 0; wait until no old pod runs; then the new RS.
        busy = 0.0
        for s in olds:
            if s.spec > 0:
                busy = max(busy, self._scale(now, s.rs, s.spec, 0))
        if busy > 0:
            return busy
        if any(not p.gone and not p.terminal for s in olds for p in s.rs.pods):
            return 0.0
        if new is None:
            return self._create_new_rs(now, self.replicas)
        if new.spec != self.replicas:
            return self._scale(now, new.rs, new.spec, self.replicas)
        self._check_complete(now, olds, new)
        return 0.0

    def _create_new_rs(self, now: float, size: int) -> float:
        api = self.api
        rs = ReplicaSet(name=self.new_name, revision=2, created_s=now, replicas=0)
        self.new_rs = rs

        def apply() -> None:
            rs.created_s = api.sched.now()
            rs.replicas = size
            api.replicasets.append(rs)
            self.steps += 1
            api.rec.emit(
                "deployment-controller", "ScalingReplicaSet", f"replicaset/{rs.name}", old=0, new=size
            )
            api.changed("replicaset", rs)

        return api.write_at(now, apply) - now

    def _scale(self, now: float, rs: ReplicaSet, seen_spec: int, to: int) -> float:
        api = self.api

        def apply() -> None:
            if rs.replicas != seen_spec:
                # The update carried a stale resourceVersion: the API server answers 409 Conflict and
                # nothing changes; the controller retries once its informer has the newer object.
                # MODEL SIMPLIFICATION: only a spec change counts as newer.
                return
            rs.replicas = to
            self.steps += 1
            api.rec.emit(
                "deployment-controller", "ScalingReplicaSet", f"replicaset/{rs.name}", old=seen_spec, new=to
            )
            api.changed("replicaset", rs)

        return api.write_at(now, apply) - now

    def _check_complete(self, now: float, olds: list[_Seen], new: _Seen | None) -> None:
        # DeploymentComplete: updated == replicas == available == spec.replicas, no old replicas (§1.5).
        if self.complete_s is not None or new is None:
            return
        if (
            new.spec == self.replicas
            and new.available == self.replicas
            and all(s.spec == 0 and s.status_replicas == 0 for s in olds)
        ):
            self.complete_s = now
            self.api.rec.emit(
                "deployment-controller",
                "RolloutComplete",
                f"deployment/{self.api.scenario.workload.name}",
                reason="NewReplicaSetAvailable",
            )


OLD_HASH: Final = "5d8c7b9f6d"
NEW_HASH: Final = "7f6b9d4c8e"
