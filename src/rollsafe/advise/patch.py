"""advise's patch: what to change, in a form the user applies with their own tools.

With manifests: YAML documents, one per object to change, each a strategic-merge patch that
``kubectl patch --type strategic`` and kustomize ``patches:`` accept:
- the Deployment (preStop, terminationGracePeriodSeconds, strategy, minReadySeconds);
- the Ingress or Service carrying the ``alb.ingress.kubernetes.io/*`` annotations (the object that already
  sets an annotation keeps it; a new one goes on the Ingress, as the LB controller reads both and the
  Service wins);
- the Namespace label ``elbv2.k8s.aws/pod-readiness-gate-inject: enabled`` for the readiness gate.
Every change carries a comment with its evidence. Without manifests, the patch is the ``--set`` list.
Structural changes go where they can: the strategy type in the Deployment patch, the target type and the
ALB idle timeout (``load-balancer-attributes``, Ingress only) as annotations. What no manifest holds (the
server's keep-alive timeout, draining on SIGTERM: app config and code) is a comment at the top, marked
NOT IN THIS PATCH, with the ``--set`` that checks it.

``apply_patch`` merges such documents into parsed objects the way a strategic merge does for these
fields (maps merge; containers merge by name; other lists are replaced): the round-trip test applies a
patch with it, then simulates the result. This module must not run simulations.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from rollsafe.advise.search import Candidate, Result
from rollsafe.advise.space import (
    DEREG,
    GATE,
    GRACE,
    HC_HEALTHY,
    HC_INTERVAL,
    HC_UNHEALTHY,
    IDLE,
    KEEPALIVE,
    MIN_READY,
    ON_SIGTERM,
    PRESTOP,
    STRATEGY,
    SURGE,
    TARGET_TYPE,
    UNAVAILABLE,
)
from rollsafe.manifests.facts import GATE_LABEL, A

ANNOTATIONS = {
    HC_INTERVAL: "healthcheck-interval-seconds",
    HC_HEALTHY: "healthy-threshold-count",
    HC_UNHEALTHY: "unhealthy-threshold-count",
    TARGET_TYPE: "target-type",
}
# settings inside a key=value list annotation: (annotation, attribute). The LB controller reads
# load-balancer-attributes from the Ingress only (annotations.md: an Ingress annotation).
ATTRIBUTES = {
    DEREG: ("target-group-attributes", "deregistration_delay.timeout_seconds"),
    IDLE: ("load-balancer-attributes", "idle_timeout.timeout_seconds"),
}
# what no manifest holds: the program's own settings
NOT_IN_MANIFESTS = {
    KEEPALIVE: "app config: the server's idle keep-alive timeout (Node.js server.keepAliveTimeout, nginx "
    "keepalive_timeout, ...)",
    ON_SIGTERM: "code change: on SIGTERM stop accepting, finish the requests in flight, then exit",
}


_REQUIRED = "required: no searched setting met the target without it"


def _pct(p: float) -> str:
    return f"{100 * p:.2f} %"


def evidence(result: Result, best: Candidate) -> str:
    cur = result.current
    return (
        f"rollsafe advise ({result.space.base.name}, seed {result.seed}): P(any failure) {_pct(cur.p)} over "
        f"{cur.runs} runs -> {_pct(best.p)} over {best.runs} runs (95 % bound {_pct(best.upper)}, target "
        f"{_pct(result.target)}); settles in {best.settled_s or 0:.0f} s"
    )


def overrides_text(result: Result) -> str:
    """Without manifests: the change as --set arguments, one per line, with the evidence as a comment."""
    best = result.best
    if best is None:
        return "# rollsafe advise: no setting found that meets the target\n"
    if result.current.acceptable(result.target):
        return (
            f"# rollsafe advise: no change; the current settings meet the target ({evidence(result, best)})\n"
        )
    lines = [f"# {evidence(result, best)}"]
    lines += _not_in_manifests(result, best, manifests=False)
    lines += [f"--set {o}" for o in result.space.overrides(best.values)]
    return "\n".join(lines) + "\n"


def _not_in_manifests(result: Result, best: Candidate, *, manifests: bool) -> list[str]:
    """Comment lines for the changes a manifest cannot carry (app config, code)."""
    out = []
    for key, what in NOT_IN_MANIFESTS.items():
        if key in best.changes:
            a, b = best.changes[key]
            req = f" ({_REQUIRED})" if key in result.space.required else ""
            lead = "NOT IN THIS PATCH, " if manifests else "not in any manifest, "
            out.append(f"# {lead}{what}: {key} {a} -> {b}{req}")
            if manifests:
                out.append(f"#   to check the patched manifests: rollsafe simulate -f ... --set {key}={b}")
    return out


def _q(v: Any) -> str:
    """A YAML scalar (JSON is YAML): strings quoted, so annotation values stay strings."""
    return json.dumps(v)


def manifest_patch(result: Result, report: Any, w: Any) -> str:
    """The patch documents for one workload read from manifests (see the module docstring)."""
    best = result.best
    head = f"# {w.facts.namespace}/{w.facts.name} ({w.facts.file}:{w.facts.line})\n"
    if best is None:
        return head + "# rollsafe advise: no setting found that meets the target; nothing to patch\n"
    if result.current.acceptable(result.target):
        return head + f"# rollsafe advise: no change needed ({evidence(result, best)})\n"
    head += "".join(line + "\n" for line in _not_in_manifests(result, best, manifests=True))
    ch = best.changes
    d = w.facts.deployment
    docs: list[str] = []
    ev = evidence(result, best)
    # -- the Deployment
    spec: list[str] = []
    if MIN_READY in ch:
        spec.append(f"  # was {ch[MIN_READY][0]}: new pods wait before counting as available")
        spec.append(f"  minReadySeconds: {ch[MIN_READY][1]}")
    if STRATEGY in ch or SURGE in ch or UNAVAILABLE in ch:
        spec.append("  strategy:")
        if STRATEGY in ch:
            req = f"; {_REQUIRED}" if STRATEGY in result.space.required else ""
            spec.append(f"    # was {ch[STRATEGY][0]}{req}")
            spec.append(f"    type: {ch[STRATEGY][1]}")
    if SURGE in ch or UNAVAILABLE in ch:
        spec += ["    rollingUpdate:"]
        if SURGE in ch:
            spec.append(f"      # was {ch[SURGE][0]} (resolved)")
            spec.append(f"      maxSurge: {ch[SURGE][1]}")
        if UNAVAILABLE in ch:
            spec.append(f"      # was {ch[UNAVAILABLE][0]} (resolved)")
            spec.append(f"      maxUnavailable: {ch[UNAVAILABLE][1]}")
    pod: list[str] = []
    if GRACE in ch:
        pod.append(f"      # was {ch[GRACE][0]}: covers preStop + drain + the kubelet's 2 s minimum")
        pod.append(f"      terminationGracePeriodSeconds: {ch[GRACE][1]}")
    if PRESTOP in ch:
        serving = next((c for c in w.facts.containers if c.serving), w.facts.containers[0])
        secs = ch[PRESTOP][1]
        pod += [
            "      containers:",
            f"      - name: {_q(serving.name)}",
            "        lifecycle:",
            "          preStop:",
        ]
        pod.append(f"            # was {ch[PRESTOP][0]} s: keep serving until every ALB node stopped sending")
        if serving.pre_stop.kind == "sleep":
            pod += ["            sleep:", f"              seconds: {secs}"]
        elif serving.pre_stop.kind in ("exec-sleep", "unknown"):
            if serving.pre_stop.kind == "unknown":
                pod.append("            # replaces a preStop command whose duration rollsafe could not read")
            pod += ["            exec:", f'              command: ["sleep", "{secs}"]']
        else:
            pod.append(
                "            # the sleep action needs Kubernetes 1.30+; older: exec: {command: [sleep, N]}"
            )
            pod += ["            sleep:", f"              seconds: {secs}"]
    if pod:
        spec += ["  template:", "    spec:", *pod]
    if spec:
        docs.append(
            "\n".join(
                [
                    f"# {ev}",
                    "# kubectl patch deployment --type strategic, or kustomize patches:",
                    "apiVersion: apps/v1",
                    "kind: Deployment",
                    "metadata:",
                    f"  name: {_q(d.name)}",
                    f"  namespace: {_q(d.namespace)}",
                    "spec:",
                    *spec,
                ]
            )
        )
    # -- the ALB annotations, on the object that sets them now (else the Ingress)
    lw = next((x for x in report.linked.workloads if x.deployment is d), None)
    front = lw.fronts[0] if lw is not None and lw.fronts else None
    alb_changes = [k for k in (*ANNOTATIONS, *ATTRIBUTES) if k in ch]
    if alb_changes and front is not None:
        if front.via.kind == "TargetGroupBinding":
            docs.append(
                f"# {ev}\n# {front.via.ref} binds a target group made outside Kubernetes: set these on it "
                "(Terraform, CloudFormation, the console):\n"
                + "\n".join(f"#   {k} = {ch[k][1]}" for k in alb_changes)
                + "\n{}"
            )
        else:
            per_obj: dict[int, tuple[Any, list[str]]] = {}
            # several attributes may share one annotation (its value is the whole list): merge per object
            merged: dict[tuple[int, str], tuple[dict[str, str], list[str]]] = {}
            for k in alb_changes:
                name = ANNOTATIONS[k] if k in ANNOTATIONS else ATTRIBUTES[k][0]
                obj = front.via
                ingress_only = name == "load-balancer-attributes"
                if not ingress_only and front.service.annotations.get(A + name) is not None:
                    obj = front.service
                req = "; required" if k in result.space.required else ""
                if k in ATTRIBUTES:
                    attr = ATTRIBUTES[k][1]
                    slot = merged.get((id(obj), name))
                    if slot is None:
                        slot = (_pairs(str(obj.annotations.get(A + name, ""))), [])
                        merged[(id(obj), name)] = slot
                        per_obj.setdefault(id(obj), (obj, []))[1].append(f"@@{name}")
                    slot[0][attr] = str(ch[k][1])
                    slot[1].append(f"{attr} was {ch[k][0]}{req}")
                    continue
                what = f"was {ch[k][0]}{req}"
                if k == TARGET_TYPE:
                    what += (
                        "; ip targets need no NodePort (the Service may be ClusterIP) and the LB controller "
                        "creates a new target group"
                    )
                per_obj.setdefault(id(obj), (obj, []))[1].extend(
                    [f"    # {what}", f"    {_q(A + name)}: {_q(str(ch[k][1]))}"]
                )
            for oid, (_obj, lines) in per_obj.items():
                for i, line in enumerate(list(lines)):
                    if line.startswith("@@"):
                        name = line[2:]
                        pairs, whats = merged[(oid, name)]
                        value = ",".join(f"{a}={b}" for a, b in pairs.items())
                        lines[i] = f"    # {'; '.join(whats)}\n    {_q(A + name)}: {_q(value)}"
            for obj, lines in per_obj.values():
                docs.append(
                    "\n".join(
                        [
                            f"# {ev}",
                            f"apiVersion: {obj.api_version}",
                            f"kind: {obj.kind}",
                            "metadata:",
                            f"  name: {_q(obj.name)}",
                            f"  namespace: {_q(obj.namespace)}",
                            "  annotations:",
                            *lines,
                        ]
                    )
                )
    # -- the readiness gate: the namespace label (the LB controller's webhook injects the gate into pods
    # created after it is set, so it takes effect from the next rollout's new pods)
    if GATE in ch and ch[GATE][1]:
        docs.append(
            "\n".join(
                [
                    f"# {ev}",
                    "# the LB controller injects the readiness gate into pods created after the label is set",
                    "apiVersion: v1",
                    "kind: Namespace",
                    "metadata:",
                    f"  name: {_q(d.namespace)}",
                    "  labels:",
                    f'    {_q(GATE_LABEL)}: "enabled"',
                ]
            )
        )
    return head + "---\n".join(doc + "\n" for doc in docs)


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        k, sep, v = item.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def apply_patch(objects: list[dict[str, Any]], patches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strategic merge of ``patches`` into ``objects`` (matched by kind, name and namespace) for the fields
    advise writes; a patch with no matching object (a Namespace not in the input) is added as it is."""
    out = copy.deepcopy(objects)
    for p in patches:
        if not p:
            continue
        meta = p.get("metadata", {})
        key = (p.get("kind"), meta.get("name"), meta.get("namespace", "default"))
        for o in out:
            om = o.get("metadata", {})
            if (o.get("kind"), om.get("name"), om.get("namespace", "default")) == key or (
                o.get("kind") == "Namespace" and key[0] == "Namespace" and om.get("name") == key[1]
            ):
                _merge(o, p)
                break
        else:
            out.append(copy.deepcopy(p))
    return out


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            if k == "preStop":  # one handler: the patch's replaces whatever was there
                dst[k] = copy.deepcopy(v)
            else:
                _merge(dst[k], v)
        elif k == "containers" and isinstance(v, list) and isinstance(dst.get(k), list):
            for c in v:  # patchMergeKey: name
                target = next((x for x in dst[k] if x.get("name") == c.get("name")), None)
                if target is None:
                    dst[k].append(copy.deepcopy(c))
                else:
                    _merge(target, c)
        else:
            dst[k] = copy.deepcopy(v)
