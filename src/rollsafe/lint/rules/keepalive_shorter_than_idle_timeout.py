"""The app's keep-alive timeout is not longer than the ALB's idle timeout.

Why: the ALB reuses backend connections until its idle timeout. A server that closes an idle connection
first can do so just as the ALB sends a request on it: the ALB answers 502 (ALB user guide, "Connection
idle timeout"; troubleshooting, HTTP 502). The keep-alive timeout is the app's, so it comes from the app
profile (``--app`` or the ``rollsafe.io/app`` annotation).

Fix: a server keep-alive timeout above the idle timeout (Node.js: ``server.keepAliveTimeout = 65000``
for the default 60 s), or a lower ``idle_timeout.timeout_seconds`` in load-balancer-attributes.

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
    metadata: {name: web, annotations: {rollsafe.io/app: node}}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: example/node-web}]}

Example PASS::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      annotations:
        alb.ingress.kubernetes.io/target-type: ip
        alb.ingress.kubernetes.io/load-balancer-attributes: idle_timeout.timeout_seconds=4
    spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {number: 80}}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, annotations: {rollsafe.io/app: node}}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: example/node-web}]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, fmt, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "keepalive-shorter-than-idle-timeout"
SEVERITY: Severity = "warning"
SUMMARY = "the app's keep-alive timeout is not longer than the ALB idle timeout"
NOTE = True


def check(w: WorkloadFacts) -> Iterator[Finding]:
    keep, idle = w.app.keep_alive_timeout_seconds, w.idle_timeout.value
    if keep > idle:
        return
    yield make(
        ID,
        SEVERITY,
        w,
        w.idle_timeout,
        f"the app's keep-alive timeout ({fmt(keep)} s) is not longer than the LB idle timeout "
        f"({fmt(idle)} s): "
        "pooled connections can race their close",
        evidence=[
            f"app keep-alive {fmt(keep)} s ({w.app_source.detail})",
            f"ALB idle timeout {fmt(idle)} s ({w.idle_timeout.source})",
        ],
        fix=f"a server keep-alive timeout above {fmt(idle)} s (or a lower idle_timeout.timeout_seconds)",
        fix_set=(f"app.keepAliveTimeoutSeconds={math.floor(idle) + 5}",),
    )
