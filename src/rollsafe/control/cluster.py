"""Wires the control plane together on any Scheduler: the API server, the Deployment, ReplicaSet and
EndpointSlice controllers, the kubelet and the (simulated) app it runs, kube-proxy or the LB controller,
and the ALB target group.

It also seeds the steady state before the rollout (every old pod Ready, registered, healthy) and says
when everything has settled. It never reads a clock: the caller drives the Scheduler.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from rollsafe.control.api import ApiServer, Endpoint, Pod, Recorder, ReplicaSet
from rollsafe.control.app import SimulatedApp
from rollsafe.control.deployment import OLD_HASH, DeploymentController
from rollsafe.control.endpointslice import EndpointSliceController
from rollsafe.control.kube_proxy import KubeProxy, proxy_targets
from rollsafe.control.kubelet import Kubelet
from rollsafe.control.lb_controller import LbController
from rollsafe.control.replicaset import ReplicaSetController
from rollsafe.control.routing import RoutingView
from rollsafe.control.scheduler import Scheduler, Streams
from rollsafe.control.target_group import TargetGroup
from rollsafe.model.scenario import Scenario

BEFORE: Final = -1e9  # "since long before the rollout"
_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses in generated names
# byte i -> the i-th character of _ALPHABET, for bytes.translate
_UID_CHARS: Final = bytes.maketrans(bytes(range(len(_ALPHABET))), _ALPHABET.encode("ascii"))


class Cluster:
    def __init__(self, sched: Scheduler, streams: Streams, scenario: Scenario) -> None:
        self.scenario = scenario
        self.sched = sched
        self.rec = Recorder(sched)
        self.api = ApiServer(sched, streams, scenario, self.rec)
        self._uid_rng = streams.rng("pods/uid")
        self._uid_text = ""  # UID characters drawn ahead, handed out 16 at a time from _uid_at (_make_pod)
        self._uid_at = 0
        # pods' worth of UIDs in the first block: a rollout makes about twice the replicas (the old pods
        # and their replacements), so a small run draws once; each later block twice the last, up to 256
        self._uid_block = min(max(2 * scenario.workload.replicas, 16), 256)
        self._streams = streams
        self.instance_mode = scenario.load_balancer.target_type == "instance"
        # Subscription order only decides the order of equal-time events on a FIFO scheduler (and so the
        # goldens); correctness does not depend on it (tests/test_shuffled_ties.py).
        self.rs_controller = ReplicaSetController(self.api, make_pod=self._make_pod)
        self.deployment = DeploymentController(self.api)
        self.app = SimulatedApp(self.api, streams)
        self.kubelet = Kubelet(self.api, streams, self.app)
        self.endpointslices = EndpointSliceController(self.api, streams)
        self.target_group = TargetGroup(self.api, streams, self.app)
        self.views: list[RoutingView]
        self.lb_controller: LbController | None = None
        self.proxies: list[KubeProxy] = []
        if self.instance_mode:
            self.views = [RoutingView(f"node-{n}", "random") for n in range(scenario.cluster.nodes)]
            self.proxies = [KubeProxy(self.api, streams, node=n, view=v) for n, v in enumerate(self.views)]
        else:
            self.views = self.target_group.views
            self.lb_controller = LbController(self.api, streams, self.target_group)
        # the old pods not yet seen gone with their IP released (settled()), for ReplicaSet _old_for
        self._old_for: str | None = None
        self._old_seen = 0
        self._old_left: list[Pod] = []
        self._seed_steady_state()

    # -- pods ---------------------------------------------------------------------------------------
    def _make_pod(self, rs: ReplicaSet) -> Pod:
        api = self.api
        index = len(api.pods)
        at = self._uid_at
        if at >= len(self._uid_text):
            # The same characters as 16 draws per pod: numpy's bounded integers take 32-bit words from
            # the bit generator, which keeps the unused half of a 64-bit output between calls, so how the
            # draws are split into calls does not change them (tests/test_units.py checks it). Blocks
            # grow, so a small run draws few it does not use; the codes become characters in one step.
            codes = self._uid_rng.integers(0, len(_ALPHABET), 16 * self._uid_block)
            self._uid_text = codes.astype(np.uint8).tobytes().translate(_UID_CHARS).decode("ascii")
            self._uid_block = min(2 * self._uid_block, 256)
            at = 0
        uid = self._uid_text[at : at + 16]
        self._uid_at = at + 16
        # MODEL ASSUMPTION: the scheduler spreads the Deployment's pods over the nodes in turn
        node = index % self.scenario.cluster.nodes
        pod = Pod(
            index=index,
            name=f"{rs.name}-{uid[:5]}",
            uid=uid,
            rs=rs.name,
            ip=f"10.0.{16 + index // 250}.{4 + index % 250}",
            node=node,
            created_s=self.sched.now(),
            gated=self.scenario.workload.readiness_gate and rs.revision > 1,
        )
        api.pods.append(pod)
        rs.add_pod(pod)
        return pod

    def _seed_steady_state(self) -> None:
        sc = self.scenario
        old = ReplicaSet(
            name=f"{sc.workload.name}-{OLD_HASH}", revision=1, created_s=BEFORE, replicas=sc.workload.replicas
        )
        self.api.replicasets.append(old)
        # the old pods' probe phases are spread over a period, not aligned with the rollout: one draw per
        # old pod, in pod order (an array of uniform draws is the same floats as drawing them one by one)
        period = sc.workload.readiness_probe.period_seconds if sc.workload.readiness_probe else 1.0
        phases = self._streams.rng("kubelet/probe-phase").uniform(0, period, sc.workload.replicas).tolist()
        for phase in phases:
            pod = self._make_pod(old)
            pod.created_s = BEFORE
            pod.has_ip = pod.containers_ready = pod.ready = pod.serving = True
            pod.gate_true = pod.gated
            pod.ready_since_s = BEFORE
            self.app.already_listening(pod, BEFORE)
            self.kubelet.adopt_running(pod, started_s=BEFORE + phase)
            self.api.endpoints[pod.uid] = Endpoint(pod=pod, ready=True, serving=True, terminating=False)
            if not self.instance_mode:
                self.target_group.register(pod, healthy=True)
        old.status_replicas = old.status_ready = old.status_available = sc.workload.replicas
        self.rs_controller.adopt(old)
        if self.instance_mode:
            for view in self.views:
                view.set(BEFORE, proxy_targets(list(self.api.endpoints.values())))
        else:
            for n in range(len(self.views)):
                self.target_group._route(n)
        for view in self.views:
            if view.times:
                view.times[0] = BEFORE

    def start_rollout(self) -> None:
        self.deployment.start_rollout()

    # -- progress -----------------------------------------------------------------------------------
    def new_pods(self) -> list[Pod]:
        rs = self.deployment.new_rs
        return list(rs.active_pods()) if rs is not None else []

    def _old_pods(self) -> list[Pod]:
        new_rs = self.deployment.new_rs
        return [p for p in self.api.pods if new_rs is None or p.rs != new_rs.name]

    def settled(self) -> bool:
        """The rollout is complete, every old pod is gone (object deleted, IP released), and every routing
        view sends to exactly the new pods."""
        if self.deployment.complete_s is None:
            return False
        if not self._old_pods_finished():
            return False
        new_rs = self.deployment.new_rs
        count = new_rs.active_count if new_rs is not None else 0
        # a view listing another number of targets cannot list exactly the new pods: the common case
        # while the LB nodes catch up, told apart without a scan
        if any((v.sizes[-1] if v.sizes else 0) != count for v in self.views):
            return False
        want = {p.index for p in self.new_pods()}
        return all(set(v.current) == want for v in self.views)

    def _old_pods_finished(self) -> bool:
        """No old pod is still there or holds its IP now: the old pods not yet seen finished are kept
        apart and dropped once finished (a pod gone with its IP released stays so), so the calls over a
        run cost O(pods) in all rather than a scan each."""
        new_rs = self.deployment.new_rs
        name = new_rs.name if new_rs is not None else None
        pods = self.api.pods
        if name != self._old_for:  # (re)start: every pod not of the new ReplicaSet is old
            self._old_for, self._old_seen, self._old_left = name, 0, []
        left = self._old_left
        left.extend(p for p in pods[self._old_seen :] if name is None or p.rs != name)
        self._old_seen = len(pods)
        now = self.sched.now()
        while left:
            p = left[-1]
            if not p.gone or p.ip_gone_s > now:
                return False
            left.pop()
        return True

    def settle_time(self) -> float:
        """When the last of: rollout complete, last routing change, last old pod removed and its IP gone."""
        t = self.deployment.complete_s or 0.0
        for view in self.views:
            if view.times:
                t = max(t, view.times[-1])
        for pod in self._old_pods():
            t = max(t, pod.ip_gone_s, pod.gone_s if pod.gone_s is not None else 0.0)
        return max(t, 0.0)

    def drain_deadlines(self) -> dict[int, float]:
        return {} if self.instance_mode else dict(self.target_group.drain_deadline)
