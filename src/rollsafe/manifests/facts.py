"""The settings of one linked workload that decide whether its rollout drops requests, each with where it
came from (file:line, annotation, default, profile or assumption).

Defaults follow Kubernetes and the AWS LB controller (sources in the comments). Rules read these facts;
``build`` turns them into a Scenario. Must not run the simulator, and must not raise on odd values: they
become Problems and the default is used, said so.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from rollsafe.manifests.link import Front, LinkedWorkload
from rollsafe.manifests.reader import K8sObject, Problem
from rollsafe.model.scenario import App, Scenario

T = TypeVar("T")

SourceKind = Literal[
    "manifest", "annotation", "default", "profile", "assumption", "config", "set", "scenario"
]

A = "alb.ingress.kubernetes.io/"
GATE_LABEL = (
    "elbv2.k8s.aws/pod-readiness-gate-inject"  # value "enabled" (LB controller pod_readiness_gate.md)
)
GATE_CONDITION_PREFIXES = ("target-health.elbv2.k8s.aws/", "target-health.alb.ingress.k8s.aws/")
IGNORE_ANNOTATION = "rollsafe.io/ignore"
APP_ANNOTATION = "rollsafe.io/app"


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    detail: str  # the key path, annotation or default's origin
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is not None:
            return f"{self.detail} ({self.file}:{self.line})"
        return f"{self.detail} ({self.kind})"


@dataclass(frozen=True)
class Setting(Generic[T]):
    value: T
    source: Source


@dataclass(frozen=True)
class PreStop:
    kind: Literal["none", "sleep", "exec-sleep", "unknown"]
    seconds: float | None  # None when the hook's duration cannot be known
    detail: str
    source: Source


@dataclass(frozen=True)
class ContainerFacts:
    name: str
    line: int
    serving: bool  # the container the Service's targetPort reaches
    readiness: Setting[dict[str, Any] | None]
    liveness: Setting[dict[str, Any] | None]
    pre_stop: PreStop


@dataclass
class WorkloadFacts:
    namespace: str
    name: str
    file: str
    line: int
    replicas: Setting[int]
    strategy_type: Setting[str]
    max_surge: Setting[int | str]
    max_unavailable: Setting[int | str]
    min_ready_seconds: Setting[float]
    grace_period: Setting[float]
    containers: list[ContainerFacts]
    target_type: Setting[str]
    hc_interval: Setting[float]
    hc_timeout: Setting[float]
    healthy_threshold: Setting[float]
    unhealthy_threshold: Setting[float]
    hc_path: Setting[str]
    success_codes: Setting[str]
    deregistration_delay: Setting[float]
    slow_start: Setting[float]
    algorithm: Setting[str]
    idle_timeout: Setting[float]
    gate_requested: Setting[bool]  # namespace label or explicit readinessGates, whatever the target type
    app: App
    app_source: Source
    app_summary: str = ""  # what the app profile assumes, in words
    fronts: list[str] = field(default_factory=list)
    ignored: frozenset[str] = frozenset()
    assumptions: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    deployment: K8sObject | None = None
    tgb: bool = False  # fronted by a TargetGroupBinding (the target group is made outside Kubernetes)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def gate(self) -> bool:
        """Readiness gates are injected: requested, and ip targets (the only kind they apply to)."""
        return self.gate_requested.value and self.target_type.value == "ip"

    @property
    def serving(self) -> ContainerFacts | None:
        return next(
            (c for c in self.containers if c.serving), self.containers[0] if self.containers else None
        )


def _default(value: T, why: str) -> Setting[T]:
    return Setting(value, Source("default", why))


# -- from manifests --------------------------------------------------------------------------------------


def from_manifests(
    lw: LinkedWorkload, *, app: App, app_source: Source, gate_namespaces: frozenset[str] = frozenset()
) -> WorkloadFacts:
    d = lw.deployment
    problems: list[Problem] = []
    assumptions = list(lw.assumptions)

    def m(*path: str | int) -> Source:
        return Source("manifest", ".".join(str(p) for p in path), d.file, d.line(*path))

    def num(path: tuple[str | int, ...], default: float, why: str) -> Setting[float]:
        raw = d.get(*path)
        if raw is None:
            return _default(default, why)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.append(
                Problem(
                    d.file, d.line(*path), f"{d.ref}: {'.'.join(map(str, path))} is {raw!r}, not a number"
                )
            )
            return _default(default, why)
        return Setting(float(raw), m(*path))

    replicas_raw = d.get("spec", "replicas")
    if isinstance(replicas_raw, int) and not isinstance(replicas_raw, bool):
        replicas: Setting[int] = Setting(replicas_raw, m("spec", "replicas"))
    else:
        # apps/v1 DeploymentSpec: "Defaults to 1". With an HPA the field is often left out on purpose.
        hpa_min = lw.hpa.get("spec", "minReplicas") if lw.hpa is not None else None
        if lw.hpa is not None and replicas_raw is None:
            # autoscaling/v2 HorizontalPodAutoscalerSpec: minReplicas "defaults to 1". A rollout at the
            # floor is the tightest case; the HPA may run more.
            value = hpa_min if isinstance(hpa_min, int) and not isinstance(hpa_min, bool) else 1
            h = lw.hpa
            replicas = Setting(
                value,
                Source(
                    "manifest",
                    f"minReplicas of {h.ref} (no spec.replicas)",
                    h.file,
                    h.line("spec", "minReplicas"),
                ),
            )
            assumptions.append(f"replicas: {value}, the minReplicas of {h.ref}; the HPA may run more")
        else:
            replicas = _default(1, "Kubernetes default replicas 1")
        if replicas_raw is not None:
            problems.append(
                Problem(d.file, d.line("spec", "replicas"), f"{d.ref}: spec.replicas is {replicas_raw!r}")
            )
    stype_raw = d.get("spec", "strategy", "type")
    stype: Setting[str] = (
        Setting(str(stype_raw), m("spec", "strategy", "type"))
        if stype_raw is not None
        else _default("RollingUpdate", "Kubernetes default strategy RollingUpdate")
    )

    def surge(key: str) -> Setting[int | str]:
        raw = d.get("spec", "strategy", "rollingUpdate", key)
        if isinstance(raw, int | str) and not isinstance(raw, bool):
            return Setting(raw, m("spec", "strategy", "rollingUpdate", key))
        return _default("25%", f"Kubernetes default {key} 25%")

    pod = ("spec", "template", "spec")
    containers_raw = d.get(*pod, "containers")
    containers = _containers(d, containers_raw if isinstance(containers_raw, list) else [], lw.fronts)
    if not containers:
        problems.append(Problem(d.file, d.line(*pod), f"{d.ref}: no containers"))

    # annotations: the Service's win over the Ingress's (LB controller annotations.md, "Annotations
    # applied to Service have higher priority over annotations applied to Ingress").
    front = lw.fronts[0]
    if len({(f.via.kind, f.via.name, f.service.name) for f in lw.fronts}) > 1:
        assumptions.append(
            f"behind {len(lw.fronts)} backends; load-balancer settings are read from the first, {front.label}"
        )
    tgb = front.via.kind == "TargetGroupBinding"
    ann = _Annotations(front, problems)
    if tgb:
        tt_raw = front.via.get("spec", "targetType")
        target_type: Setting[str] = (
            Setting(
                str(tt_raw),
                Source("manifest", "spec.targetType", front.via.file, front.via.line("spec", "targetType")),
            )
            if tt_raw in ("ip", "instance")
            else Setting(
                "instance", Source("assumption", "TargetGroupBinding without spec.targetType: instance")
            )
        )
        # MODEL ASSUMPTION: a TargetGroupBinding's target group is made outside Kubernetes (Terraform,
        # CloudFormation), so its health check is not in the manifests; AWS's CreateTargetGroup defaults
        # (interval 30, timeout 5, healthy 5, unhealthy 2; ALB user guide, target group health checks).
        aws = "AWS CreateTargetGroup default (the target group is not in the manifests)"
        hc_interval = Setting(30.0, Source("assumption", f"health check interval 30 s: {aws}"))
        hc_timeout = Setting(5.0, Source("assumption", f"health check timeout 5 s: {aws}"))
        healthy = Setting(5.0, Source("assumption", f"healthy threshold 5: {aws}"))
        unhealthy = Setting(2.0, Source("assumption", f"unhealthy threshold 2: {aws}"))
        hc_path = Setting("/", Source("assumption", f"health check path /: {aws}"))
        codes = Setting("200", Source("assumption", f"success codes 200: {aws}"))
        attrs: dict[str, Setting[str]] = {}
        lb_attrs: dict[str, Setting[str]] = {}
        assumptions.append(
            f"{front.via.ref}: the target group's health check and attributes are not in the manifests; "
            "AWS's defaults are assumed (interval 30 s, healthy threshold 5, deregistration delay 300 s)"
        )
    else:
        # LB controller defaults (annotations.md; pkg/ingress/model_builder.go): target-type instance,
        # interval 15, timeout 5, healthy 2, unhealthy 2, path /, success codes 200.
        target_type = ann.text("target-type", "instance", choices=("ip", "instance"))
        hc_interval = ann.number("healthcheck-interval-seconds", 15)
        hc_timeout = ann.number("healthcheck-timeout-seconds", 5)
        healthy = ann.number("healthy-threshold-count", 2)
        unhealthy = ann.number("unhealthy-threshold-count", 2)
        hc_path = ann.text("healthcheck-path", "/")
        codes = ann.text("success-codes", "200")
        attrs = ann.pairs("target-group-attributes")
        lb_attrs = ann.pairs("load-balancer-attributes", ingress_only=True)

    def attr_num(pairs: dict[str, Setting[str]], key: str, default: float, why: str) -> Setting[float]:
        got = pairs.get(key)
        if got is None:
            return _default(default, why)
        try:
            return Setting(float(got.value), got.source)
        except ValueError:
            problems.append(
                Problem(got.source.file or d.file, got.source.line, f"{key}={got.value!r} is not a number")
            )
            return _default(default, why)

    # deregistration_delay.timeout_seconds: AWS default 300; the LB controller sets none.
    dereg = attr_num(
        attrs, "deregistration_delay.timeout_seconds", 300, "AWS default deregistration delay 300 s"
    )
    slow = attr_num(attrs, "slow_start.duration_seconds", 0, "AWS default slow start 0 (off)")
    algo_raw = attrs.get("load_balancing.algorithm.type")
    algorithm = algo_raw if algo_raw is not None else _default("round_robin", "AWS default round_robin")
    idle = attr_num(lb_attrs, "idle_timeout.timeout_seconds", 60, "AWS default idle timeout 60 s")

    gate_requested = _gate(d, lw, gate_namespaces, assumptions)
    # rollsafe.io/ignore on the Deployment, or on a Service, Ingress or TargetGroupBinding in front of it
    ignored = frozenset(
        s.strip()
        for obj in [d, *(f.service for f in lw.fronts), *(f.via for f in lw.fronts)]
        for s in str(obj.annotations.get(IGNORE_ANNOTATION, "")).split(",")
        if s.strip()
    )
    return WorkloadFacts(
        namespace=d.namespace,
        name=d.name,
        file=d.file,
        line=d.line("metadata", "name"),
        replicas=replicas,
        strategy_type=stype,
        max_surge=surge("maxSurge"),
        max_unavailable=surge("maxUnavailable"),
        min_ready_seconds=num(("spec", "minReadySeconds"), 0, "Kubernetes default minReadySeconds 0"),
        grace_period=num((*pod, "terminationGracePeriodSeconds"), 30, "Kubernetes default grace period 30 s"),
        containers=containers,
        target_type=target_type,
        hc_interval=hc_interval,
        hc_timeout=hc_timeout,
        healthy_threshold=healthy,
        unhealthy_threshold=unhealthy,
        hc_path=hc_path,
        success_codes=codes,
        deregistration_delay=dereg,
        slow_start=slow,
        algorithm=algorithm,
        idle_timeout=idle,
        gate_requested=gate_requested,
        app=app,
        app_source=app_source,
        fronts=[f.label for f in lw.fronts],
        ignored=ignored,
        assumptions=assumptions,
        problems=problems,
        deployment=d,
        tgb=tgb,
    )


class _Annotations:
    """alb.ingress.kubernetes.io/* on the Service, else on the Ingress, else the LB controller's default."""

    def __init__(self, front: Front, problems: list[Problem]) -> None:
        self.front = front
        self.problems = problems

    def _find(self, name: str, *, ingress_only: bool = False) -> tuple[str, Source] | None:
        objs = [self.front.via] if ingress_only else [self.front.service, self.front.via]
        for obj in objs:
            raw = obj.annotations.get(A + name)
            if raw is not None:
                src = Source(
                    "annotation",
                    f"{A}{name} on {obj.ref}",
                    obj.file,
                    obj.line("metadata", "annotations", A + name),
                )
                return str(raw).strip(), src
        return None

    def text(self, name: str, default: str, *, choices: tuple[str, ...] = ()) -> Setting[str]:
        got = self._find(name)
        if got is None:
            return _default(default, f"LB controller default {name} {default}")
        value, src = got
        if choices and value not in choices:
            self.problems.append(
                Problem(
                    src.file or "",
                    src.line,
                    f"{A}{name}: {value!r} is not one of {', '.join(choices)}; the default {default} is used",
                )
            )
            return _default(default, f"LB controller default {name} {default}")
        return Setting(value, src)

    def number(self, name: str, default: float) -> Setting[float]:
        got = self._find(name)
        if got is None:
            return _default(float(default), f"LB controller default {name} {default:g}")
        value, src = got
        try:
            return Setting(float(value), src)
        except ValueError:
            self.problems.append(
                Problem(
                    src.file or "",
                    src.line,
                    f"{A}{name}: {value!r} is not a number; the default {default:g} is used",
                )
            )
            return _default(float(default), f"LB controller default {name} {default:g}")

    def pairs(self, name: str, *, ingress_only: bool = False) -> dict[str, Setting[str]]:
        got = self._find(name, ingress_only=ingress_only)
        if got is None:
            return {}
        value, src = got
        out: dict[str, Setting[str]] = {}
        for item in value.split(","):
            key, sep, val = item.partition("=")
            if not sep:
                if item.strip():
                    self.problems.append(
                        Problem(src.file or "", src.line, f"{A}{name}: {item!r} is not key=value")
                    )
                continue
            out[key.strip()] = Setting(
                val.strip(), Source(src.kind, f"{key.strip()} in {src.detail}", src.file, src.line)
            )
        return out


def _gate(
    d: K8sObject, lw: LinkedWorkload, gate_namespaces: frozenset[str], assumptions: list[str]
) -> Setting[bool]:
    gates = d.get("spec", "template", "spec", "readinessGates")
    if isinstance(gates, list):
        for i, g in enumerate(gates):
            if isinstance(g, dict) and str(g.get("conditionType", "")).startswith(GATE_CONDITION_PREFIXES):
                path = ("spec", "template", "spec", "readinessGates", i)
                return Setting(
                    True, Source("manifest", "spec.template.spec.readinessGates", d.file, d.line(*path))
                )
    ns = lw.namespace
    if ns is not None:
        value = ns.labels.get(GATE_LABEL)
        if value is not None:
            return Setting(
                str(value) == "enabled",
                Source(
                    "manifest",
                    f"label {GATE_LABEL} on {ns.ref}",
                    ns.file,
                    ns.line("metadata", "labels", GATE_LABEL),
                ),
            )
        return Setting(
            False,
            Source("manifest", f"{ns.ref} without the label {GATE_LABEL}", ns.file, ns.line("metadata")),
        )
    if d.namespace in gate_namespaces:
        return Setting(
            True, Source("config", f"readinessGateNamespaces lists {d.namespace} (.rollsafe.yaml)")
        )
    assumptions.append(
        f"Namespace {d.namespace} is not in the input: assumed without the label {GATE_LABEL}=enabled "
        "(list it under readinessGateNamespaces in .rollsafe.yaml if it has it)"
    )
    return Setting(
        False, Source("assumption", f"Namespace {d.namespace} not in the input; no {GATE_LABEL} label")
    )


def _containers(d: K8sObject, raw: list[Any], fronts: list[Front]) -> list[ContainerFacts]:
    base = ("spec", "template", "spec", "containers")
    targets = {t for t in (_target_port(f) for f in fronts) if isinstance(t, int | str)}
    serving_index = None
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            continue
        ports = c.get("ports")
        for p in ports if isinstance(ports, list) else []:
            if isinstance(p, dict) and any(
                isinstance(v, int | str) and v in targets for v in (p.get("containerPort"), p.get("name"))
            ):
                serving_index = i
                break
        if serving_index is not None:
            break
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            continue
        name = str(c.get("name", f"#{i}"))
        path = (*base, i)

        def probe(
            key: str, c: dict[str, Any] = c, path: tuple[str | int, ...] = path, name: str = name
        ) -> Setting[dict[str, Any] | None]:
            value = c.get(key)
            if isinstance(value, dict):
                return Setting(
                    value, Source("manifest", f"containers[{name}].{key}", d.file, d.line(*path, key))
                )
            return Setting(
                None, Source("manifest", f"containers[{name}] has no {key}", d.file, d.line(*path, "name"))
            )

        out.append(
            ContainerFacts(
                name=name,
                line=d.line(*path, "name"),
                serving=(i == serving_index) if serving_index is not None else i == 0,
                readiness=probe("readinessProbe"),
                liveness=probe("livenessProbe"),
                pre_stop=_pre_stop(d, c, path, name),
            )
        )
    return out


def _target_port(front: Front) -> Any:
    p = front.service_port
    return p.get("targetPort", p.get("port"))


_SLEEP = re.compile(r"(?:^|[\s;&|(])(?:/usr)?(?:/bin/)?sleep\s+(\d+(?:\.\d+)?)([smh]?)(?=$|[\s;&|)])")
_SHELLS = {
    "sh",
    "bash",
    "ash",
    "dash",
    "zsh",
    "/bin/sh",
    "/bin/bash",
    "/usr/bin/bash",
    "/bin/ash",
    "/bin/dash",
}
_LOOPS = re.compile(r"\b(while|until|for|wait)\b|\$\{|\$\(|`")


def _pre_stop(d: K8sObject, c: dict[str, Any], path: tuple[str | int, ...], name: str) -> PreStop:
    hook = c.get("lifecycle", {}).get("preStop") if isinstance(c.get("lifecycle"), dict) else None
    hook_path = (*path, "lifecycle", "preStop")
    if not isinstance(hook, dict):
        return PreStop(
            "none",
            0.0,
            "no preStop hook",
            Source("manifest", f"containers[{name}] has no preStop", d.file, d.line(*path, "name")),
        )
    src = Source("manifest", f"containers[{name}].lifecycle.preStop", d.file, d.line(*hook_path))
    sleep = hook.get("sleep")
    if isinstance(sleep, dict):
        secs = sleep.get("seconds")
        if isinstance(secs, int | float) and not isinstance(secs, bool):
            return PreStop("sleep", float(secs), f"sleep action {secs:g} s", src)
        return PreStop("unknown", None, f"sleep action with seconds {secs!r}", src)
    exec_ = hook.get("exec")
    if isinstance(exec_, dict) and isinstance(exec_.get("command"), list):
        cmd = [str(x) for x in exec_["command"]]
        secs_or_none = exec_sleep_seconds(cmd)
        shown = shlex.join(cmd)
        if secs_or_none is not None:
            return PreStop("exec-sleep", secs_or_none, f"exec {shown}", src)
        return PreStop("unknown", None, f"exec {shown} (not a recognisable sleep)", src)
    kind = next((k for k in ("httpGet", "tcpSocket") if k in hook), "an unknown handler")
    return PreStop("unknown", None, f"{kind} (its duration is the app's business)", src)


def exec_sleep_seconds(cmd: list[str]) -> float | None:
    """Seconds an exec preStop hook sleeps: ``["sleep","15"]``, ``["/bin/sleep","15s"]``, or a shell
    ``-c`` script whose only waiting is ``sleep N`` (several add up). None when it cannot be known."""
    if not cmd:
        return None
    if cmd[0].rsplit("/", 1)[-1] == "sleep" and len(cmd) == 2:
        return _seconds(cmd[1])
    if cmd[0] in _SHELLS and len(cmd) >= 3 and cmd[1] in ("-c", "-ec", "-ce", "-xc"):
        script = " ".join(cmd[2:])
        if _LOOPS.search(script):
            return None
        found = _SLEEP.findall(script)
        if not found:
            return None
        return sum(_seconds(n + unit) or 0.0 for n, unit in found)
    return None


def _seconds(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# -- from a scenario -------------------------------------------------------------------------------------


def from_scenario(sc: Scenario, *, source: str = "scenario") -> WorkloadFacts:
    """The same facts for a scenario file, so simulate's report can show the rules' findings too."""

    def s(value: T, key: str) -> Setting[T]:
        return Setting(value, Source("scenario", key))

    w, lb, hc = sc.workload, sc.load_balancer, sc.load_balancer.health_check
    probe = w.readiness_probe.model_dump(by_alias=True) if w.readiness_probe is not None else None
    pre = w.pre_stop_sleep_seconds
    container = ContainerFacts(
        name=w.name,
        line=0,
        serving=True,
        readiness=s(probe, "workload.readinessProbe"),
        liveness=s(None, "the scenario has no liveness probe"),
        pre_stop=PreStop(
            "sleep" if pre > 0 else "none",
            pre,
            f"preStopSleepSeconds {pre:g}",
            Source("scenario", "workload.preStopSleepSeconds"),
        ),
    )
    return WorkloadFacts(
        namespace="scenario",
        name=sc.name,
        file=source,
        line=0,
        replicas=s(w.replicas, "workload.replicas"),
        strategy_type=s(w.strategy.type, "workload.strategy.type"),
        max_surge=s(w.strategy.max_surge, "workload.strategy.maxSurge"),
        max_unavailable=s(w.strategy.max_unavailable, "workload.strategy.maxUnavailable"),
        min_ready_seconds=s(w.min_ready_seconds, "workload.minReadySeconds"),
        grace_period=s(w.termination_grace_period_seconds, "workload.terminationGracePeriodSeconds"),
        containers=[container],
        target_type=s(lb.target_type, "loadBalancer.targetType"),
        hc_interval=s(hc.interval_seconds, "loadBalancer.healthCheck.intervalSeconds"),
        hc_timeout=s(hc.timeout_seconds, "loadBalancer.healthCheck.timeoutSeconds"),
        healthy_threshold=s(
            float(hc.healthy_threshold_count), "loadBalancer.healthCheck.healthyThresholdCount"
        ),
        unhealthy_threshold=s(
            float(hc.unhealthy_threshold_count), "loadBalancer.healthCheck.unhealthyThresholdCount"
        ),
        hc_path=s("/", "default"),
        success_codes=s("200", "default"),
        deregistration_delay=s(lb.deregistration_delay_seconds, "loadBalancer.deregistrationDelaySeconds"),
        slow_start=s(0.0, "default"),
        algorithm=s(lb.algorithm, "loadBalancer.algorithm"),
        idle_timeout=s(lb.idle_timeout_seconds, "loadBalancer.idleTimeoutSeconds"),
        gate_requested=s(w.readiness_gate, "workload.readinessGate"),
        app=sc.app,
        app_source=Source("scenario", "app"),
    )
