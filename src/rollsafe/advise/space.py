"""The settings a team controls, their ranges, and how a candidate becomes a scenario.

A candidate is a mapping from knob key (the ``--set`` spelling, e.g. ``workload.preStopSleepSeconds``)
to a value. The grace period is not searched: it follows the preStop sleep so that it always covers
preStop + the app's drain + the kubelet's 2 s minimum (kill_plan in control/kubelet.py), and it is never
lowered below what the scenario already has. What a team cannot change (startup time, lags, traffic) is
never touched. This module must not run simulations.

Besides the numeric knobs, some remedies are structural: a code change (drain on SIGTERM), an app setting
(the server's keep-alive timeout), a manifest change that is not a number (strategy Recreate ->
RollingUpdate, instance -> ip targets, the ALB idle timeout below the server's keep-alive). They are not
searched: each is one fixed change, listed here (``Remedy``) least invasive first with the causes it
removes. The search adds one only when no setting of the knobs meets the target without it
(search.Search), and the space is then rebuilt on top of it (``Space.require``): ip targets make the
readiness gate searchable, RollingUpdate the surge and unavailability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
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
# the structural remedies' keys (the --set spelling, docs/scenario.md)
STRATEGY = "workload.strategy.type"
TARGET_TYPE = "loadBalancer.targetType"
KEEPALIVE = "app.keepAliveTimeoutSeconds"
IDLE = "loadBalancer.idleTimeoutSeconds"
ON_SIGTERM = "app.onSigterm"
REMEDY_KEYS = (KEEPALIVE, IDLE, STRATEGY, TARGET_TYPE, ON_SIGTERM)
KNOB_KEYS = (PRESTOP, GATE, SURGE, UNAVAILABLE, MIN_READY, DEREG, HC_INTERVAL, HC_HEALTHY, HC_UNHEALTHY)
# the order changes are listed in: the structural ones first, then the knobs, then the grace period
ORDER = (*REMEDY_KEYS, *KNOB_KEYS, "workload.terminationGracePeriodSeconds")

# what kind of change each is, for the report and the patch
CODE, APP_CONFIG, MANIFEST = "code change", "app config", "manifest change"

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
IDLE_RANGE = (1, 4000)  # ALB idle_timeout.timeout_seconds: 1-4000 s (AWS, load balancer attributes)
# The server's keep-alive above the ALB idle timeout by this much: AWS asks only for "larger" (ALB user
# guide, connection idle timeout); 5 s is the margin commonly used (65 s behind the default 60 s).
KEEPALIVE_MARGIN_S = 5


@dataclass(frozen=True)
class Knob:
    key: str
    kind: str  # "int" or "bool"
    low: int = 0
    high: int = 1
    # the causes this knob acts on (rollsafe.model.causes ids), for the one-line why
    acts_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Remedy:
    """A structural change: one fixed value, not searched. ``group``: alternatives for the same cause
    (only the first one not pinned is used)."""

    key: str
    to: Any
    kind: str  # CODE, APP_CONFIG or MANIFEST
    causes: tuple[str, ...]  # the causes it removes (rollsafe.model.causes ids)
    group: str
    why: str


def remedies_for(sc: Scenario) -> list[Remedy]:
    """The structural remedies that apply to ``sc``, least invasive first: an app setting, then manifest
    changes, then a code change (a manifest is changed and reverted with kubectl; code needs a build and a
    release)."""
    app, lb, w = sc.app, sc.load_balancer, sc.workload
    out: list[Remedy] = []
    if app.keep_alive_timeout_seconds <= lb.idle_timeout_seconds:
        # AWS: "configure the idle timeout of your application to be larger than the idle timeout
        # configured for the load balancer" (ALB user guide, connection idle timeout)
        out.append(
            Remedy(
                KEEPALIVE,
                math.floor(lb.idle_timeout_seconds) + KEEPALIVE_MARGIN_S,
                APP_CONFIG,
                ("keepalive-race",),
                "keepalive",
                f"the server's idle keep-alive above the ALB idle timeout ({lb.idle_timeout_seconds:g} s): "
                "the ALB closes idle pooled connections first and knows it, so it never sends on one the "
                "server is closing (e.g. Node.js server.keepAliveTimeout, nginx keepalive_timeout)",
            )
        )
        if app.keep_alive_timeout_seconds > IDLE_RANGE[0] + 0.5:
            out.append(
                Remedy(
                    IDLE,
                    max(IDLE_RANGE[0], math.ceil(app.keep_alive_timeout_seconds) - 1),
                    MANIFEST,
                    ("keepalive-race",),
                    "keepalive",
                    f"the ALB idle timeout below the server's keep-alive ({app.keep_alive_timeout_seconds:g} "
                    "s), so the ALB closes idle connections first; it also closes idle client connections "
                    "and cuts responses silent for that long",
                )
            )
    if w.strategy.type == "Recreate":
        out.append(
            Remedy(
                STRATEGY,
                "RollingUpdate",
                MANIFEST,
                ("no-healthy-targets", "stopped-listening", "target-unreachable", "in-flight-killed"),
                "strategy",
                "Recreate stops every old pod before any new one starts, so the ALB has no target for the "
                "whole gap; RollingUpdate replaces pods a few at a time",
            )
        )
    if lb.target_type == "instance" and (
        "connections_per_instance" not in lb.model_fields_set or lb.connections_per_instance == 4
    ):
        out.append(
            Remedy(
                TARGET_TYPE,
                "ip",
                MANIFEST,
                (
                    "not-yet-listening",
                    "stopped-listening",
                    "in-flight-killed",
                    "target-unreachable",
                    "keepalive-race",
                ),
                "target-type",
                "instance targets reach pods through kube-proxy on pooled connections pinned to a pod, "
                "which no setting stops; with ip targets the ALB sends to pods and deregisters each one, "
                "and the readiness gate applies",
            )
        )
    if app.on_sigterm in ("exit", "ignore"):
        out.append(
            Remedy(
                ON_SIGTERM,
                "drain",
                CODE,
                ("in-flight-killed",),
                "sigterm",
                f"on SIGTERM stop accepting, finish the requests in flight (up to app.drainSeconds, "
                f"{app.drain_seconds:g} s), then exit, instead of "
                + ("exiting at once" if app.on_sigterm == "exit" else "ignoring it until SIGKILL"),
            )
        )
    return out


def _get(sc: Scenario, key: str) -> Any:
    node: Any = sc.model_dump(by_alias=True)
    for part in key.split("."):
        node = node[part]
    return node


def drain_seconds(sc: Scenario, on_sigterm: str | None = None) -> float:
    """What the app needs after SIGTERM: its drain when it drains, nothing when it exits at once.
    ``on_sigterm`` overrides the scenario's (a candidate that changes it)."""
    return float(sc.app.drain_seconds) if (on_sigterm or sc.app.on_sigterm) == "drain" else 0.0


