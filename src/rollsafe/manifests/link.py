"""Linking: Ingress (owned by the AWS LB controller) or TargetGroupBinding → Service → Deployment.

Services are found by name and port (number or name) in the same namespace; Deployments by the Service's
selector matching the pod template's labels. A reference to something not in the input is a notice (a
Problem that is not fatal), never silently dropped. Must not read settings: that is ``facts``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rollsafe.manifests.reader import K8sObject, Problem

ALB_CONTROLLER = "ingress.k8s.aws/alb"  # IngressClass spec.controller of the AWS LB controller
ANNOTATION_PREFIX = "alb.ingress.kubernetes.io/"


@dataclass(frozen=True)
class Front:
    """One way an ALB reaches a Service: an Ingress backend or a TargetGroupBinding."""

    via: K8sObject  # the Ingress or TargetGroupBinding
    via_line: int  # the line of the backend (or serviceRef)
    service: K8sObject
    service_port: dict[str, Any]  # the matched entry of the Service's spec.ports

    @property
    def label(self) -> str:
        return f"{self.via.kind} {self.via.name} ({self.via.file}:{self.via_line})"


@dataclass
class LinkedWorkload:
    deployment: K8sObject
    fronts: list[Front]
    namespace: K8sObject | None
    assumptions: list[str] = field(default_factory=list)
    hpa: K8sObject | None = None  # the HorizontalPodAutoscaler that scales the Deployment, if any


@dataclass
class LinkResult:
    workloads: list[LinkedWorkload] = field(default_factory=list)
    not_behind_alb: list[K8sObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def link(objects: list[K8sObject]) -> LinkResult:
    by_kind: dict[str, list[K8sObject]] = defaultdict(list)
    for obj in objects:
        by_kind[obj.kind].append(obj)
    out = LinkResult()
    services = {(s.namespace, s.name): s for s in by_kind["Service"]}
    namespaces = {n.name: n for n in by_kind["Namespace"]}
    classes = {c.name: c for c in by_kind["IngressClass"]}
    deployments = by_kind["Deployment"]
    # (namespace, label, value) -> the Deployments whose pod template has it: a Service's selector then
    # looks at a few candidates, not every Deployment (10,000 objects must link in well under a second)
    by_label: dict[tuple[str, str, str], list[K8sObject]] = defaultdict(list)
    for d in deployments:
        labels = d.get("spec", "template", "metadata", "labels")
        for k, v in labels.items() if isinstance(labels, dict) else ():
            by_label[(d.namespace, str(k), str(v))].append(d)

    hpas: dict[tuple[str, str], K8sObject] = {}
    for h in by_kind["HorizontalPodAutoscaler"]:
        ref = h.get("spec", "scaleTargetRef")
        if isinstance(ref, dict) and ref.get("kind") == "Deployment" and isinstance(ref.get("name"), str):
            hpas.setdefault((h.namespace, ref["name"]), h)

    fronts: list[Front] = []
    owner_notes: dict[int, str] = {}
    for ing in by_kind["Ingress"]:
        owned, assumption = _alb_owned(ing, classes)
        if not owned:
            continue
        for backend, line in _ingress_backends(ing):
            name, port = backend
            front = _front(ing, line, name, port, services, out.problems)
            if front is not None:
                fronts.append(front)
                if assumption:
                    owner_notes[id(front)] = assumption
    for tgb in by_kind["TargetGroupBinding"]:
        ref = tgb.get("spec", "serviceRef")
        line = tgb.line("spec", "serviceRef")
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            out.problems.append(
                Problem(tgb.file, line, f"{tgb.ref}: spec.serviceRef.name is missing; skipped", fatal=False)
            )
            continue
        front = _front(tgb, line, ref["name"], ref.get("port"), services, out.problems)
        if front is not None:
            fronts.append(front)

    by_deployment: dict[int, list[Front]] = defaultdict(list)
    matched_services: set[int] = set()
    for front in fronts:
        svc = front.service
        selector = svc.get("spec", "selector")
        if not isinstance(selector, dict) or not selector:
            out.problems.append(
                Problem(
                    svc.file,
                    svc.line("spec"),
                    f"{svc.ref} (behind {front.label}) has no selector, so no Deployment is linked to it",
                    fatal=False,
                )
            )
            continue
        k0, v0 = next(iter(selector.items()))
        hits = [d for d in by_label.get((svc.namespace, str(k0), str(v0)), ()) if _selects(selector, d)]
        if not hits and id(svc) not in matched_services:
            out.problems.append(
                Problem(
                    svc.file,
                    svc.line("spec", "selector"),
                    f"{svc.ref} (behind {front.label}): no Deployment in the input matches its selector "
                    f"{_show(selector)}",
                    fatal=False,
                )
            )
        matched_services.add(id(svc))
        for d in hits:
            if not any(f is front for f in by_deployment[id(d)]):
                by_deployment[id(d)].append(front)

    for d in deployments:
        got = by_deployment.get(id(d))
        if not got:
            out.not_behind_alb.append(d)
            continue
        got.sort(key=lambda f: (f.via.file, f.via_line))
        ns = namespaces.get(d.namespace)
        lw = LinkedWorkload(deployment=d, fronts=got, namespace=ns, hpa=hpas.get((d.namespace, d.name)))
        lw.assumptions.extend(dict.fromkeys(owner_notes[id(f)] for f in got if id(f) in owner_notes))
        out.workloads.append(lw)
    out.workloads.sort(key=lambda w: (w.deployment.namespace, w.deployment.name, w.deployment.file))
    return out


def _alb_owned(ing: K8sObject, classes: dict[str, K8sObject]) -> tuple[bool, str | None]:
    """Whether the AWS LB controller reconciles this Ingress, and the assumption made to say so."""
    legacy = ing.annotations.get("kubernetes.io/ingress.class")
    cls = ing.get("spec", "ingressClassName")
    # The annotation takes precedence over spec.ingressClassName (LB controller ingress class docs).
    if isinstance(legacy, str):
        return legacy == "alb", None
    if isinstance(cls, str):
        known = classes.get(cls)
        if known is not None:
            return known.get("spec", "controller") == ALB_CONTROLLER, None
        if cls == "alb":
            return True, f"IngressClass {cls!r} is not in the input; taken to be the AWS LB controller's"
        return False, None
    for c in classes.values():
        if str(c.annotations.get("ingressclass.kubernetes.io/is-default-class")).lower() == "true":
            return c.get("spec", "controller") == ALB_CONTROLLER, None
    if any(str(k).startswith(ANNOTATION_PREFIX) for k in ing.annotations):
        return True, (
            f"{ing.ref} names no ingress class; taken to be the AWS LB controller's because it carries "
            f"{ANNOTATION_PREFIX}* annotations"
        )
    return False, None


def _ingress_backends(ing: K8sObject) -> list[tuple[tuple[str, Any], int]]:
    """((service name, port), line) of every service backend; networking.k8s.io/v1 and the legacy
    serviceName/servicePort spellings. Action backends (``use-annotation``) are not services."""
    out: list[tuple[tuple[str, Any], int]] = []

    def add(backend: Any, path: tuple[str | int, ...]) -> None:
        if not isinstance(backend, dict):
            return
        svc = backend.get("service")
        if isinstance(svc, dict) and isinstance(svc.get("name"), str):
            port = svc.get("port") if isinstance(svc.get("port"), dict) else {}
            number = port.get("number") if isinstance(port, dict) else None
            named = port.get("name") if isinstance(port, dict) else None
            out.append(((svc["name"], number if number is not None else named), ing.line(*path, "service")))
        elif isinstance(backend.get("serviceName"), str):
            port = backend.get("servicePort")
            if port == "use-annotation":
                return
            out.append(((backend["serviceName"], port), ing.line(*path, "serviceName")))

    add(ing.get("spec", "defaultBackend"), ("spec", "defaultBackend"))
    add(ing.get("spec", "backend"), ("spec", "backend"))
    rules = ing.get("spec", "rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        http = rule.get("http") if isinstance(rule, dict) else None
        paths = http.get("paths") if isinstance(http, dict) else None
        if not isinstance(paths, list):
            continue
        for j, p in enumerate(paths):
            if isinstance(p, dict):
                add(p.get("backend"), ("spec", "rules", i, "http", "paths", j, "backend"))
    return out


def _front(
    via: K8sObject,
    line: int,
    name: str,
    port: Any,
    services: dict[tuple[str, str], K8sObject],
    problems: list[Problem],
) -> Front | None:
    svc = services.get((via.namespace, name))
    if svc is None:
        problems.append(
            Problem(
                via.file,
                line,
                f"{via.ref} sends to Service {via.namespace}/{name}, which is not in the input; "
                "its Deployment cannot be linted",
                fatal=False,
            )
        )
        return None
    ports = svc.get("spec", "ports")
    entries = [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []
    match = next(
        (p for p in entries if port is not None and (p.get("port") == port or p.get("name") == port)), None
    )
    if match is None and port is None and len(entries) == 1:
        match = entries[0]
    if match is None:
        problems.append(
            Problem(
                via.file,
                line,
                f"{via.ref} sends to port {port!r} of {svc.ref}, which has no such port "
                f"({', '.join(str(p.get('name') or p.get('port')) for p in entries) or 'no ports'})",
                fatal=False,
            )
        )
        return None
    return Front(via=via, via_line=line, service=svc, service_port=match)


def _selects(selector: dict[str, Any], deployment: K8sObject) -> bool:
    labels = deployment.get("spec", "template", "metadata", "labels")
    if not isinstance(labels, dict):
        return False
    return all(str(labels.get(k)) == str(v) for k, v in selector.items() if k in labels) and all(
        k in labels for k in selector
    )


def _show(selector: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(selector.items())) + "}"
