"""The preStop delay is below the expected time for the load balancer to stop sending.

Why: a preStop sleep only helps if it outlasts the chain that takes the pod out of the load balancer:
EndpointSlice update, the LB controller's DeregisterTargets, and the ALB's own propagation to its nodes
(undocumented by AWS; reported as seconds). With instance targets the chain ends at kube-proxy instead.
If the sleep ends first, the app stops listening while requests still arrive.

Fix: a preStop sleep with margin over the lag (15 s or more is common), and a grace period above it.

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
              lifecycle: {preStop: {sleep: {seconds: 2}}}

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
              lifecycle: {preStop: {sleep: {seconds: 40}}}
          terminationGracePeriodSeconds: 60
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, deregistration_lag, fmt, make, recommended_pre_stop
from rollsafe.manifests.facts import WorkloadFacts

ID = "prestop-shorter-than-deregistration-lag"
SEVERITY: Severity = "warning"
SUMMARY = "the preStop delay is below the expected time for the load balancer to stop sending"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    c = w.serving
    if c is None or c.pre_stop.seconds is None or c.pre_stop.seconds <= 0:
        return  # no delay at all is missing-prestop-delay's
    lag, why = deregistration_lag(w)
    pre = c.pre_stop.seconds
    if pre >= lag:
        return
    rec = recommended_pre_stop(lag)
    fix_set = [f"workload.preStopSleepSeconds={rec}"]
    drain = w.app.drain_seconds if w.app.on_sigterm == "drain" else 0.0
    if w.grace_period.value < rec + drain:
        fix_set.append(f"workload.terminationGracePeriodSeconds={int(rec + drain + 5)}")
    yield make(
        ID,
        SEVERITY,
        w,
        c.pre_stop.source,
        f"preStop ({fmt(pre)} s) ends before the load balancer stops sending (p99 {fmt(lag)} s)",
        evidence=[f"preStop {c.pre_stop.detail} ({c.pre_stop.source})", why, f"{fmt(pre)} s < {fmt(lag)} s"],
        fix=f"a preStop sleep of {rec} s or more (and terminationGracePeriodSeconds above it plus the drain)",
        fix_set=tuple(fix_set),
    )
