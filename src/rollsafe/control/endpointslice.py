"""The EndpointSlice controller: which pods are endpoints of the Service, with ready/serving/terminating.

staging/src/k8s.io/endpointslice/utils.go podToEndpoint and ShouldPodBeInEndpoints(pod, true)
(kubernetes-rollout-mechanics.md §4.5, §5): terminating pods stay in the slice until the pod object is
gone or terminal; ``ready`` is never true while terminating. Pod changes are batched by
--endpointslice-updates-batch-period (default 0) and coalesce in the work queue.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final

from rollsafe.control.api import ApiServer, Endpoint, Pod
from rollsafe.control.scheduler import Sampler, Streams, WorkQueue

_by_index: Final = attrgetter("index")  # api.pods order


def endpoint_for(pod: Pod) -> Endpoint | None:
    """podToEndpoint, or None when ShouldPodBeInEndpoints(pod, includeTerminating=true) is false."""
    if pod.gone or pod.terminal or not pod.has_ip:
        return None
    serving = pod.serving
    terminating = pod.deletion_s is not None
    return Endpoint(pod=pod, ready=serving and not terminating, serving=serving, terminating=terminating)


class EndpointSliceController:
    def __init__(self, api: ApiServer, streams: Streams) -> None:
        self.api = api
        self.lag = Sampler(streams, "endpointslice/lag", api.scenario.cluster.endpoint_slice_lag_seconds)
        self.queue = WorkQueue(api.sched, self._sync)
        api.watch("pod", lambda _pod: self.queue.add())
        # What a full rescan of api.pods would give at the last sync (in api.pods order), kept up to date
        # in place from the pods changed since, as the real controller's queue holds only changed keys:
        # new pods, and those whose endpoint fields were written (Pod.touched). The controller's own copy;
        # api.endpoints (the written slice) is a separate dict, changed in place when a write lands.
        self._desired: dict[str, Endpoint] = {}
        self._seen = 0  # api.pods[:_seen] are tracked
        self._touched: set[Pod] = set()
        # the pods whose entry in _desired may differ from api.endpoints (a superset: checked by value)
        self._diff: set[Pod] = set()
        self._pending = 0  # slice writes issued, not yet landed
        self._derived = 0  # how many derives changed _desired

    def _derive(self) -> dict[str, Endpoint]:
        """podToEndpoint over every pod, as a rescan would give it, from the pods changed since last time."""
        pods = self.api.pods
        if len(pods) == self._seen:
            if not self._touched:
                return self._desired  # nothing changed since the last derive
            fresh: list[Pod] = []
        else:
            fresh = pods[self._seen :]
            self._seen = len(pods)
            for pod in fresh:
                pod.touched = self._touched
        changed = sorted(self._touched.union(fresh), key=_by_index)
        self._touched.clear()
        desired = self._desired
        updates: list[tuple[Pod, Endpoint | None]] = []
        for pod in changed:
            ep = endpoint_for(pod)
            old = desired.get(pod.uid)
            if ep is None:
                if old is not None:
                    updates.append((pod, None))
            elif old is None or old != ep:  # an equal endpoint keeps the object already there
                updates.append((pod, ep))
        if updates:
            _merge(desired, updates)
            self._diff.update(pod for pod, _ep in updates)
            self._derived += 1
        return desired

    def _sync(self) -> float:
        api = self.api
        now = api.sched.now()
        desired = self._derive()
        written = api.endpoints
        # desired == api.endpoints, looking only where they may differ (the same object is equal)
        diff = sorted(
            (
                p
                for p in self._diff
                if (want := desired.get(p.uid)) is not (has := written.get(p.uid)) and want != has
            ),
            key=_by_index,
        )
        if not diff:
            if not self._pending:
                self._diff.clear()
            return 0.0
        updates = [(pod, desired.get(pod.uid)) for pod in diff]
        derived = self._derived
        self._pending += 1

        def apply() -> None:
            # api.endpoints becomes the slice derived at the sync: it differs from it only at `updates`
            old = api.endpoints
            changes = []
            removed = []
            for pod, ep in updates:
                was = old.get(pod.uid)
                if ep is None:
                    if was is not None:
                        removed.append(was)
                elif was is not ep and was != ep:
                    changes.append(ep)
            _merge(old, updates)
            api.endpoint_writes.extend(pod for pod, _ep in updates)
            self._pending -= 1
            if not self._pending and self._derived == derived:
                self._diff.clear()  # api.endpoints == _desired again
            api.slice_version += 1
            for ep in changes:
                api.rec.emit(
                    "endpointslice-controller",
                    "EndpointUpdated",
                    f"pod/{ep.pod.name}",
                    ip=ep.pod.ip,
                    ready=ep.ready,
                    serving=ep.serving,
                    terminating=ep.terminating,
                )
            for ep in removed:
                api.rec.emit(
                    "endpointslice-controller", "EndpointRemoved", f"pod/{ep.pod.name}", ip=ep.pod.ip
                )
            api.changed("endpointslice", api.slice_version)

        return api.write_at(now + self.lag(), apply) - now


def _merge(slice_: dict[str, Endpoint], updates: list[tuple[Pod, Endpoint | None]]) -> None:
    """Write ``updates`` (in pod order; None removes) into ``slice_``, a dict in pod order, keeping that
    order: a new entry goes where a rescan of api.pods would put it."""
    inserts: list[Endpoint] = []
    for pod, ep in updates:
        if ep is None:
            slice_.pop(pod.uid, None)
        elif pod.uid in slice_:
            slice_[pod.uid] = ep  # same key: keeps its place
        else:
            inserts.append(ep)
    if not inserts:
        return
    # lift off the (few, recent) entries of later pods once, then put both back in pod order
    first = inserts[0].pod.index
    tail: list[Endpoint] = []
    while slice_ and next(reversed(slice_.values())).pod.index > first:
        tail.append(slice_.popitem()[1])
    tail.reverse()
    i = 0
    for ep in inserts:
        while i < len(tail) and tail[i].pod.index < ep.pod.index:
            slice_[tail[i].pod.uid] = tail[i]
            i += 1
        slice_[ep.pod.uid] = ep
    for ep in tail[i:]:
        slice_[ep.pod.uid] = ep
