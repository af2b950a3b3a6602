"""The model's assumptions in one place: every setting a user rarely knows and rollsafe assumes (lags,
latencies, how a vanished pod IP answers), with what it is, where its default comes from, and the low and
high ends of its plausible range that ``simulate --sensitivity`` tries. docs/assumptions.md lists them.

Pure data and lookups; it runs nothing. A key that the scenario model does not have (yet) is skipped, so an
entry may name a key another branch adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from rollsafe.model.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Assumption:
    key: str  # the scenario key path, as --set spells it
    what: str
    source: str  # where the default comes from (public sources; docs/model.md has the reasoning)
    low: Any  # a value in the scenario-file spelling (a number, a distribution mapping, a string)
    high: Any


def _ln(median: float, p99: float) -> dict[str, Any]:
    return {"lognormal": {"median": median, "p99": p99}}


def _u(lo: float, hi: float) -> dict[str, Any]:
    return {"uniform": [lo, hi]}


# MODEL ASSUMPTION: the ranges bracket both today's defaults and the recalibrated ones (docs/model.md):
# the low end is a fast, quiet cluster; the high end the slow tails the LB controller's issue tracker
# reports (deregistration taking tens of seconds: aws-load-balancer-controller #2366, #1064, #2106).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "loadBalancer.deregisterPropagationSeconds",
        "DeregisterTargets returned -> an LB node stops sending new requests",
        "LB controller issues #2366 (~17 s), #1064, #2106; AWS does not publish it",
        _u(0.5, 2),
        _ln(8, 60),
    ),
    Assumption(
        "loadBalancer.deregisterPropagationNodeJitterSeconds",
        "extra deregistration lag of each LB node",
        "inference: LB nodes apply a change independently",
        0,
        _u(0, 5),
    ),
    Assumption(
        "loadBalancer.registerPropagationSeconds",
        "RegisterTargets returned -> an LB node starts health-checking the target",
        "ALB target registration docs; practitioner reports",
        _u(0.5, 1.5),
        _ln(5, 30),
    ),
    Assumption(
        "loadBalancer.registerPropagationNodeJitterSeconds",
        "extra registration lag of each LB node",
        "inference: LB nodes apply a change independently",
        0,
        _u(0, 3),
    ),
    Assumption(
        "loadBalancer.initialHealthChecksRequired",
        "passing checks before a new target is healthy (null: HealthyThresholdCount)",
        "ALB docs read two ways: HealthyThresholdCount, or one check for a new target",
        1,
        None,
    ),
    Assumption(
        "loadBalancer.onlyInitialOrDraining",
        "what the ALB does when only initial/draining targets remain",
        "ALB docs: fail-open applies to unhealthy targets only",
        "route",
        "reject",
    ),
    Assumption(
        "lbController.deregisterTargetsSeconds",
        "latency of the controller's DeregisterTargets call",
        "controller logs (tens of ms); AWS API latency",
        _u(0.02, 0.04),
        _ln(0.3, 2),
    ),
    Assumption(
        "lbController.registerTargetsSeconds",
        "latency of the controller's RegisterTargets call",
        "controller logs (100-330 ms)",
        _u(0.05, 0.1),
        _ln(1, 5),
    ),
    Assumption(
        "lbController.describeTargetHealthSeconds",
        "latency of DescribeTargetHealth",
        "controller logs",
        _u(0.02, 0.04),
        _ln(0.3, 2),
    ),
    Assumption(
        "cluster.apiLatencySeconds",
        "API server request latency",
        "Kubernetes API call latency SLO (p99 <= 1 s)",
        _u(0.005, 0.01),
        _ln(0.1, 1),
    ),
    Assumption(
        "cluster.watchLatencySeconds",
        "API change -> a watcher sees it",
        "Kubernetes watch; informer delivery",
        _u(0.01, 0.02),
        _ln(0.2, 1),
    ),
    Assumption(
        "cluster.endpointSliceLagSeconds",
        "pod change -> EndpointSlice updated",
        "EndpointSlice controller (batch period 0 by default)",
        _u(0.005, 0.01),
        _ln(0.2, 1),
    ),
    Assumption(
        "cluster.kubeProxySyncSeconds",
        "EndpointSlice change -> kube-proxy rules on a node",
        "kube-proxy minSyncPeriod 1 s",
        _u(0.05, 0.2),
        _u(1, 5),
    ),
    Assumption(
        "cluster.schedulingSeconds",
        "pod created -> bound to a node",
        "kube-scheduler latency",
        _u(0.01, 0.05),
        _u(0.5, 2),
    ),
    Assumption(
        "cluster.sandboxSeconds",
        "pod sandbox and network set-up",
        "kubelet / CNI",
        _u(0.2, 0.5),
        _u(2, 5),
    ),
    Assumption(
        "cluster.imagePullSeconds",
        "image pull before the container starts",
        "image size and registry; cached per node",
        0,
        _ln(10, 60),
    ),
    Assumption(
        "cluster.podTeardownSeconds",
        "process exit -> the pod IP stops answering",
        "CNI teardown",
        _u(0.1, 0.3),
        _u(5, 15),
    ),
    Assumption(
        "cluster.vanishedPodIp",
        "what a connection to a removed pod IP meets (timeout: 504; reset: 502)",
        "public reports are mostly 502s; VPC drops packets to unassigned IPs",
        "reset",
        "timeout",
    ),
    Assumption(
        "app.keepAliveRaceWindowSeconds",
        "how close to the server's keep-alive close a reused connection fails",
        "inference: one round trip inside the VPC",
        0.001,
        0.05,
    ),
)

BY_KEY: dict[str, Assumption] = {a.key: a for a in ASSUMPTIONS}


def _field(model: BaseModel, alias: str) -> str | None:
    for name, info in type(model).model_fields.items():
        if (info.alias or name) == alias:
            return name
    return None


def lookup(scenario: Scenario, key: str) -> tuple[bool, bool, Any]:
    """(the model has the key, the scenario gave it explicitly, its value in the file spelling)."""
    node: Any = scenario
    parts = key.split(".")
    explicit = True
    for part in parts:
        if not isinstance(node, BaseModel):
            return (False, False, None)
        name = _field(node, part)
        if name is None:
            return (False, False, None)
        explicit = explicit and name in node.model_fields_set
        node = getattr(node, name)
    spec = node.to_spec() if hasattr(node, "to_spec") else node
    if isinstance(spec, BaseModel):
        return (False, False, None)
    return (True, explicit, spec)


def assumed_settings(scenario: Scenario, *, overrides: list[str], builtin: bool) -> list[dict[str, Any]]:
    """The registry's settings in effect and where each value came from. A built-in scenario's values are
    still rollsafe's assumptions; a user's file or --set makes a value the user's own."""
    set_keys = {o.partition("=")[0].strip() for o in overrides}
    out = []
    for a in ASSUMPTIONS:
        exists, explicit, value = lookup(scenario, a.key)
        if not exists:
            continue
        if a.key in set_keys:
            origin = "--set"
        elif explicit and not builtin:
            origin = "scenario file"
        elif explicit:
            origin = "built-in scenario"
        else:
            origin = "rollsafe default"
        out.append({"key": a.key, "value": value, "origin": origin, "what": a.what, "source": a.source})
    return out


def is_assumed(origin: str) -> bool:
    return origin in {"rollsafe default", "built-in scenario"}


def with_value(scenario: Scenario, key: str, value: Any) -> Scenario:
    """The scenario with one key set to ``value`` (file spelling), validated as a file would be."""
    data = scenario.model_dump(mode="json", by_alias=True)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return Scenario.model_validate(data)
