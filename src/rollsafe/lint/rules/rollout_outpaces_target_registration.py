"""Without a readiness gate, the rollout can finish before new targets pass the ALB's health checks.

Why: the Deployment waits only for pods to be Ready (plus minReadySeconds). A new ip target needs the
registration to reach the ALB's nodes and then HealthyThresholdCount passing checks, one interval apart,
before it takes traffic; meanwhile the old targets are deregistered and drain. If the whole rollout is
faster than that, the ALB is left with only ``initial`` and ``draining`` targets: 503s. If one step of
the rollout is faster, capacity dips as old pods go before their replacements serve.

Fix: the readiness gate (label the namespace with elbv2.k8s.aws/pod-readiness-gate-inject=enabled), so
pods are Ready only once the ALB finds them healthy; or minReadySeconds above the registration time.

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
      replicas: 4
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}

Example PASS::

    apiVersion: v1
    kind: Namespace
    metadata: {name: default, labels: {elbv2.k8s.aws/pod-readiness-gate-inject: enabled}}
    ---
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
      replicas: 4
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from rollsafe.lint.model import (
    DEFAULTS,
    LAG_QUANTILE,
    Finding,
    Severity,
    fmt,
    lower,
    make,
    resolve,
    upper,
)
from rollsafe.manifests.facts import WorkloadFacts

ID = "rollout-outpaces-target-registration"
SEVERITY: Severity = "error"
SUMMARY = "without a gate, the rollout can finish before new targets pass the ALB's health checks"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    if w.target_type.value != "ip" or w.gate or w.strategy_type.value != "RollingUpdate":
        return
    c = w.serving
    if c is None:
        return
    replicas = max(1, w.replicas.value)
    surge = resolve(w.max_surge.value, replicas, round_up=True)
    unavailable = resolve(w.max_unavailable.value, replicas, round_up=False)
    if surge is None or unavailable is None:
        return
    step = max(1, surge + unavailable)
    waves = math.ceil(replicas / step)

    # A new pod: scheduled, sandbox, image pull (the simulator's default lower bounds, MODEL ASSUMPTION),
    # then the app starts; Ready at the first passing probe after it listens (or at start, with no probe).
    cl = DEFAULTS.cluster
    overhead = lower(cl.scheduling_seconds) + lower(cl.sandbox_seconds) + lower(cl.image_pull_seconds)
    startup = lower(w.app.startup_seconds)
    probe = c.readiness.value
    if probe is None:
        ready = 0.0
        how = "no readiness probe: Ready when the container starts"
    else:
        delay = _num(probe.get("initialDelaySeconds"), 0)
        period = _num(probe.get("periodSeconds"), 10)
        success = _num(probe.get("successThreshold"), 1)
        ready = delay + math.ceil(max(0.0, startup - delay) / period) * period + (success - 1) * period
        how = (
            f"first passing probe at {fmt(ready)} s (initialDelaySeconds {fmt(delay)}, periodSeconds "
            f"{fmt(period)}, app listens at {fmt(startup)} s)"
        )
    per_wave = overhead + ready + w.min_ready_seconds.value
    rollout = waves * per_wave

    lb = DEFAULTS.load_balancer
    checks = lb.initial_health_checks_required or int(w.healthy_threshold.value)
    # p99 of the per-call propagation (Dist.quantile) plus the per-node jitter's upper bound
    propagation = round(
        lb.register_propagation_seconds.quantile(LAG_QUANTILE)
        + upper(lb.register_propagation_node_jitter_seconds),
        2,
    )
    healthy = propagation + (checks - 1) * w.hc_interval.value
    if per_wave >= healthy:
        return
    whole = rollout < healthy
    evidence = [
        f"replicas {replicas}, maxSurge {w.max_surge.value} → {surge}, maxUnavailable "
        f"{w.max_unavailable.value} → {unavailable}: {waves} step(s) of up to {step} pods",
        f"a step takes ≈ {fmt(round(per_wave, 2))} s: pod start {fmt(round(overhead, 2))} s "
        "(MODEL ASSUMPTION) + "
        f"{how} + minReadySeconds {fmt(w.min_ready_seconds.value)}",
        f"a new target takes traffic after ≈ {fmt(round(healthy, 2))} s: registration reaches the ALB nodes "
        f"in {fmt(propagation)} s (p99, MODEL ASSUMPTION) + ({checks} − 1) × interval "
        f"{fmt(w.hc_interval.value)} s ({w.hc_interval.source})",
        f"no readiness gate ({w.gate_requested.source})",
    ]
    if whole:
        message = (
            f"the whole rollout (≈ {fmt(round(rollout, 1))} s) can finish before the first new target is "
            "healthy "
            f"(≈ {fmt(round(healthy, 1))} s): only initial and draining targets remain, the ALB answers 503"
        )
    else:
        message = (
            f"each rollout step (≈ {fmt(round(per_wave, 1))} s) is faster than a new target's registration "
            f"(≈ {fmt(round(healthy, 1))} s): old targets drain before their replacements take traffic"
        )
    yield make(
        ID,
        SEVERITY if whole else "warning",
        w,
        w.gate_requested,
        message,
        evidence=evidence,
        fix=(
            f"enable the readiness gate (label namespace {w.namespace} "
            f"elbv2.k8s.aws/pod-readiness-gate-inject=enabled), or minReadySeconds ≥ {math.ceil(healthy)}"
        ),
        fix_set=("workload.readinessGate=true",),
    )


def _num(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
