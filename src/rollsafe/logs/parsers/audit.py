"""kube-apiserver audit events (``audit.k8s.io/v1``), raw JSON lines as the log backend writes them or
wrapped by CloudWatch Logs exports (``{"@timestamp":...,"@message":{...}}``, ``@message`` possibly a JSON
string), with or without a leading timestamp.

Only ``ResponseComplete`` events of successful writes (``responseStatus.code`` < 400) about a rollout are
taken: deployments, replicasets, pods (create, binding, status, delete), endpointslices and endpoints.
Each becomes one or more facts. At ``Metadata`` level there are no bodies: the facts that need one (pod
IP, Ready, endpoint membership) are then missing, and the diagnosis says so. It knows nothing of the
simulator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rollsafe.logs.parsers.common import FileReport, parse_time, read_lines

RESOURCES = frozenset({"pods", "endpointslices", "endpoints", "replicasets", "deployments"})
WRITES = frozenset({"create", "update", "patch", "delete"})
GATE_PREFIX = "target-health.elbv2.k8s.aws/"
_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))\s+(?=\{)")
_QUICK = re.compile(r'"(pods|endpointslices|endpoints|replicasets|deployments)"')


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing an audit event tells. ``what`` is one of: created, bound, ip, ready, not-ready,
    containers-ready, gate, deleted, exited, removed, endpoint, scaled, rollout-started."""

    time: datetime
    what: str
    object: str  # the pod, ReplicaSet or Deployment name
    namespace: str
    ip: str | None = None
    value: str | None = None  # node, gate status, replicas, exit reason, endpoint conditions
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None
    level: str = "Request"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    audit_id: str
    stage: str
    time: datetime
    verb: str
    resource: str
    name: str
    user: str
    level: str
    facts: tuple[Fact, ...]


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, dict) and "@message" in obj:
        inner = obj["@message"]
        if isinstance(inner, str):
            try:
                return json.loads(inner)
            except (ValueError, RecursionError):
                return None
        return inner
    return obj


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _pod_status_facts(at: datetime, name: str, ns: str, body: dict[str, Any], lvl: str) -> list[Fact]:
    out = []
    status = _d(body.get("status"))
    ip = _str(status.get("podIP"))
    if ip:
        out.append(Fact(at, "ip", name, ns, ip=ip, level=lvl))
    for cond in _l(status.get("conditions")):
        c = _d(cond)
        ctype, cstatus = _str(c.get("type")), _str(c.get("status"))
        if ctype == "Ready" and cstatus in ("True", "False"):
            out.append(Fact(at, "ready" if cstatus == "True" else "not-ready", name, ns, ip=ip, level=lvl))
        elif ctype == "ContainersReady" and cstatus == "True":
            out.append(Fact(at, "containers-ready", name, ns, ip=ip, level=lvl))
        elif ctype and ctype.startswith(GATE_PREFIX) and cstatus:
            out.append(Fact(at, "gate", name, ns, value=cstatus, level=lvl))
    for cs in _l(status.get("containerStatuses")):
        term = _d(_d(_d(cs).get("state")).get("terminated"))
        if term:
            out.append(Fact(at, "exited", name, ns, value=str(term.get("reason", "")), level=lvl))
            break
    return out


def _endpoint_facts(at: datetime, ns: str, body: dict[str, Any], kind: str, lvl: str) -> list[Fact]:
    out = []
    if kind == "endpointslices":
        for ep in _l(body.get("endpoints")):
            e = _d(ep)
            ref = _d(e.get("targetRef"))
            cond = _d(e.get("conditions"))
            pod = _str(ref.get("name"))
            for ip in _l(e.get("addresses")):
                if isinstance(ip, str) and pod:
                    ready = cond.get("ready")
                    out.append(
                        Fact(
                            at,
                            "endpoint",
                            pod,
                            ns,
                            ip=ip,
                            ready=ready if isinstance(ready, bool) else True,
                            serving=cond.get("serving") if isinstance(cond.get("serving"), bool) else None,
                            terminating=cond.get("terminating")
                            if isinstance(cond.get("terminating"), bool)
                            else None,
                            level=lvl,
                        )
                    )
    else:  # core/v1 Endpoints
        for subset in _l(body.get("subsets")):
            s = _d(subset)
            for key, ready in (("addresses", True), ("notReadyAddresses", False)):
                for addr in _l(s.get(key)):
                    a = _d(addr)
                    pod = _str(_d(a.get("targetRef")).get("name"))
                    ip = _str(a.get("ip"))
                    if pod and ip:
                        out.append(Fact(at, "endpoint", pod, ns, ip=ip, ready=ready, level=lvl))
    if not out and kind == "endpointslices":
        # an empty slice is a fact too: nobody is behind the Service
        out.append(Fact(at, "endpoint", "", ns, level=lvl))
    return out


