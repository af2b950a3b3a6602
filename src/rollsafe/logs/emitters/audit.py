"""kube-apiserver audit events (``audit.k8s.io/v1``, level ``Request``) for the writes a rolling update
leaves behind, one JSON object per line as the log backend writes them (Kubernetes "Auditing" docs;
field list in staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go).

Which write each timeline event becomes: deployment patch (rollout start), ReplicaSet create/update
(scaling), pod create by the replicaset-controller plus the scheduler's binding (the create carries only
``generateName``), ``pods/status`` patches by the kubelet (pod IP, Ready, container exit) and by the LB
controller (readiness gate), the graceful delete and the kubelet's final delete (``gracePeriodSeconds:
0``), and ``endpointslices`` updates carrying the whole slice. Renders only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rollsafe.model.timeline import Event, EventKind, Names, iso

KCM = "kube-controller-manager/v1.31.4 (linux/amd64) kubernetes/5c5d3b1/system:serviceaccount:kube-system:"
SA = "system:serviceaccount:kube-system:"
LBC_SA = SA + "aws-load-balancer-controller"
GATE_PREFIX = "target-health.elbv2.k8s.aws/"


@dataclass(frozen=True, slots=True)
class PodFacts:
    name: str
    uid: str
    replicaset: str
    ip: str
    node: str


def _sec(at: datetime) -> str:
    """metav1.Time: whole seconds."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


KUBELET_AGENT = "kubelet/v1.31.4 (linux/amd64) kubernetes/5c5d3b1"


class _Writer:
    def __init__(self, names: Names) -> None:
        self.names = names
        self.n = 0
        self.lines: list[str] = []

    def kubelet_status(self, at: datetime, pod: str, node_user: str, status: dict[str, Any]) -> None:
        """The kubelet's status manager patching a pod's status."""
        self.write(
            at,
            verb="patch",
            resource="pods",
            name=pod,
            subresource="status",
            user=node_user,
            agent=KUBELET_AGENT,
            body={"status": status},
        )

    def write(
        self,
        at: datetime,
        *,
        verb: str,
        resource: str,
        name: str | None,
        user: str,
        agent: str,
        body: dict[str, Any] | None,
        subresource: str | None = None,
        group: str | None = None,
        code: int = 200,
    ) -> None:
        self.n += 1
        h = self.names._hex(f"audit/{self.n}", 32)
        ns = self.names.namespace
        version = "v1"
        prefix = f"/apis/{group}/{version}" if group else "/api/v1"
        uri = (
            f"{prefix}/namespaces/{ns}/{resource}"
            + (f"/{name}" if name else "")
            + (f"/{subresource}" if subresource else "")
        )
        ref: dict[str, Any] = {"resource": resource, "namespace": ns}
        if name:
            ref["name"] = name
        if group:
            ref["apiGroup"] = group
        ref["apiVersion"] = version
        if subresource:
            ref["subresource"] = subresource
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Request",
            "auditID": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}",
            "stage": "ResponseComplete",
            "requestURI": uri,
            "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": ["172.16.0.10"],
            "userAgent": agent,
            "objectRef": ref,
            "responseStatus": {"metadata": {}, "code": code},
        }
        if body is not None:
            event["requestObject"] = body
        # the write took effect at ``at`` (the timeline's instant); the request came in a little earlier
        event["requestReceivedTimestamp"] = iso(at - timedelta(microseconds=2500))
        event["stageTimestamp"] = iso(at)
        event["annotations"] = {"authorization.k8s.io/decision": "allow"}
        self.lines.append(json.dumps(event, separators=(",", ":")))


