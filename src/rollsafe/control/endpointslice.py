"""The EndpointSlice controller: which pods are endpoints of the Service, with ready/serving/terminating.

staging/src/k8s.io/endpointslice/utils.go podToEndpoint and ShouldPodBeInEndpoints(pod, true)
(kubernetes-rollout-mechanics.md §4.5, §5): terminating pods stay in the slice until the pod object is
gone or terminal; ``ready`` is never true while terminating. Pod changes are batched by
--endpointslice-updates-batch-period (default 0) and coalesce in the work queue.
"""

from __future__ import annotations

from rollsafe.control.api import ApiServer, Endpoint, Pod
from rollsafe.control.scheduler import Sampler, Streams, WorkQueue


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
        # from the pods changed since: new ones, and those whose endpoint fields were written (Pod.touched).
        # Never mutated once handed out: a sync with changes works on a copy.
        self._desired: dict[str, Endpoint] = {}
        self._seen = 0  # api.pods[:_seen] are tracked
        self._touched: set[Pod] = set()

    def _derive(self) -> dict[str, Endpoint]:
        """podToEndpoint over every pod, as a rescan would give it, from the pods changed since last time."""
        api = self.api
        fresh = api.pods[self._seen :]
        self._seen = len(api.pods)
        for pod in fresh:
            pod.touched = self._touched
        if not self._touched and not fresh:
            return self._desired
        changed = sorted(self._touched.union(fresh), key=lambda p: p.index)
        self._touched.clear()
        desired = dict(self._desired)
        for pod in changed:
            ep = endpoint_for(pod)
            if ep is None:
                desired.pop(pod.uid, None)
                continue
            old = desired.get(pod.uid)
            if old is None:
                # insert in pod order: lift off the (few, recent) entries of later pods, put them back after
                tail = []
                while desired and next(reversed(desired.values())).pod.index > pod.index:
                    tail.append(desired.popitem())
                desired[pod.uid] = ep
                desired.update(reversed(tail))
            elif old != ep:
                desired[pod.uid] = ep  # same key: keeps its place
        self._desired = desired
        return desired

    def _sync(self) -> float:
        api = self.api
        now = api.sched.now()
        desired = self._derive()
        if desired == api.endpoints:
            return 0.0

        def apply() -> None:
            old = api.endpoints
            changes = []
            for uid, ep in desired.items():
                was = old.get(uid)
                if was is not ep and was != ep:
                    changes.append(ep)
            removed = [ep for uid, ep in old.items() if uid not in desired]
            api.endpoints = desired
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
