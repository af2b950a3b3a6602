"""Instance targets: the LB controller's readiness gates do not apply; say what to do instead.

Why: with target-type instance the ALB sends to nodes (NodePort) and kube-proxy picks a pod, so the ALB
never sees a pod and the controller injects no readiness gate (it does so for ip targets only). What
protects a rollout is how fast kube-proxy follows the EndpointSlice: a readiness probe that tests the
app keeps new pods out until they listen, and a preStop delay longer than kube-proxy's lag keeps old ones
serving until it stops sending. An error when the namespace asks for gates (the protection it expects is
not there); otherwise a note.

Fix: switch to ``alb.ingress.kubernetes.io/target-type: ip`` and label the namespace; or keep instance
targets with a readiness probe that tests the app and a preStop delay above kube-proxy's lag.

Example FAIL::

    apiVersion: v1
    kind: Namespace
    metadata: {name: shop, labels: {elbv2.k8s.aws/pod-readiness-gate-inject: enabled}}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, namespace: shop}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}
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

from rollsafe.lint.model import Finding, Severity, deregistration_lag, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "readiness-gate-impossible"
SEVERITY: Severity = "info"
SUMMARY = "instance targets: readiness gates do not apply"

# With instance targets the LB never deregisters a pod and readiness gates are not injected: kube-proxy's
# rules are what lag (LB controller pod_readiness_gate.md; kube-proxy minSyncPeriod). These replace the
# causes' usual fixes in simulate's report for instance targets.
INSTANCE_FIXES = {
    "not-yet-listening": "a readiness probe that tests the app (readiness gates need ip targets)",
    "stopped-listening": "preStop delay longer than kube-proxy's lag; keep accepting until it stops sending",
}


def check(w: WorkloadFacts) -> Iterator[Finding]:
    if w.target_type.value != "instance":
        return
    lag, why = deregistration_lag(w)
    requested = w.gate_requested.value
    message = (
        "the namespace asks for readiness gates, but with instance targets the LB controller injects none"
        if requested
        else "instance targets: readiness gates cannot protect this rollout; kube-proxy's lag decides"
    )
    yield make(
        ID,
        "error" if requested else SEVERITY,
        w,
        w.gate_requested if requested else w.target_type,
        message,
        evidence=[
            f"target type instance ({w.target_type.source})",
            f"readiness gate requested: {'yes' if requested else 'no'} ({w.gate_requested.source})",
            why,
        ],
        fix=(
            "alb.ingress.kubernetes.io/target-type: ip with the namespace label (gates then apply); or keep "
            f"instance targets with {INSTANCE_FIXES['not-yet-listening']} and a preStop delay above "
            f"kube-proxy's lag (~{lag:g} s)"
        ),
        fix_set=("loadBalancer.targetType=ip", "workload.readinessGate=true"),
    )
