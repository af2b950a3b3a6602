"""The preStop hook will be cut at terminationGracePeriodSeconds and SIGKILL follows.

Why: the grace period counts from the start of the preStop hook. The kubelet stops waiting for the hook at
the grace period, sends SIGTERM, and SIGKILLs 2 s later (the minimum it allows): the app gets no time to
drain and in-flight requests die (kubelet killContainer; Lifecycle.preStop API docs).

Fix: raise terminationGracePeriodSeconds above the preStop delay plus the app's drain time, or shorten the
preStop delay.

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
              lifecycle: {preStop: {exec: {command: ["sleep", "40"]}}}

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
          terminationGracePeriodSeconds: 60
          containers:
            - name: web
              image: nginx
              lifecycle: {preStop: {exec: {command: ["sleep", "40"]}}}
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, fmt, make
from rollsafe.manifests.facts import WorkloadFacts

ID = "prestop-exceeds-grace-period"
SEVERITY: Severity = "error"
SUMMARY = "the preStop hook is cut at terminationGracePeriodSeconds and SIGKILL follows"
NOTE = True  # kill math: shown in simulate's report too


def check(w: WorkloadFacts) -> Iterator[Finding]:
    c = w.serving
    if c is None or c.pre_stop.seconds is None:
        return
    pre, grace = c.pre_stop.seconds, w.grace_period.value
    if pre <= 0 or pre < grace:
        return
    drain = w.app.drain_seconds if w.app.on_sigterm == "drain" else 0.0
    need = math.ceil(pre + drain + 5)
    yield make(
        ID,
        SEVERITY,
        w,
        c.pre_stop.source,
        f"preStop ({fmt(pre)} s) is not shorter than terminationGracePeriodSeconds ({fmt(grace)} s): "
        "the hook "
        "is cut at the grace period and SIGKILL follows 2 s after SIGTERM",
        evidence=[
            f"preStop {c.pre_stop.detail} ({c.pre_stop.source})",
            f"terminationGracePeriodSeconds {fmt(grace)} ({w.grace_period.source})",
            "SIGKILL at most max(grace − preStop, 2 s) after SIGTERM (kubelet killContainer)",
        ],
        fix=f"terminationGracePeriodSeconds: {need} (preStop {fmt(pre)} + drain {fmt(drain)} + 5 s margin)",
        fix_set=(f"workload.terminationGracePeriodSeconds={need}",),
    )
