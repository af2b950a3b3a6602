"""maxUnavailable resolves to all replicas (or replicas 1 with maxSurge 0, or Recreate): the whole fleet
can be down at once.

Why: the Deployment may stop every old pod before a new one is Ready. The ALB has no healthy target for
that time and answers 503 (or fails open to unhealthy targets).

Fix: ``maxUnavailable: 0`` with ``maxSurge: 1`` (or a percentage), so a new pod is Ready before an old one
goes; for one replica that is the only safe setting. Recreate is an outage by design: use RollingUpdate.

Example FAIL::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 1
      strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}

Example PASS::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 1
      strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, make, resolve
from rollsafe.manifests.facts import WorkloadFacts

ID = "max-unavailable-whole-fleet"
SEVERITY: Severity = "error"
SUMMARY = "maxUnavailable resolves to all replicas, or replicas 1 with maxSurge 0"

_FIX_SET = (
    "workload.strategy.type=RollingUpdate",
    "workload.strategy.maxSurge=1",
    "workload.strategy.maxUnavailable=0",
)


def check(w: WorkloadFacts) -> Iterator[Finding]:
    replicas = w.replicas.value
    if w.strategy_type.value == "Recreate":
        yield make(
            ID,
            SEVERITY,
            w,
            w.strategy_type,
            "strategy Recreate stops every pod before any new one starts: an outage on every rollout",
            evidence=[f"strategy.type Recreate ({w.strategy_type.source})"],
            fix="strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}",
            fix_set=_FIX_SET,
        )
        return
    if w.strategy_type.value != "RollingUpdate" or replicas < 1:
        return
    surge = resolve(w.max_surge.value, replicas, round_up=True)
    unavailable = resolve(w.max_unavailable.value, replicas, round_up=False)
    if surge is None or unavailable is None:
        return
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the API server refuses both 0; resolveFenceposts makes it 1 anyway
    if unavailable < replicas:
        return
    yield make(
        ID,
        SEVERITY,
        w,
        w.max_unavailable if w.max_unavailable.source.file else w.replicas,
        f"maxUnavailable resolves to {unavailable} of {replicas} replica(s): every pod can be down at once",
        evidence=[
            f"replicas {replicas} ({w.replicas.source})",
            f"maxUnavailable {w.max_unavailable.value} → {unavailable} (rounded down) "
            f"({w.max_unavailable.source})",
            f"maxSurge {w.max_surge.value} → {surge} (rounded up) ({w.max_surge.source})",
        ],
        fix="maxUnavailable: 0 and maxSurge: 1 (a new pod is Ready before an old one goes)",
        fix_set=_FIX_SET,
    )
