"""No preStop delay, so SIGTERM races deregistration.

Why: when a pod is deleted the kubelet starts the preStop hook (or sends SIGTERM) at the same time as the
EndpointSlice controller, the LB controller and the ALB start taking the pod out. Nothing orders them. A
server that stops listening on SIGTERM gets new requests for the seconds the load balancer lags: 502s,
and 504s once the pod IP is gone.

Fix: ``lifecycle.preStop.sleep.seconds`` (Kubernetes 1.30+) or ``exec: {command: ["sleep", "15"]}``
above the deregistration lag, with terminationGracePeriodSeconds above preStop plus the app's drain.

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
          containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]

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
              ports: [{containerPort: 80}]
              lifecycle: {preStop: {exec: {command: ["sh", "-c", "sleep 15"]}}}
"""

from __future__ import annotations

from collections.abc import Iterator

from rollsafe.lint.model import Finding, Severity, deregistration_lag, fmt, make, recommended_pre_stop
from rollsafe.manifests.facts import WorkloadFacts

ID = "missing-prestop-delay"
SEVERITY: Severity = "error"
SUMMARY = "no preStop delay, so SIGTERM races deregistration"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    c = w.serving
    if c is None or c.pre_stop.kind == "unknown" or (c.pre_stop.seconds or 0) > 0:
        return
    lag, why = deregistration_lag(w)
    rec = recommended_pre_stop(lag)
    grace = w.grace_period.value
    drain = w.app.drain_seconds if w.app.on_sigterm == "drain" else 0.0
    fix_set = [f"workload.preStopSleepSeconds={rec}"]
    if grace < rec + drain:
        fix_set.append(f"workload.terminationGracePeriodSeconds={int(rec + drain + 5)}")
    yield make(
        ID,
        SEVERITY,
        w,
        c.pre_stop.source,
        f"container {c.name} gets SIGTERM while the load balancer still sends it requests: no preStop delay",
        evidence=[
            f"preStop: {c.pre_stop.detail} ({c.pre_stop.source})",
            why,
            f"app on SIGTERM: {w.app.on_sigterm} ({w.app_source.detail})",
        ],
        fix=(
            f"add lifecycle.preStop.sleep.seconds: {rec} (or exec sleep {rec}) and keep "
            f"terminationGracePeriodSeconds above preStop + the app's drain ({fmt(rec + drain)} s)"
        ),
        fix_set=tuple(fix_set),
    )
