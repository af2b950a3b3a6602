"""Facts → the simulator's Scenario, through the Scenario model and its manifest spellings.

Every value keeps its provenance (the Source it came from), and every value that is not in the manifests
(a default, the app profile, an assumption) is listed as an assumption. Must not run the simulator; a
workload the Scenario model refuses is returned with the reason, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rollsafe.errors import RollsafeError
from rollsafe.manifests.facts import Setting, Source, WorkloadFacts
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import _apply_override

PROBE_KEYS = (
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
)


@dataclass
class Built:
    facts: WorkloadFacts
    data: dict[str, Any]
    provenance: dict[str, Source]
    assumptions: list[str] = field(default_factory=list)  # every value not read from the manifests
    notable: list[str] = field(default_factory=list)  # of those, the guesses (not documented defaults)
    scenario: Scenario | None = None
    error: str | None = None


def _int_if_whole(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def scenario_data(f: WorkloadFacts, *, rps: float | None = None) -> tuple[dict[str, Any], dict[str, Source]]:
    prov: dict[str, Source] = {}

    def put(node: dict[str, Any], key: str, path: str, setting: Setting[Any], value: Any = None) -> None:
        node[key] = setting.value if value is None else value
        prov[path] = setting.source

    workload: dict[str, Any] = {"name": f.name}
    put(workload, "replicas", "workload.replicas", f.replicas)
    strategy: dict[str, Any] = {}
    put(strategy, "type", "workload.strategy.type", f.strategy_type)
    if f.strategy_type.value == "RollingUpdate":
        put(strategy, "maxSurge", "workload.strategy.maxSurge", f.max_surge)
        put(strategy, "maxUnavailable", "workload.strategy.maxUnavailable", f.max_unavailable)
    workload["strategy"] = strategy
    put(workload, "minReadySeconds", "workload.minReadySeconds", f.min_ready_seconds)
    put(workload, "terminationGracePeriodSeconds", "workload.terminationGracePeriodSeconds", f.grace_period)
    c = f.serving
    if c is not None:
        pre = c.pre_stop
        workload["preStopSleepSeconds"] = pre.seconds if pre.seconds is not None else 0
        prov["workload.preStopSleepSeconds"] = (
            pre.source
            if pre.seconds is not None
            else Source(
                "assumption",
                f"preStop {pre.detail}: duration unknown, simulated as 0 s "
                "(give it with --set workload.preStopSleepSeconds=N)",
            )
        )
        probe = c.readiness.value
        workload["readinessProbe"] = (
            {k: probe[k] for k in PROBE_KEYS if isinstance(probe.get(k), int | float)}
            if probe is not None
            else None
        )
        prov["workload.readinessProbe"] = c.readiness.source
    workload["readinessGate"] = f.gate
    prov["workload.readinessGate"] = f.gate_requested.source

    lb: dict[str, Any] = {}
    put(lb, "targetType", "loadBalancer.targetType", f.target_type)
    hc: dict[str, Any] = {}
    put(hc, "intervalSeconds", "loadBalancer.healthCheck.intervalSeconds", f.hc_interval)
    put(hc, "timeoutSeconds", "loadBalancer.healthCheck.timeoutSeconds", f.hc_timeout)
    for key, s in (
        ("healthyThresholdCount", f.healthy_threshold),
        ("unhealthyThresholdCount", f.unhealthy_threshold),
    ):
        put(hc, key, f"loadBalancer.healthCheck.{key}", s, _int_if_whole(s.value))
    lb["healthCheck"] = hc
    put(lb, "deregistrationDelaySeconds", "loadBalancer.deregistrationDelaySeconds", f.deregistration_delay)
    put(lb, "idleTimeoutSeconds", "loadBalancer.idleTimeoutSeconds", f.idle_timeout)
    put(lb, "algorithm", "loadBalancer.algorithm", f.algorithm)

    app = f.app.model_dump(mode="json", by_alias=True)
    for key in app:
        prov[f"app.{key}"] = f.app_source
    data: dict[str, Any] = {
        "name": f.key,
        "description": f"{f.key} from {f.file}:{f.line}",
        "workload": workload,
        "app": app,
        "loadBalancer": lb,
    }
    if rps is not None:
        data["traffic"] = {"rps": rps}
        prov["traffic.rps"] = Source("set", f"--rps {rps:g}")
    return data, prov


def build(
    f: WorkloadFacts,
    *,
    rps: float | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
    validate: bool = True,
) -> Built:
    """The scenario data, provenance and assumptions; with ``validate``, the Scenario too (or the reason
    the model refuses it). Lint alone does not need the Scenario and skips its cost."""
    data, prov = scenario_data(f, rps=rps)  # fresh dicts: the overrides may change them
    try:
        for item in overrides:
            _apply_override(data, item)
            prov[item.partition("=")[0].strip()] = Source("set", f"--set {item}")
    except RollsafeError as exc:
        return Built(f, data, prov, error=str(exc))
    out = Built(f, data, prov, assumptions=list(f.assumptions), notable=list(f.assumptions))
    for path, src in sorted(prov.items()):
        if src.kind in ("default", "profile", "assumption", "config") and not path.startswith("app."):
            out.assumptions.append(f"{path} = {_show(_lookup(data, path))}: {src.detail}")
            # the guesses not already said in words above (the Namespace label, a TargetGroupBinding's
            # target group): an unknown preStop duration
            if src.kind == "assumption" and path == "workload.preStopSleepSeconds":
                out.notable.append(f"{path} = {_show(_lookup(data, path))}: {src.detail}")
    if f.app_source.kind != "set":
        out.assumptions.append(f"app: {f.app_source.detail}: {f.app_summary}")
    if not validate:
        return out
    try:
        out.scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors(include_url=False):
            loc = ".".join(
                str(p) for p in err["loc"] if not str(p).startswith("function-") and p not in {"int", "str"}
            )
            origin = prov.get(loc)
            msgs.append(
                f"{loc}: {err['msg'].removeprefix('Value error, ')}"
                + (f" (from {origin})" if origin is not None else "")
            )
        out.error = "the simulator cannot take this workload: " + "; ".join(msgs)
    return out


def _lookup(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