def facts_of(ev: dict[str, Any], at: datetime) -> list[Fact]:
    ref = _d(ev.get("objectRef"))
    resource = _str(ref.get("resource")) or ""
    sub = _str(ref.get("subresource")) or ""
    ns = _str(ref.get("namespace")) or ""
    name = _str(ref.get("name")) or ""
    verb = _str(ev.get("verb")) or ""
    user = _str(_d(ev.get("user")).get("username")) or ""
    lvl = _str(ev.get("level")) or ""
    req = _d(ev.get("requestObject"))
    resp = _d(ev.get("responseObject"))
    body = resp or req
    if resource == "pods":
        if verb == "create" and not sub:
            meta = _d(body.get("metadata"))
            name = name or _str(meta.get("name")) or ""
            if not name:
                return []  # generateName only: the scheduler's binding names it
            owners = [_str(_d(o).get("name")) for o in _l(meta.get("ownerReferences"))]
            return [Fact(at, "created", name, ns, value=next((o for o in owners if o), None), level=lvl)]
        if verb == "create" and sub == "binding" and name:
            node = _str(_d(req.get("target")).get("name"))
            return [Fact(at, "bound", name, ns, value=node, level=lvl)]
        if sub == "status" and verb in ("patch", "update") and name:
            return _pod_status_facts(at, name, ns, body, lvl)
        if verb == "delete" and not sub and name:
            grace = req.get("gracePeriodSeconds")
            final = grace == 0 or (grace is None and user.startswith("system:node:"))
            return [Fact(at, "removed" if final else "deleted", name, ns, level=lvl)]
        return []
    if resource in ("endpointslices", "endpoints") and verb in ("create", "update", "patch"):
        if not body:
            return []
        return _endpoint_facts(at, ns, body, resource, lvl)
    if resource == "replicasets" and verb in ("create", "update", "patch") and not sub:
        replicas = _d(body.get("spec")).get("replicas")
        rs = name or _str(_d(body.get("metadata")).get("name")) or ""
        if isinstance(replicas, int) and not isinstance(replicas, bool) and rs:
            return [Fact(at, "scaled", rs, ns, value=str(replicas), level=lvl)]
        return []
    if resource == "deployments" and verb in ("patch", "update") and not sub and name:
        return [Fact(at, "rollout-started", name, ns, level=lvl)]
    return []


def parse_line(line: str, report: FileReport | None = None) -> AuditRecord | str | None:
    text = line.strip()
    m = _PREFIX.match(text)
    if m:
        text = text[m.end() :]
    if not text.startswith("{"):
        return "not JSON"
    if _QUICK.search(text) is None and '"auditID"' in text:
        return None  # an audit event about something else: skip without decoding it
    try:
        obj = _unwrap(json.loads(text))
    except (ValueError, RecursionError):
        return "not valid JSON"
    if not isinstance(obj, dict):
        return "not an audit event (not an object)"
    if obj.get("kind") != "Event" or not str(obj.get("apiVersion", "")).startswith("audit.k8s.io/"):
        return "not an audit event (kind/apiVersion)"
    stage = _str(obj.get("stage")) or ""
    if stage != "ResponseComplete":
        return None
    verb = _str(obj.get("verb")) or ""
    ref = _d(obj.get("objectRef"))
    resource = _str(ref.get("resource")) or ""
    if verb not in WRITES or resource not in RESOURCES:
        return None
    code = _d(obj.get("responseStatus")).get("code")
    if isinstance(code, int) and code >= 400:
        return None  # a failed write changed nothing
    at = parse_time(_str(obj.get("stageTimestamp")), report) or parse_time(
        _str(obj.get("requestReceivedTimestamp")), report
    )
    if at is None:
        return "bad or missing stageTimestamp"
    return AuditRecord(
        audit_id=_str(obj.get("auditID")) or "",
        stage=stage,
        time=at,
        verb=verb,
        resource=resource,
        name=_str(ref.get("name")) or "",
        user=_str(_d(obj.get("user")).get("username")) or "",
        level=_str(obj.get("level")) or "",
        facts=tuple(facts_of(obj, at)),
    )


def parse_file(path: Path, report: FileReport) -> Iterator[tuple[int, AuditRecord]]:
    for lineno, line in read_lines(path, report):
        if not line.strip():
            continue
        rec = parse_line(line, report)
        if rec is None:
            report.skipped += 1
        elif isinstance(rec, str):
            report.bad_line(lineno, rec, line)
        else:
            report.records += 1
            yield lineno, rec
