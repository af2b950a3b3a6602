"""The liveness probe is the same as the readiness probe.

Why: when the app is slow or overloaded, both fail together; readiness would take the pod out of the load
balancer until it recovers, but liveness restarts it, dropping its in-flight requests and turning a slow
moment into a restart storm.

Fix: give liveness a longer failureThreshold or periodSeconds than readiness, or a cheaper endpoint that
only says the process is alive.

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
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: nginx
              readinessProbe: {httpGet: {path: /healthz, port: 80}}
              livenessProbe: {httpGet: {path: /healthz, port: 80}}

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
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: nginx
              readinessProbe: {httpGet: {path: /healthz, port: 80}}
              livenessProbe: {httpGet: {path: /livez, port: 80}, failureThreshold: 6}
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "liveness-equals-readiness"
SEVERITY: Severity = "warning"
SUMMARY = "identical liveness and readiness probes: a slow app is restarted instead of taken out"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    for c in w.containers:
        live, ready = c.liveness.value, c.readiness.value
        if live is None or ready is None or live != ready:
            continue
        yield make(
            ID,
            SEVERITY,
            w,
            c.liveness,
            f"container {c.name}: livenessProbe is identical to readinessProbe, so a slow app is restarted "
            "instead of taken out of the load balancer",
            evidence=[f"livenessProbe ({c.liveness.source}) == readinessProbe ({c.readiness.source})"],
            fix="a liveness probe with a higher failureThreshold (or a cheaper endpoint) than readiness",
        )