def render(events: list[Event], names: Names, pods: dict[str, PodFacts], *, old_pods: list[str]) -> list[str]:
    """The audit lines for a run's timeline. ``old_pods`` are the pods running before the rollout (their
    creation is not in the window): they appear in the EndpointSlice from its first update."""
    w = _Writer(names)
    ns = names.namespace
    slice_name = f"{names.workload}-{names._hex('slice', 5)}"
    endpoints: dict[str, dict[str, Any]] = {}
    for name in old_pods:
        p = pods[name]
        endpoints[name] = {"ip": p.ip, "ready": True, "serving": True, "terminating": False}
    seen_rs: set[str] = set()
    i = 0
    while i < len(events):
        e = events[i]
        kind = e.kind
        obj = e.object.split("/", 1)[1] if "/" in e.object else e.object
        pod = pods.get(obj)
        node_user = f"system:node:{pod.node}" if pod else "system:node:unknown"
        node_agent = KUBELET_AGENT
        if kind == EventKind.ROLLOUT_STARTED:
            w.write(
                e.at,
                verb="patch",
                resource="deployments",
                name=obj,
                group="apps",
                user="kubernetes-admin",
                agent="kubectl/v1.31.4 (linux/amd64) kubernetes/5c5d3b1",
                body={"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}},
            )
        elif kind == EventKind.SCALING_REPLICA_SET:
            new = obj not in seen_rs and e.attrs.get("old") == 0
            seen_rs.add(obj)
            body: dict[str, Any] = {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": {"name": obj, "namespace": ns},
                "spec": {"replicas": e.attrs.get("new")},
            }
            w.write(
                e.at,
                verb="create" if new else "update",
                resource="replicasets",
                name=None if new else obj,
                group="apps",
                user=SA + "deployment-controller",
                agent=KCM + "deployment-controller",
                body=body,
            )
        elif kind == EventKind.POD_CREATED and pod:
            w.write(
                e.at,
                verb="create",
                resource="pods",
                name=None,
                user=SA + "replicaset-controller",
                agent=KCM + "replicaset-controller",
                body={
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "metadata": {
                        "generateName": f"{pod.replicaset}-",
                        "namespace": ns,
                        "ownerReferences": [{"kind": "ReplicaSet", "name": pod.replicaset}],
                    },
                },
            )
            # MODEL ASSUMPTION: the timeline has no separate scheduling instant; the bind is written with it
            w.write(
                e.at,
                verb="create",
                resource="pods",
                name=obj,
                subresource="binding",
                user="system:kube-scheduler",
                agent="kube-scheduler/v1.31.4 (linux/amd64) kubernetes/5c5d3b1",
                body={
                    "kind": "Binding",
                    "apiVersion": "v1",
                    "metadata": {"name": obj, "namespace": ns},
                    "target": {"kind": "Node", "name": pod.node},
                },
            )
        elif kind == EventKind.SANDBOX_READY and pod:
            w.kubelet_status(
                e.at, obj, node_user, {"podIP": pod.ip, "podIPs": [{"ip": pod.ip}], "phase": "Pending"}
            )
        elif kind in (EventKind.CONTAINERS_READY, EventKind.POD_READY, EventKind.POD_NOT_READY) and pod:
            ready = "True" if kind == EventKind.POD_READY else "False"
            conds = [{"type": "Ready", "status": ready, "lastTransitionTime": _sec(e.at)}]
            if kind == EventKind.CONTAINERS_READY:
                conds = [{"type": "ContainersReady", "status": "True", "lastTransitionTime": _sec(e.at)}]
            w.kubelet_status(e.at, obj, node_user, {"conditions": conds, "podIP": pod.ip})
        elif kind == EventKind.READINESS_GATE_PATCHED:
            status = "True" if e.attrs.get("status") else "False"
            w.write(
                e.at,
                verb="patch",
                resource="pods",
                name=obj,
                subresource="status",
                user=LBC_SA,
                agent="controller/v2.8.1",
                body={
                    "status": {
                        "conditions": [
                            {
                                "type": GATE_PREFIX + names.target_group_name,
                                "status": status,
                                "reason": e.attrs.get("target_state", ""),
                                "lastTransitionTime": _sec(e.at),
                            }
                        ]
                    }
                },
            )
        elif kind == EventKind.POD_DELETED:
            w.write(
                e.at,
                verb="delete",
                resource="pods",
                name=obj,
                user=SA + "replicaset-controller",
                agent=KCM + "replicaset-controller",
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        elif kind == EventKind.CONTAINER_EXITED and pod:
            reason = e.attrs.get("reason", "")
            code = 137 if reason == "SIGKILL" else 0
            w.write(
                e.at,
                verb="patch",
                resource="pods",
                name=obj,
                subresource="status",
                user=node_user,
                agent=node_agent,
                body={
                    "status": {
                        "phase": "Failed" if code else "Succeeded",
                        "containerStatuses": [
                            {
                                "name": "app",
                                "state": {
                                    "terminated": {
                                        "exitCode": code,
                                        "reason": "Error" if code else "Completed",
                                        "finishedAt": _sec(e.at),
                                    }
                                },
                            }
                        ],
                    }
                },
            )
        elif kind == EventKind.POD_REMOVED and pod:
            w.write(
                e.at,
                verb="delete",
                resource="pods",
                name=obj,
                user=node_user,
                agent=node_agent,
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": pod.uid},
                },
            )
        elif kind in (EventKind.ENDPOINT_UPDATED, EventKind.ENDPOINT_REMOVED):
            # every endpoint change at this instant is one write of the whole slice
            j = i
            while (
                j < len(events)
                and events[j].at == e.at
                and events[j].kind in (EventKind.ENDPOINT_UPDATED, EventKind.ENDPOINT_REMOVED)
            ):
                ev = events[j]
                name = ev.object.split("/", 1)[1]
                if ev.kind == EventKind.ENDPOINT_REMOVED:
                    endpoints.pop(name, None)
                else:
                    endpoints[name] = {
                        "ip": ev.attrs.get("ip"),
                        "ready": bool(ev.attrs.get("ready")),
                        "serving": bool(ev.attrs.get("serving")),
                        "terminating": bool(ev.attrs.get("terminating")),
                    }
                j += 1
            body = {
                "kind": "EndpointSlice",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {
                    "name": slice_name,
                    "namespace": ns,
                    "labels": {"kubernetes.io/service-name": names.workload},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [ep["ip"]],
                        "conditions": {
                            "ready": ep["ready"],
                            "serving": ep["serving"],
                            "terminating": ep["terminating"],
                        },
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": n},
                    }
                    for n, ep in sorted(endpoints.items())
                ],
                "ports": [{"name": "http", "port": names.target_port, "protocol": "TCP"}],
            }
            w.write(
                e.at,
                verb="update",
                resource="endpointslices",
                name=slice_name,
                group="discovery.k8s.io",
                user=SA + "endpointslice-controller",
                agent=KCM + "endpointslice-controller",
                body=body,
            )
            i = j
            continue
        i += 1
    return w.lines
