"""kube-proxy on each worker node: which endpoints a NodePort connection may be DNATed to.

Used for ``instance`` targets, where the ALB sends to a node and kube-proxy picks a pod at random
(iptables mode). KEP-1669 (ProxyTerminatingEndpoints, GA 1.28): use ready non-terminating endpoints; if
there are none, the serving terminating ones (kubernetes-rollout-mechanics.md §4.5, §6). Rules change
after the EndpointSlice watch plus up to minSyncPeriod (1 s) and the sync itself.
"""

from __future__ import annotations

from rollsafe.control.api import ApiServer, Endpoint
from rollsafe.control.routing import RoutingView
from rollsafe.control.scheduler import Sampler, Streams


def proxy_targets(endpoints: list[Endpoint]) -> list[int]:
    """The pod indices kube-proxy load-balances over, given the slice's endpoints."""
    ready = [ep.pod.index for ep in endpoints if ep.ready and not ep.terminating]
    if ready:
        return sorted(ready)
    return sorted(ep.pod.index for ep in endpoints if ep.serving and ep.terminating)


class KubeProxy:
    def __init__(self, api: ApiServer, streams: Streams, *, node: int, view: RoutingView) -> None:
        self.api = api
        self.node = node
        self.view = view
        self.sync_delay = Sampler(streams, f"kube-proxy/{node}", api.scenario.cluster.kube_proxy_sync_seconds)
        self._pending = False
        api.watch("endpointslice", lambda _v: self._on_slice())

    def _on_slice(self) -> None:
        if self._pending:
            return  # the pending sync will read the newest slice
        self._pending = True
        self.api.sched.call_at(self.api.sched.now() + self.sync_delay(), self._sync)

    def _sync(self) -> None:
        self._pending = False
        targets = proxy_targets(list(self.api.endpoints.values()))
        if self.view.set(self.api.sched.now(), targets):
            self.api.rec.emit("kube-proxy", "RulesSynced", f"node/node-{self.node}", endpoints=len(targets))
