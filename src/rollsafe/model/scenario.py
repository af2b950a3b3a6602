"""The scenario: what is deployed and how the cluster and load balancer behave. Validated at the edge.

Keys use the spellings users know from manifests and AWS (``terminationGracePeriodSeconds``,
``deregistrationDelaySeconds``). Every default names its source; the ones no document fixes are marked
MODEL ASSUMPTION and can be overridden. docs/scenario.md lists every key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from rollsafe.model.dist import MAX_SECONDS, Dist, parse_dist

DistField = Annotated[Dist, BeforeValidator(parse_dist), PlainSerializer(lambda d: d.to_spec())]

_PERCENT = re.compile(r"^(\d{1,3})%$")


def _int_or_percent(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("expected an integer or a percentage like '25%', found a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected an integer >= 0, found {value}")
        return value
    if isinstance(value, str) and _PERCENT.match(value.strip()):
        return value.strip()
    raise ValueError(f"expected an integer or a percentage like '25%', found {value!r}")


IntOrPercent = Annotated[int | str, BeforeValidator(_int_or_percent)]


class CrossKeyError(ValueError):
    """A rule that involves several keys (relative to the model that raises it, dotted); the loader points
    at the line of the one given last."""

    def __init__(self, message: str, *keys: str) -> None:
        super().__init__(message)
        self.keys = keys


class _Model(BaseModel):
    # allow_inf_nan: a non-finite number is never a setting (and would reach the JSON as bare Infinity)
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=False, strict=True, allow_inf_nan=False
    )


class Strategy(_Model):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    # Kubernetes default 25% / 25% (kubernetes-rollout-mechanics.md §1.1, deployment.md "Max Surge").
    max_surge: IntOrPercent = Field("25%", alias="maxSurge")
    max_unavailable: IntOrPercent = Field("25%", alias="maxUnavailable")

    @model_validator(mode="after")
    def _as_the_api_server_validates(self) -> Strategy:
        # apps/validation ValidateRollingUpdateDeployment and ValidateDeploymentStrategy
        given = self.model_fields_set & {"max_surge", "max_unavailable"}
        if self.type == "Recreate" and given:
            raise CrossKeyError(
                "maxSurge and maxUnavailable may not be specified when strategy type is Recreate",
                "type",
                "maxSurge",
                "maxUnavailable",
            )
        if isinstance(self.max_unavailable, str) and int(self.max_unavailable.rstrip("%")) > 100:
            raise CrossKeyError(
                f"maxUnavailable should not be more than 100%, found {self.max_unavailable}", "maxUnavailable"
            )
        if self.type == "RollingUpdate" and _is_zero(self.max_surge) and _is_zero(self.max_unavailable):
            raise CrossKeyError(
                "maxUnavailable may not be 0 when maxSurge is 0 (the API server rejects it)",
                "maxSurge",
                "maxUnavailable",
            )
        return self


def as_stored(model: BaseModel, name: str) -> object:
    """Field ``name`` of ``model`` exactly as the model holds it, for a timeline attribute. Pydantic
    validates the values given, so a given number for a ``float`` field is a float, but not the defaults: a
    field left out keeps its default as written, an int for many of them (``Field(30, ...)``), and the
    timeline shows that value as is (``30``, not ``30.0``). Code compiled with mypyc turns an int it reads
    through a ``float`` annotation into a float; read through this untyped path it stays what it is."""
    value: object = getattr(model, name)
    return value


def _is_zero(value: int | str) -> bool:
    return value == 0 or (isinstance(value, str) and int(value.rstrip("%")) == 0)


class ReadinessProbe(_Model):
    # core/v1 Probe defaults (kubernetes-rollout-mechanics.md §3.2).
    initial_delay_seconds: float = Field(0, alias="initialDelaySeconds", ge=0, le=MAX_SECONDS)
    period_seconds: float = Field(10, alias="periodSeconds", ge=1, le=MAX_SECONDS)
    timeout_seconds: float = Field(1, alias="timeoutSeconds", ge=1, le=MAX_SECONDS)
    success_threshold: int = Field(1, alias="successThreshold", ge=1)
    failure_threshold: int = Field(3, alias="failureThreshold", ge=1)


class Workload(_Model):
    # a Deployment name: a DNS-1123 subdomain, short enough for the pod names derived from it
    name: str = Field("web", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=200)
    # The control plane's cost grows about as n log n with replicas: 500 take about 0.4 s, 5,000 about
    # 3 s (bench/run.py, scale); the cap bounds a run's memory and time.
    replicas: int = Field(10, ge=1, le=5_000)
    strategy: Strategy = Strategy()
    min_ready_seconds: float = Field(0, alias="minReadySeconds", ge=0, le=MAX_SECONDS)
    # pod-lifecycle.md: "The default terminationGracePeriodSeconds setting is 30 seconds".
    termination_grace_period_seconds: float = Field(
        30, alias="terminationGracePeriodSeconds", ge=0, le=MAX_SECONDS
    )
    # 0 means no preStop hook. A sleep hook, like KEP-3960's lifecycle.preStop.sleep.seconds.
    pre_stop_sleep_seconds: float = Field(0, alias="preStopSleepSeconds", ge=0, le=MAX_SECONDS)
    readiness_probe: ReadinessProbe | None = Field(None, alias="readinessProbe")
    # True when the LB controller's pod readiness gate is injected (namespace label
    # elbv2.k8s.aws/pod-readiness-gate-inject: enabled; aws-alb-and-lb-controller.md §4.5).
    readiness_gate: bool = Field(False, alias="readinessGate")


class App(_Model):
    # Container start -> listening. MODEL ASSUMPTION: an nginx-like server, about a second.
    startup_seconds: DistField = Field(Dist.constant(1.0), alias="startupSeconds")
    # exit: close everything at once (nginx fast shutdown); drain: stop accepting, finish in-flight, exit;
    # ignore: keep serving until SIGKILL.
    on_sigterm: Literal["exit", "drain", "ignore"] = Field("exit", alias="onSigterm")
    # With drain: the longest the app waits for in-flight requests before it exits anyway.
    drain_seconds: float = Field(30, alias="drainSeconds", ge=0, le=MAX_SECONDS)
    # Service time. MODEL ASSUMPTION: lognormal, median 50 ms, p99 400 ms.
    request_seconds: DistField = Field(Dist("lognormal", 0.05, 0.4), alias="requestSeconds")
    # nginx keepalive_timeout default 75 s (nginx docs, ngx_http_core_module). Node.js is 5 s.
    keep_alive_timeout_seconds: float = Field(75, alias="keepAliveTimeoutSeconds", gt=0, le=MAX_SECONDS)
    # MODEL ASSUMPTION: how long after a server closes a pooled connection the LB may still send on it
    # (the FIN's flight time plus the LB's reaction), 5 ms.
    keep_alive_race_window_seconds: float = Field(
        0.005, alias="keepAliveRaceWindowSeconds", ge=0, le=MAX_SECONDS
    )


class HealthCheck(_Model):
    # AWS LB controller defaults, not AWS's: interval 15, timeout 5, healthy 2, unhealthy 2
    # (aws-alb-and-lb-controller.md §1.2 item 3, pkg/ingress/model_builder.go).
    # AWS's ranges (§1.2): interval 5-300, timeout 2-120, thresholds 2-10.
    interval_seconds: float = Field(15, alias="intervalSeconds", ge=5, le=300)
    timeout_seconds: float = Field(5, alias="timeoutSeconds", ge=2, le=120)
    healthy_threshold_count: int = Field(2, alias="healthyThresholdCount", ge=2, le=10)
    unhealthy_threshold_count: int = Field(2, alias="unhealthyThresholdCount", ge=2, le=10)

    @model_validator(mode="after")
    def _as_aws_validates(self) -> HealthCheck:
        # The ELBv2 API refuses it: "ValidationError: Health check timeout '10' must be smaller than the
        # interval '10'" (hashicorp/terraform-provider-aws#2366; aws-cdk#29075 checks it before deploying).
        if self.timeout_seconds >= self.interval_seconds:
            raise CrossKeyError(
                f"timeoutSeconds ({self.timeout_seconds:g}) must be smaller than intervalSeconds "
                f"({self.interval_seconds:g}); AWS rejects the target group otherwise",
                "intervalSeconds",
                "timeoutSeconds",
            )
        return self


class LoadBalancer(_Model):
    target_type: Literal["ip", "instance"] = Field("ip", alias="targetType")
    health_check: HealthCheck = Field(HealthCheck(), alias="healthCheck")
    # deregistration_delay.timeout_seconds: AWS default 300; the LB controller sets none
    # (aws-alb-and-lb-controller.md §1.4, §1.2 item 3).
    deregistration_delay_seconds: float = Field(300, alias="deregistrationDelaySeconds", ge=0, le=3600)
    # idle_timeout.timeout_seconds: default 60 (§1.8).
    idle_timeout_seconds: float = Field(60, alias="idleTimeoutSeconds", ge=1, le=4000)
    # load_balancing.algorithm.type: default round_robin (§1.7).
    algorithm: Literal["round_robin", "least_outstanding_requests", "weighted_random"] = "round_robin"
    # LB nodes that each keep their own view of target health (§1.2 "Each load balancer node checks...").
    # MODEL ASSUMPTION: 3, one per availability zone. Clients pick a node uniformly (DNS round robin).
    nodes: int = Field(3, ge=1, le=32)
    # Successful health checks a new target needs before it gets traffic. AWS docs say one; practitioners
    # see HealthyThresholdCount (§1.3). null means HealthyThresholdCount, the empirical default.
    initial_health_checks_required: int | None = Field(None, alias="initialHealthChecksRequired", ge=1, le=10)
    # RegisterTargets returned -> the registration reaches the LB nodes, drawn once per RegisterTargets call
    # (one API change) and shared by its targets; each node adds its own jitter. AWS documents no duration
    # (target-group-health-checks.html: "as soon as the registration process completes"); ALB users report
    # about a second to "initial" (somaz.blog EKS deployment guide, LB controller #1834). MODEL ASSUMPTION:
    # lognormal median 2 s, p99 10 s per call, plus uniform 0-1 s per node. The node's health checks of the
    # target then start at a random phase within intervalSeconds (docs/model.md).
    register_propagation_seconds: DistField = Field(
        Dist("lognormal", 2.0, 10.0), alias="registerPropagationSeconds"
    )
    register_propagation_node_jitter_seconds: DistField = Field(
        Dist.uniform(0, 1), alias="registerPropagationNodeJitterSeconds"
    )
    # DeregisterTargets returned -> an LB node stops sending new requests to the call's targets. AWS says
    # "as soon as it is deregistered"; the LB controller's maintainers say the change "still takes time ...
    # to be propagated to ELB's dataplane" (aws-load-balancer-controller #2366). Reports: ~17 s (#2366),
    # a 5 s sleep not enough (#1064), about 2 minutes once (#3270). Drawn once per DeregisterTargets call:
    # every target of the call, on every node, shares it (docs/model.md says why). MODEL ASSUMPTION:
    # lognormal median 3 s, p99 25 s, with a 0.1 % chance of 60-150 s; plus uniform 0-2 s per node.
    deregister_propagation_seconds: DistField = Field(
        Dist.mixture([(0.999, Dist("lognormal", 3.0, 25.0)), (0.001, Dist.uniform(60, 150))]),
        alias="deregisterPropagationSeconds",
    )
    deregister_propagation_node_jitter_seconds: DistField = Field(
        Dist.uniform(0, 2), alias="deregisterPropagationNodeJitterSeconds"
    )
    # What a node does when no target is healthy and the fail-open set (unhealthy targets) is empty, so only
    # initial/draining targets remain. Undocumented by AWS; the LB controller's readiness-gate page calls it
    # an outage (§1.6), so the default sends nothing: 503. "route" sends to the initial targets.
    only_initial_or_draining: Literal["reject", "route"] = Field("reject", alias="onlyInitialOrDraining")
    # target_group_health.unhealthy_state_routing.minimum_healthy_targets.count, default 1 (§1.6).
    minimum_healthy_targets: int = Field(1, alias="minimumHealthyTargets", ge=1)
    # Backend connect timeout, 10 s -> 504 (§1.10).
    connect_timeout_seconds: float = Field(10, alias="connectTimeoutSeconds", gt=0, le=MAX_SECONDS)
    # instance targets: pooled keep-alive connections each LB node keeps to each worker node, each pinned by
    # conntrack to the pod kube-proxy chose when it opened. AWS documents no pool size (issue 6 notes).
    # MODEL ASSUMPTION: 4, a few connections per node pair (docs/model.md, "Instance targets").
    connections_per_instance: int = Field(4, alias="connectionsPerInstance", ge=1, le=64)


class LbController(_Model):
    # --targetgroupbinding-max-concurrent-reconciles default 3 (§4.7). One TargetGroupBinding is never
    # reconciled concurrently with itself, so with one service this bounds nothing; kept for fidelity.
    max_concurrent_reconciles: int = Field(3, alias="maxConcurrentReconciles", ge=1)
    # --targetgroupbinding-requeue-duration default 15 s (§4.7, §4.2 step 8).
    requeue_seconds: float = Field(15, alias="requeueSeconds", gt=0, le=MAX_SECONDS)
    # AWS API latencies, per call (one call per chunk of up to 200 targets). No public measurement exists
    # (the controller logs whole seconds); a real controller log shows DeregisterTargets in about 40-50 ms
    # and RegisterTargets in about 120-330 ms (issue #2). MODEL ASSUMPTION: lognormals around those, with
    # a tail for the slow call: DeregisterTargets and DescribeTargetHealth median 50 ms, p99 300 ms;
    # RegisterTargets median 200 ms, p99 1 s. The controller's own ELB throttle (4 Register/Deregister
    # calls per second, burst 20; pkg/aws/throttle/defaults.go) is built in (docs/model.md).
    deregister_targets_seconds: DistField = Field(
        Dist("lognormal", 0.05, 0.3), alias="deregisterTargetsSeconds"
    )
    register_targets_seconds: DistField = Field(Dist("lognormal", 0.2, 1.0), alias="registerTargetsSeconds")
    describe_target_health_seconds: DistField = Field(
        Dist("lognormal", 0.05, 0.3), alias="describeTargetHealthSeconds"
    )


class Cluster(_Model):
    # Mutating API call latency; the official SLO bounds its p99 at 1 s per cluster-day (Kubernetes
    # sig-scalability slos/api_call_latency.md). MODEL ASSUMPTION: uniform 10-60 ms. (A lognormal with a
    # tail, median 20 ms / p99 250 ms, is closer to the SLI; with it live pods can briefly exceed
    # replicas + maxSurge, as in Kubernetes, which bounds the ReplicaSets' spec.replicas, and the tests'
    # invariant counts live pods: docs/model.md.)
    api_latency_seconds: DistField = Field(Dist.uniform(0.01, 0.06), alias="apiLatencySeconds")
    # Watch event delivery; an SLI with no SLO (sig-scalability slos/watch_latency.md). MODEL ASSUMPTION:
    # uniform 20-200 ms (a tail waits on the same invariant).
    watch_latency_seconds: DistField = Field(Dist.uniform(0.02, 0.2), alias="watchLatencySeconds")
    # Pod created -> bound -> kubelet admits. MODEL ASSUMPTION: uniform 50-300 ms.
    scheduling_seconds: DistField = Field(Dist.uniform(0.05, 0.3), alias="schedulingSeconds")
    # Sandbox + CNI (PodReadyToStartContainers). MODEL ASSUMPTION: uniform 0.5-1.5 s.
    sandbox_seconds: DistField = Field(Dist.uniform(0.5, 1.5), alias="sandboxSeconds")
    # Pulling the new image, once per worker node: later pods on the node find it present (imagePullPolicy
    # IfNotPresent: "the image is pulled only if it is not already present locally"), and a pod that
    # arrives during the pull waits for it (kubelet pulls serially by default; kubernetes.io Images).
    # The startup SLO (p99 5 s) excludes pulls. MODEL ASSUMPTION: a small image from an in-region
    # registry, lognormal median 3 s, p99 30 s.
    image_pull_seconds: DistField = Field(Dist("lognormal", 3.0, 30.0), alias="imagePullSeconds")
    # --endpointslice-updates-batch-period default 0 (§5.2) plus the sync itself.
    # MODEL ASSUMPTION: lognormal median 20 ms, p99 200 ms of controller work before the slice is written.
    endpoint_slice_lag_seconds: DistField = Field(
        Dist("lognormal", 0.02, 0.2), alias="endpointSliceLagSeconds"
    )
    # kube-proxy: minSyncPeriod 1 s (§6) -> a wait of up to 1 s plus the iptables write.
    # MODEL ASSUMPTION: uniform 0.1-1.1 s per node.
    kube_proxy_sync_seconds: DistField = Field(Dist.uniform(0.1, 1.1), alias="kubeProxySyncSeconds")
    # Containers exited -> the pod sandbox and its IP are gone. MODEL ASSUMPTION: uniform 0.5-2 s.
    pod_teardown_seconds: DistField = Field(Dist.uniform(0.5, 2), alias="podTeardownSeconds")
    # What the LB sees when it connects to a vanished pod IP: timeout (SYN dropped, 504 after the connect
    # timeout) or reset (ICMP unreachable / RST, an immediate 502). Default timeout (causes.md).
    vanished_pod_ip: Literal["timeout", "reset"] = Field("timeout", alias="vanishedPodIp")
    # Worker nodes (instance targets, kube-proxy views). MODEL ASSUMPTION: 3.
    nodes: int = Field(3, ge=1, le=1000)


class Traffic(_Model):
    # at least one request in 1,000 s: below that there is no traffic to speak of (and 1/rps overflows).
    # Open model only; null clears it (a built-in's rate) for the closed model.
    rps: float | None = Field(100, ge=0.001, le=10_000_000)
    # Simulated seconds of traffic from the start of the rollout. null: until the rollout is done and the
    # LB has settled, plus tailSeconds.
    duration_seconds: float | None = Field(None, alias="durationSeconds", gt=0, le=MAX_SECONDS)
    tail_seconds: float = Field(10, alias="tailSeconds", ge=0, le=MAX_SECONDS)
    # open: Poisson arrivals at rps, whatever became of earlier requests. closed: `clients` concurrent
    # clients, each sending its next request when its last one ended, after thinkSeconds (hey -c, vegeta
    # -max-workers, fortio -c, k6 VUs). docs/model.md, "Clients".
    model: Literal["open", "closed"] = "open"
    # hey's default -c 50.
    clients: int = Field(50, ge=1, le=10_000)
    think_seconds: DistField = Field(Dist.constant(0.0), alias="thinkSeconds")
    # A client that gives up before the LB answers (hey -t 20, fortio -timeout 3, bombardier -t 2). null: it
    # waits for the LB's answer.
    client_timeout_seconds: float | None = Field(None, alias="clientTimeoutSeconds", gt=0, le=MAX_SECONDS)

    @model_validator(mode="after")
    def _keys_of_the_model(self) -> Traffic:
        # given and not the default: a scenario dumped with every key (--show, JSON settings) reads back
        closed_only = {
            k
            for k in ("clients", "think_seconds", "client_timeout_seconds")
            if k in self.model_fields_set and getattr(self, k) != Traffic.model_fields[k].default
        }
        if self.model == "open" and closed_only:
            names = sorted(Traffic.model_fields[k].alias or k for k in closed_only)
            raise CrossKeyError(
                f"traffic.{', traffic.'.join(names)} applies only with traffic.model: closed",
                "model",
                names[0],
            )
        if self.model == "closed" and "rps" in self.model_fields_set and self.rps not in (None, 100):
            raise CrossKeyError(
                "traffic.rps applies only with traffic.model: open (a closed model's rate follows from "
                "traffic.clients and how long each request takes); set traffic.rps: null to clear it",
                "model",
                "rps",
            )
        if self.model == "open" and self.rps is None:
            raise CrossKeyError(
                "traffic.rps: null is for traffic.model: closed; the open model needs a rate", "model", "rps"
            )
        return self


class Simulation(_Model):
    # Hard stop for the control plane, in simulated seconds.
    max_seconds: float = Field(3600, alias="maxSeconds", gt=0, le=86_400)


class Scenario(_Model):
    # shown in reports (with control characters escaped); one line, not a document
    name: str = Field("custom", min_length=1, max_length=200)
    description: str = Field("", max_length=20_000)
    workload: Workload = Workload()
    app: App = App()
    load_balancer: LoadBalancer = Field(LoadBalancer(), alias="loadBalancer")
    lb_controller: LbController = Field(LbController(), alias="lbController")
    cluster: Cluster = Cluster()
    traffic: Traffic = Traffic()
    simulation: Simulation = Simulation()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        horizon = self.simulation.max_seconds
        if self.traffic.duration_seconds is not None and self.traffic.duration_seconds > horizon:
            raise CrossKeyError(
                f"traffic.durationSeconds ({self.traffic.duration_seconds:g}) is longer than "
                f"simulation.maxSeconds ({horizon:g}); raise simulation.maxSeconds too",
                "traffic.durationSeconds",
                "simulation.maxSeconds",
            )
        if self.traffic.tail_seconds > horizon:
            raise CrossKeyError(
                f"traffic.tailSeconds ({self.traffic.tail_seconds:g}) is longer than simulation.maxSeconds "
                f"({horizon:g})",
                "traffic.tailSeconds",
                "simulation.maxSeconds",
            )
        lb = self.load_balancer
        if "connections_per_instance" in lb.model_fields_set and (
            lb.target_type != "instance" and lb.connections_per_instance != 4
        ):
            raise CrossKeyError(
                "loadBalancer.connectionsPerInstance applies only with loadBalancer.targetType instance",
                "loadBalancer.targetType",
                "loadBalancer.connectionsPerInstance",
            )
        if self.workload.readiness_gate and self.load_balancer.target_type != "ip":
            raise CrossKeyError(
                "workload.readinessGate: the LB controller injects readiness gates only for "
                "loadBalancer.targetType ip, found instance",
                "workload.readinessGate",
                "loadBalancer.targetType",
            )
        return self
