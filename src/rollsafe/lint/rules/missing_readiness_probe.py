"""A container behind an LB-fronted Service has no readiness probe.

Why: without one the pod is Ready as soon as its containers start, before the app listens. The Deployment
counts it available and deletes an old pod; kube-proxy (instance targets) sends it traffic at once, and
with ip targets the LB controller registers it early. Requests reach a server that is not listening yet.

Fix: add a readinessProbe that passes only when the app can serve (httpGet on the serving port, a short
periodSeconds). With instance targets it is the only guard: readiness gates need ip targets.

Example FAIL::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: nginx
              ports: [{containerPort: 8080}]

Example PASS::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web, annotations: {alb.ingress.kubernetes.io/target-type: ip}}
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: nginx
              ports: [{containerPort: 8080}]
              readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 2}
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, describe, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "missing-readiness-probe"
SEVERITY: Severity = "error"
SUMMARY = "a container behind an LB-fronted Service has no readiness probe"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    c = w.serving
    if c is None or c.readiness.value is not None:
        return
    instance = w.target_type.value == "instance"
    evidence = [
        f"containers[{c.name}]: no readinessProbe, so the pod is Ready when its containers start",
        f"app: listens {describe(w.app.startup_seconds)} after start ({w.app_source.detail})",
        f"target type {w.target_type.value} ({w.target_type.source})",
    ]
    fix = "add a readinessProbe that passes only when the app can serve (httpGet on the serving port)"
    if instance:
        fix += "; with instance targets it is the only guard (readiness gates need ip targets)"
    yield make(
        ID,
        SEVERITY,
        w,
        c.readiness,
        f"container {c.name} gets traffic before its app listens: it has no readiness probe",
        evidence=evidence,
        fix=fix,
        fix_set=("workload.readinessProbe={periodSeconds: 2}",),
    )