def grace_for(sc: Scenario, pre_stop: float, on_sigterm: str | None = None) -> int:
    """The grace period that covers preStop + drain + the kubelet's 2 s minimum; never below the current."""
    need = math.ceil(pre_stop + drain_seconds(sc, on_sigterm)) + int(MINIMUM_GRACE_PERIOD_S)
    return max(need, math.ceil(sc.workload.termination_grace_period_seconds))


def with_values(base: Scenario, values: Mapping[str, Any]) -> Scenario:
    """``base`` with each key of ``values`` set (the --set spelling), validated as a scenario."""
    # only what was set: a full dump would spell out defaults some keys refuse (maxSurge under
    # Recreate); validation fills the defaults back in
    data = base.model_dump(by_alias=True, exclude_unset=True)
    for key, value in values.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return Scenario.model_validate(data)


@dataclass
class Space:
    """The knobs searched for one scenario, the current values, and what is pinned."""

    base: Scenario
    knobs: list[Knob]
    current: dict[str, Any]
    fixed: dict[str, Any]
    notes: list[str]
    # the structural remedies advise may add (not pinned, allowed by --only; the required ones stay
    # listed), least invasive first, and those required so far (key -> value), in the order added
    remedies: list[Remedy] = field(default_factory=list)
    required: dict[str, Any] = field(default_factory=dict)
    fix_raw: dict[str, str] = field(default_factory=dict)
    only: list[str] | None = None

    @property
    def free(self) -> list[Knob]:
        return [k for k in self.knobs if k.key not in self.fixed]

    def require(self, remedy: Remedy) -> Space:
        """This space with ``remedy`` made a required change, its knobs rebuilt on top of it."""
        required = {**self.required, remedy.key: remedy.to}
        return build_space(self.base, fix=self.fix_raw, only=self.only, required=required)

    def remedy(self, key: str) -> Remedy | None:
        return next((r for r in self.remedies if r.key == key), None)

    def full(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every key's value: the current ones, then the required changes, then the pinned ones, then
        ``values``; grace derived."""
        out = dict(self.current)
        out.update(self.required)
        out.update(self.fixed)
        out.update(values)
        out[GRACE] = self.fixed.get(
            GRACE, grace_for(self.base, float(out[PRESTOP]), str(out.get(ON_SIGTERM, "")) or None)
        )
        return out

    def changes(self, full: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """key -> (from, to) for what differs from the scenario as given."""
        return {k: (self.current[k], v) for k, v in full.items() if not _same(self.current[k], v)}

    def valid(self, full: Mapping[str, Any]) -> str | None:
        """Why a candidate cannot be applied, or None. Kubernetes refuses maxSurge and maxUnavailable
        both 0 (apps/v1 validation); the grace period must cover preStop when it is pinned; the readiness
        gate needs ip targets; Recreate takes no surge or unavailability."""
        if (
            SURGE in full
            and full.get(STRATEGY, "RollingUpdate") == "RollingUpdate"
            and _resolved(full[SURGE], self.base, up=True) == 0
            and _resolved(full[UNAVAILABLE], self.base, up=False) == 0
        ):
            return "maxSurge and maxUnavailable are both 0, which Kubernetes refuses"
        need = (
            float(full[PRESTOP])
            + drain_seconds(self.base, str(full.get(ON_SIGTERM, "")) or None)
            + MINIMUM_GRACE_PERIOD_S
        )
        if float(full[GRACE]) < need:
            return f"the grace period {full[GRACE]} s does not cover preStop + drain + 2 s ({need:g} s)"
        if full.get(GATE) and full.get(TARGET_TYPE) == "instance":
            return "the readiness gate applies only to ip targets"
        ch = self.changes(full)
        if full.get(STRATEGY) == "Recreate" and (SURGE in ch or UNAVAILABLE in ch):
            return "maxSurge and maxUnavailable do not apply to the Recreate strategy"
        return None

    def scenario(self, full: Mapping[str, Any]) -> Scenario:
        return with_values(self.base, {k: v[1] for k, v in self.changes(full).items()})

    def overrides(self, full: Mapping[str, Any]) -> list[str]:
        """The change as ``--set`` arguments: the structural ones first, then the knobs, then grace."""
        ch = self.changes(full)
        return [f"{k}={_yaml(ch[k][1])}" for k in ORDER if k in ch]


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


def build_space(
    base: Scenario,
    *,
    fix: Mapping[str, str] = {},
    only: list[str] | None = None,
    required: Mapping[str, Any] | None = None,
) -> Space:
    """The knobs for ``base``. ``fix`` pins keys (values as the user wrote them), ``only`` narrows the
    search to some keys; both name keys in the ``--set`` spelling or by their last parts. ``required``:
    structural changes already made (Space.require); the knobs are those of the scenario with them."""
    required = dict(required or {})
    every = [*KNOB_KEYS, GRACE, *REMEDY_KEYS]

    def resolve(name: str, what: str, names: list[str]) -> str:
        if name in names:
            return name
        hits = [n for n in names if n.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        raise RollsafeError(
            f"{what} {name!r}: not a setting advise searches here; one of: {', '.join(names)}"
        )

    # pinned structural settings shape the scenario the knobs are built on, as required ones do
    pinned = {resolve(n, "--fix", every): raw for n, raw in fix.items()}
    shaped = {k: _parse_remedy(k, raw) for k, raw in pinned.items() if k in REMEDY_KEYS}
    eff = with_values(base, {**required, **shaped}) if (required or shaped) else base
    w, lb = eff.workload, eff.load_balancer
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
            f"(not searched: {_REQUIRED_ONLY})"
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
    if eff.app.keep_alive_timeout_seconds <= lb.idle_timeout_seconds:
        notes.append(
            f"app.keepAliveTimeoutSeconds ({eff.app.keep_alive_timeout_seconds:g} s) is not above the ALB "
            f"idle timeout ({lb.idle_timeout_seconds:g} s): the ALB can send on a connection the server is "
            "closing (keepalive-race); raise the server's keep-alive timeout above it (an app setting; "
            f"not searched: {_REQUIRED_ONLY})"
        )
    if lb.target_type == "instance":
        notes.append(
            "instance targets: requests also reach pods through kube-proxy and pinned keep-alive "
            "connections, which no setting here stops; ip targets (target-type: ip) with the readiness "
            f"gate avoid that (not searched: {_REQUIRED_ONLY})"
        )
    if eff.app.on_sigterm == "exit":
        notes.append(
            "app.onSigterm is exit: in-flight requests die with the process; drain on SIGTERM instead "
            f"(finish what is running, then exit) — a code change, not searched: {_REQUIRED_ONLY}"
        )
    current: dict[str, Any] = {}
    for key in every:
        v = _get(base, key)
        current[key] = v if isinstance(v, bool | str) else _int(v)
    # compare as the Deployment controller resolves them (25% of 10 is a surge of 3, unavailable 2)
    current[SURGE] = _resolved(current[SURGE], base, up=True)
    current[UNAVAILABLE] = _resolved(current[UNAVAILABLE], base, up=False)
    names = [k.key for k in knobs] + [GRACE]
    fixed: dict[str, Any] = {}
    for key, raw in pinned.items():
        if key in REMEDY_KEYS:
            fixed[key] = shaped[key]
        elif key in names:
            fixed[key] = _parse(key, raw, knobs)
        else:
            resolve(key, "--fix", names)  # raises, naming what can be pinned here
    allowed = None if only is None else {resolve(n, "--only", every) for n in only}
    remedies = [r for r in remedies_for(base) if r.key not in fixed and (allowed is None or r.key in allowed)]
    space = Space(
        base=base,
        knobs=knobs,
        current=current,
        fixed=fixed,
        notes=notes,
        remedies=remedies,
        required=required,
        fix_raw=dict(fix),
        only=None if only is None else list(only),
    )
    if allowed is not None:
        for k in knobs:
            if k.key not in allowed and k.key not in fixed:
                fixed[k.key] = current[k.key]
    return space


_REQUIRED_ONLY = "advise adds it as a required change only when no searched setting meets the target"


def _parse_remedy(key: str, raw: str) -> Any:
    text = raw.strip()
    choices = {
        STRATEGY: ("RollingUpdate", "Recreate"),
        TARGET_TYPE: ("ip", "instance"),
        ON_SIGTERM: ("exit", "drain", "ignore"),
    }.get(key)
    if choices is not None:
        if text not in choices:
            raise RollsafeError(f"--fix {key}={raw}: expected one of {', '.join(choices)}")
        return text
    low, high = IDLE_RANGE if key == IDLE else (1, 86_400)
    try:
        value = float(text)
    except ValueError:
        raise RollsafeError(f"--fix {key}={raw}: expected a number of seconds") from None
    if not value.is_integer() or not low <= value <= high:
        raise RollsafeError(f"--fix {key}={raw}: expected a whole number from {low} to {high}")
    return int(value)


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
