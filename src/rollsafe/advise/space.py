"""The settings a team controls, their ranges, and how a candidate becomes a scenario.

A candidate is a mapping from knob key (the ``--set`` spelling, e.g. ``workload.preStopSleepSeconds``)
to a value. The grace period is not searched: it follows the preStop sleep so that it always covers
preStop + the app's drain + the kubelet's 2 s minimum (kill_plan in control/kubelet.py), and it is never
lowered below what the scenario already has. What a team cannot change (startup time, lags, traffic) is
never touched. This module must not run simulations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollsafe.control.deployment import resolve_int_or_percent
from rollsafe.control.kubelet import MINIMUM_GRACE_PERIOD_S
from rollsafe.errors import RollsafeError
from rollsafe.model.scenario import Scenario

PRESTOP = "workload.preStopSleepSeconds"
GRACE = "workload.terminationGracePeriodSeconds"
GATE = "workload.readinessGate"
SURGE = "workload.strategy.maxSurge"
UNAVAILABLE = "workload.strategy.maxUnavailable"
MIN_READY = "workload.minReadySeconds"
DEREG = "loadBalancer.deregistrationDelaySeconds"
HC_INTERVAL = "loadBalancer.healthCheck.intervalSeconds"
HC_HEALTHY = "loadBalancer.healthCheck.healthyThresholdCount"
HC_UNHEALTHY = "loadBalancer.healthCheck.unhealthyThresholdCount"

# Search ranges. preStop reaches 300 s: under a heavy-tailed deregistration lag a safe sleep can be
# 60-120 s (the public record has a 2-minute case), and the search must be able to say so.
# minReadySeconds beyond 120 s only slows a rollout down.
PRESTOP_MAX = 300
MIN_READY_MAX = 120
# ALB ranges (AWS target group health checks and attributes): interval 5-300 s, thresholds 2-10,
# deregistration delay 0-3600 s.
HC_INTERVAL_RANGE = (5, 300)
THRESHOLD_RANGE = (2, 10)
DEREG_RANGE = (0, 3600)


@dataclass(frozen=True)
class Knob:
    key: str
    kind: str  # "int" or "bool"
    low: int = 0
    high: int = 1
    # the causes this knob acts on (rollsafe.model.causes ids), for the one-line why
    acts_on: tuple[str, ...] = ()


def _get(sc: Scenario, key: str) -> Any:
    node: Any = sc.model_dump(by_alias=True)
    for part in key.split("."):
        node = node[part]
    return node


def drain_seconds(sc: Scenario) -> float:
    """What the app needs after SIGTERM: its drain when it drains, nothing when it exits at once."""
    return float(sc.app.drain_seconds) if sc.app.on_sigterm == "drain" else 0.0


def grace_for(sc: Scenario, pre_stop: float) -> int:
    """The grace period that covers preStop + drain + the kubelet's 2 s minimum; never below the current."""
    need = math.ceil(pre_stop + drain_seconds(sc)) + int(MINIMUM_GRACE_PERIOD_S)
    return max(need, math.ceil(sc.workload.termination_grace_period_seconds))


