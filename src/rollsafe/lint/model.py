"""Finding and rule metadata, and the timing figures rules share (read from the Scenario model's
defaults, never restated, so a recalibrated default changes the rules with it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rollsafe.manifests.facts import Setting, Source, WorkloadFacts
from rollsafe.model.dist import Dist
from rollsafe.model.scenario import Scenario

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    file: str
    line: int
    evidence: tuple[str, ...]
    fix: str
    # --set style scenario overrides that make the simulated workload as if this finding were fixed;
    # empty when the simulator does not model what the rule is about.
    fix_set: tuple[str, ...] = ()
    workload: str = ""
    cost: dict[str, Any] | None = field(default=None, compare=False)

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def sort_key(self) -> tuple[Any, ...]:
        return (RANK[self.severity], self.rule, self.file, self.line, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "workload": self.workload,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "evidence": list(self.evidence),
            "fix": self.fix,
        }
        if self.cost is not None:
            out["cost"] = self.cost
        return out


def at(w: WorkloadFacts, source: Source | Setting[Any] | None = None) -> tuple[str, int]:
    """Where a finding points: the line that set the value, else the Deployment's name line."""
    src = source.source if isinstance(source, Setting) else source
    if src is not None and src.file is not None and src.line is not None:
        return src.file, src.line
    return w.file, w.line


# The quantile a rule reads as "the expected lag" of a heavy-tailed default: its p99.
LAG_QUANTILE = 0.99


def upper(d: Dist) -> float:
    """A distribution's high end: the bound of a uniform, the p99 of a lognormal or a mixture, ~p95 of an
    exponential."""
    if d.kind == "mixture":
        return d.quantile(LAG_QUANTILE)
    if d.kind == "constant":
        return d.a
    if d.kind in ("uniform", "lognormal"):
        return d.b
    return 3 * d.a


def lower(d: Dist) -> float:
    return d.a if d.kind in ("constant", "uniform") else 0.0


DEFAULTS = Scenario()


def deregistration_lag(w: WorkloadFacts) -> tuple[float, str]:
    """How long after an old pod is deleted the LB may still send it new requests, and why that figure.

    MODEL ASSUMPTION: the simulator's default deregistration propagation (DeregisterTargets returned →
    the last ALB node stops sending): its p99 per call (``Dist.quantile``, the tail is unbounded) plus the
    per-node jitter's upper bound; with instance targets, kube-proxy's sync instead.
    """
    if w.target_type.value == "instance":
        c = DEFAULTS.cluster
        lag = (
            upper(c.endpoint_slice_lag_seconds)
            + upper(c.watch_latency_seconds)
            + upper(c.kube_proxy_sync_seconds)
        )
        return lag, (
            f"expected lag {lag:g} s: EndpointSlice update + watch + kube-proxy sync, the simulator's "
            "default "
            "upper bounds (MODEL ASSUMPTION; instance targets: kube-proxy stops sending, not the ALB)"
        )
    d = DEFAULTS.load_balancer.deregister_propagation_seconds
    jitter = DEFAULTS.load_balancer.deregister_propagation_node_jitter_seconds
    lag = round(d.quantile(LAG_QUANTILE) + upper(jitter), 1)
    return lag, (
        f"expected lag {lag:g} s: the p{LAG_QUANTILE * 100:g} of the simulator's default deregistration "
        f"propagation per DeregisterTargets call ({describe(d)}) plus up to {upper(jitter):g} s per ALB node "
        "(AWS documents none; MODEL ASSUMPTION); a rollout makes several calls, so its longest lag is "
        "often longer"
    )


def recommended_pre_stop(lag: float) -> int:
    """A preStop delay with margin over the expected lag (the lag is undocumented and varies)."""
    return max(15, math.ceil(lag) + 10)


def describe(d: Dist) -> str:
    """A duration distribution in words: "1 s", "uniform 1–5 s", "lognormal median 0.05 s, p99 0.4 s"."""
    if d.kind == "mixture":
        return " + ".join(f"{w * 100:g} %: {describe(p)}" for w, p in d.parts)
    if d.kind == "constant":
        return f"{d.a:g} s"
    if d.kind == "uniform":
        return f"uniform {d.a:g}–{d.b:g} s"
    if d.kind == "lognormal":
        return f"lognormal median {d.a:g} s, p99 {d.b:g} s"
    return f"exponential mean {d.a:g} s"


def fmt(x: float) -> str:
    return f"{x:g}"


def resolve(value: int | str, replicas: int, *, round_up: bool) -> int | None:
    """maxSurge rounds up, maxUnavailable down (apps/v1 RollingUpdateDeployment). None if malformed."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            pct = int(text[:-1])
        except ValueError:
            return None
        exact = replicas * pct / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(text)
    except ValueError:
        return None


def make(
    rule: str,
    severity: Severity,
    w: WorkloadFacts,
    where: Source | Setting[Any] | None,
    message: str,
    *,
    evidence: list[str],
    fix: str,
    fix_set: tuple[str, ...] = (),
) -> Finding:
    file, line = at(w, where)
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        file=file,
        line=line,
        evidence=tuple(evidence),
        fix=fix,
        fix_set=fix_set,
        workload=w.key,
    )
