"""The grace period is shorter than the preStop delay plus the app's drain time.

Why: SIGTERM comes after the preStop hook; an app that drains on SIGTERM then needs its drain time before
it exits. If terminationGracePeriodSeconds (counted from the start of preStop) runs out first, the kubelet
SIGKILLs the app and the requests it was finishing fail.

Fix: terminationGracePeriodSeconds >= preStop + the app's drain time (plus a margin). The drain time is
the app's: it comes from the app profile (``--app`` or the ``rollsafe.io/app`` annotation).

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
    metadata: {name: web, annotations: {rollsafe.io/app: graceful}}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: example/web
              lifecycle: {preStop: {sleep: {seconds: 20}}}

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
    metadata: {name: web, annotations: {rollsafe.io/app: graceful}}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          terminationGracePeriodSeconds: 45
          containers:
            - name: web
              image: example/web
              lifecycle: {preStop: {sleep: {seconds: 20}}}
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, fmt, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "grace-period-too-short"
SEVERITY: Severity = "warning"
SUMMARY = "terminationGracePeriodSeconds < preStop + the app's drain time"
NOTE = True


def check(w: WorkloadFacts) -> Iterator[Finding]:
    c = w.serving
    if c is None or c.pre_stop.seconds is None or w.app.on_sigterm != "drain":
        return
    pre, grace, drain = c.pre_stop.seconds, w.grace_period.value, w.app.drain_seconds
    if pre >= grace > 0 or pre + drain <= grace:  # the first is prestop-exceeds-grace-period's
        return
    need = math.ceil(pre + drain + 5)
    yield make(
        ID,
        SEVERITY,
        w,
        w.grace_period,
        f"preStop ({fmt(pre)} s) + drainSeconds ({fmt(drain)} s) exceed terminationGracePeriodSeconds "
        f"({fmt(grace)} s): SIGKILL cuts the drain short",
        evidence=[
            f"preStop {c.pre_stop.detail} ({c.pre_stop.source})",
            f"app drains up to {fmt(drain)} s on SIGTERM ({w.app_source.detail})",
            f"terminationGracePeriodSeconds {fmt(grace)} ({w.grace_period.source})",
            f"{fmt(pre)} + {fmt(drain)} = {fmt(pre + drain)} s > {fmt(grace)} s",
        ],
        fix=f"terminationGracePeriodSeconds: {need}",
        fix_set=(f"workload.terminationGracePeriodSeconds={need}",),
    )