@dataclass
class Space:
    """The knobs searched for one scenario, the current values, and what is pinned."""

    base: Scenario
    knobs: list[Knob]
    current: dict[str, Any]
    fixed: dict[str, Any]
    notes: list[str]

    @property
    def free(self) -> list[Knob]:
        return [k for k in self.knobs if k.key not in self.fixed]

    def full(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every knob's value: the current ones, then the pinned ones, then ``values``; grace derived."""
        out = dict(self.current)
        out.update(self.fixed)
        out.update(values)
        out[GRACE] = self.fixed.get(GRACE, grace_for(self.base, float(out[PRESTOP])))
        return out

    def changes(self, full: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """key -> (from, to) for what differs from the scenario as given."""
        return {k: (self.current[k], v) for k, v in full.items() if not _same(self.current[k], v)}

    def valid(self, full: Mapping[str, Any]) -> str | None:
        """Why a candidate cannot be applied, or None. Kubernetes refuses maxSurge and maxUnavailable
        both 0 (apps/v1 validation); the grace period must cover preStop when it is pinned."""
        if (
            SURGE in full
            and _resolved(full[SURGE], self.base, up=True) == 0
            and _resolved(full[UNAVAILABLE], self.base, up=False) == 0
        ):
            return "maxSurge and maxUnavailable are both 0, which Kubernetes refuses"
        need = float(full[PRESTOP]) + drain_seconds(self.base) + MINIMUM_GRACE_PERIOD_S
        if float(full[GRACE]) < need:
            return f"the grace period {full[GRACE]} s does not cover preStop + drain + 2 s ({need:g} s)"
        return None

    def scenario(self, full: Mapping[str, Any]) -> Scenario:
        # only what was set: a full dump would spell out defaults some keys refuse (maxSurge under
        # Recreate); validation fills the defaults back in
        data = self.base.model_dump(by_alias=True, exclude_unset=True)
        for key, value in self.changes(full).items():
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value[1]
        return Scenario.model_validate(data)

    def overrides(self, full: Mapping[str, Any]) -> list[str]:
        """The change as ``--set`` arguments, in knob order."""
        ch = self.changes(full)
        order = [k.key for k in self.knobs] + [GRACE]
        return [f"{k}={_yaml(ch[k][1])}" for k in order if k in ch]


def _resolved(value: Any, sc: Scenario, *, up: bool) -> int:
    return resolve_int_or_percent(value, sc.workload.replicas, round_up=up)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def _yaml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _int(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else f


def build_space(base: Scenario, *, fix: Mapping[str, str] = {}, only: list[str] | None = None) -> Space:
    """The knobs for ``base``. ``fix`` pins keys (values as the user wrote them), ``only`` narrows the
    search to some keys; both name keys in the ``--set`` spelling or by their last part."""
    w, lb = base.workload, base.load_balancer
    replicas = w.replicas
    notes: list[str] = []
    knobs = [
        Knob(PRESTOP, "int", 0, PRESTOP_MAX, ("stopped-listening", "target-unreachable", "in-flight-killed")),
    ]
    if lb.target_type == "ip":
        knobs.append(Knob(GATE, "bool", acts_on=("no-healthy-targets", "not-yet-listening")))
    else:
        notes.append(
            "instance targets: the LB controller's readiness gate does not apply, so it is not searched"
        )
    if w.strategy.type == "RollingUpdate":
        cap = max(1, replicas)
        knobs += [
            Knob(SURGE, "int", 0, cap, ("no-healthy-targets",)),
            Knob(UNAVAILABLE, "int", 0, cap, ("no-healthy-targets",)),
        ]
    else:
        notes.append(
            "strategy Recreate stops every old pod before any new one starts; switch to RollingUpdate "
            "(reported, not searched: it changes how the app is deployed)"
        )
    knobs += [
        Knob(MIN_READY, "int", 0, MIN_READY_MAX, ("no-healthy-targets", "not-yet-listening")),
        Knob(DEREG, "int", *DEREG_RANGE, ("drain-timeout",)),
        Knob(
            HC_INTERVAL,
            "int",
            max(HC_INTERVAL_RANGE[0], math.floor(lb.health_check.timeout_seconds) + 1),
            HC_INTERVAL_RANGE[1],
            ("no-healthy-targets",),
        ),
        Knob(HC_HEALTHY, "int", *THRESHOLD_RANGE, ("no-healthy-targets",)),
        Knob(HC_UNHEALTHY, "int", *THRESHOLD_RANGE, ("no-healthy-targets",)),
    ]
    if base.app.keep_alive_timeout_seconds <= lb.idle_timeout_seconds:
        notes.append(
            f"app.keepAliveTimeoutSeconds ({base.app.keep_alive_timeout_seconds:g} s) is not above the ALB "
            f"idle timeout ({lb.idle_timeout_seconds:g} s): the ALB can send on a connection the server is "
            "closing (keepalive-race); raise the server's keep-alive timeout above it (an app setting: "
            "reported, not searched)"
        )
    if lb.target_type == "instance":
        notes.append(
            "instance targets: requests also reach pods through kube-proxy and pinned keep-alive "
            "connections, which no setting here stops; ip targets (target-type: ip) with the readiness "
            "gate avoid that (reported, not searched: it changes how the ALB reaches pods)"
        )
    if base.app.on_sigterm == "exit":
        notes.append(
            "app.onSigterm is exit: in-flight requests die with the process; drain on SIGTERM instead "
            "(finish what is running, then exit) — reported, not searched: it is a code change"
        )
    current: dict[str, Any] = {}
    for k in [*knobs, Knob(GRACE, "int")]:
        v = _get(base, k.key)
        current[k.key] = v if k.kind == "bool" or isinstance(v, str) else _int(v)
    if SURGE in current:
        # compare as the Deployment controller resolves them (25% of 10 is a surge of 3, unavailable 2)
        current[SURGE] = _resolved(current[SURGE], base, up=True)
        current[UNAVAILABLE] = _resolved(current[UNAVAILABLE], base, up=False)
    names = [k.key for k in knobs] + [GRACE]

    def resolve(name: str, what: str) -> str:
        if name in names:
            return name
        hits = [n for n in names if n.rsplit(".", 1)[-1] == name]
        if len(hits) == 1:
            return hits[0]
        raise RollsafeError(
            f"{what} {name!r}: not a setting advise searches here; one of: {', '.join(names)}"
        )

    fixed: dict[str, Any] = {}
    for name, raw in fix.items():
        key = resolve(name, "--fix")
        fixed[key] = _parse(key, raw, knobs)
    space = Space(base=base, knobs=knobs, current=current, fixed=fixed, notes=notes)
    if only is not None:
        keep = {resolve(n, "--only") for n in only}
        for k in knobs:
            if k.key not in keep and k.key not in fixed:
                fixed[k.key] = current[k.key]
    return space


def _parse(key: str, raw: str, knobs: list[Knob]) -> Any:
    kind = next((k for k in knobs if k.key == key), Knob(key, "int", 0, 86_400))
    text = raw.strip()
    if kind.kind == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise RollsafeError(f"--fix {key}={raw}: expected true or false")
    try:
        value = float(text)
    except ValueError:
        raise RollsafeError(f"--fix {key}={raw}: expected a number of {_unit(key)}") from None
    if not value.is_integer() or not kind.low <= value <= kind.high:
        raise RollsafeError(f"--fix {key}={raw}: expected a whole number from {kind.low} to {kind.high}")
    return int(value)


def _unit(key: str) -> str:
    return "seconds" if key.endswith("Seconds") else "pods" if "strategy" in key else "checks"
