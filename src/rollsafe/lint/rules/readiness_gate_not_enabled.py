"""ip targets, but the namespace does not have the LB controller's readiness-gate injection label.

Why: without the gate a new pod is Ready (and the Deployment moves on, deleting old pods) as soon as its
readiness probe passes, while the ALB still runs its initial health checks on the new target. Old targets
drain before new ones take traffic; in the worst case only ``initial`` and ``draining`` targets remain
and the ALB answers 503.

Fix: ``kubectl label namespace NS elbv2.k8s.aws/pod-readiness-gate-inject=enabled``, then restart the
Deployment (the gate is injected at pod creation only). Readiness gates need target-type ip.

Example FAIL::

    apiVersion: v1
    kind: Namespace
    metadata: {name: shop}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, namespace: shop, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}

Example PASS::

    apiVersion: v1
    kind: Namespace
    metadata: {name: shop, labels: {elbv2.k8s.aws/pod-readiness-gate-inject: enabled}}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, namespace: shop, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, make
from rollsafe.manifests.facts import GATE_LABEL, WorkloadFacts

ID = "readiness-gate-not-enabled"
SEVERITY: Severity = "warning"
SUMMARY = "ip targets, but the namespace lacks the readiness-gate injection label"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    if w.target_type.value != "ip" or w.gate_requested.value:
        return
    yield make(
        ID,
        SEVERITY,
        w,
        w.gate_requested,
        f"no readiness gate: the Deployment does not wait for the ALB to find new pods healthy "
        f"(namespace {w.namespace} lacks {GATE_LABEL}=enabled)",
        evidence=[
            f"target type ip ({w.target_type.source})",
            f"readiness gate: {w.gate_requested.source}",
        ],
        fix=(
            f"kubectl label namespace {w.namespace} {GATE_LABEL}=enabled, then restart the Deployment "
            "(gates are injected at pod creation)"
        ),
        fix_set=("workload.readinessGate=true",),
    )
