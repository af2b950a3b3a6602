"""A health-check or target-group setting outside what AWS accepts.

Why: the ALB rejects the value, so the LB controller's reconcile fails and the target group keeps its old
settings (or is never made). AWS's ranges: interval 5–300 s, timeout 2–120 s and below the interval,
healthy and unhealthy thresholds 2–10, deregistration delay 0–3600 s, slow start 30–900 s (or 0),
idle timeout 1–4000 s, success codes 200–499 for HTTP (ALB user guide: target group health checks and
attributes; ELBv2 API reference).

Fix: bring the annotation into range.

Example FAIL::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      annotations:
        alb.ingress.kubernetes.io/target-type: ip
        alb.ingress.kubernetes.io/healthcheck-interval-seconds: "5"
        alb.ingress.kubernetes.io/healthcheck-timeout-seconds: "5"
        alb.ingress.kubernetes.io/healthy-threshold-count: "1"
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
        spec: {containers: [{name: web, image: nginx}]}

Example PASS::

    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      annotations:
        alb.ingress.kubernetes.io/target-type: ip
        alb.ingress.kubernetes.io/healthcheck-interval-seconds: "10"
        alb.ingress.kubernetes.io/healthcheck-timeout-seconds: "5"
        alb.ingress.kubernetes.io/healthy-threshold-count: "2"
        alb.ingress.kubernetes.io/target-group-attributes: deregistration_delay.timeout_seconds=30
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
        spec: {containers: [{name: web, image: nginx}]}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rollsafe.lint.model import Finding, Severity, fmt, make
from rollsafe.manifests.facts import Setting, WorkloadFacts

ID = "healthcheck-setting-out-of-range"
SEVERITY: Severity = "error"
SUMMARY = "a health-check or target-group setting outside AWS's ranges"


def check(w: WorkloadFacts) -> Iterator[Finding]:
    ranges: list[tuple[str, Setting[float], float, float]] = [
        ("health check interval", w.hc_interval, 5, 300),
        ("health check timeout", w.hc_timeout, 2, 120),
        ("healthy threshold count", w.healthy_threshold, 2, 10),
        ("unhealthy threshold count", w.unhealthy_threshold, 2, 10),
        ("deregistration delay", w.deregistration_delay, 0, 3600),
        ("idle timeout", w.idle_timeout, 1, 4000),
    ]
    for what, s, lo, hi in ranges:
        if not lo <= s.value <= hi:
            yield _out(w, s, f"{what} {fmt(s.value)} is outside AWS's range {fmt(lo)}–{fmt(hi)}")
        elif what.endswith("count") and not float(s.value).is_integer():
            yield _out(w, s, f"{what} {fmt(s.value)} is not a whole number")
    if w.hc_timeout.value >= w.hc_interval.value and 2 <= w.hc_timeout.value <= 120:
        yield _out(
            w,
            w.hc_timeout,
            f"health check timeout {fmt(w.hc_timeout.value)} s is not below the interval "
            f"{fmt(w.hc_interval.value)} s ({w.hc_interval.source})",
        )
    codes = _bad_success_codes(w.success_codes.value)
    if codes:
        yield _out(
            w,
            w.success_codes,
            f"success codes {w.success_codes.value!r}: {codes} (HTTP matchers are codes 200–499 as "
            "'200', '200,202' or '200-299'; gRPC 0–99)",
        )
    slow = w.slow_start.value
    if slow != 0 and not 30 <= slow <= 900:
        yield _out(w, w.slow_start, f"slow start {fmt(slow)} s is outside AWS's range 30–900 (or 0 for off)")
    if slow and w.algorithm.value != "round_robin":
        yield _out(
            w,
            w.slow_start,
            f"slow start cannot be used with {w.algorithm.value} (AWS allows it with round_robin only)",
        )


def _bad_success_codes(text: str) -> str | None:
    """What is wrong with a success-codes matcher, or None."""
    for part in text.split(","):
        bounds = part.strip().split("-")
        if len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            return f"{part.strip()!r} is not a code or a range of codes"
        lo, hi = int(bounds[0]), int(bounds[-1])
        if lo > hi:
            return f"the range {part.strip()!r} runs backwards"
        if hi > 499:
            return f"{hi} is above 499"
    return None


def _out(w: WorkloadFacts, s: Setting[Any], message: str) -> Finding:
    return make(
        ID,
        SEVERITY,
        w,
        s,
        message + ": AWS rejects it and the LB controller cannot reconcile the target group",
        evidence=[f"{s.source}"],
        fix="bring the annotation into AWS's range",
    )
