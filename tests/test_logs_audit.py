"""kube-apiserver audit parsing: raw lines and CloudWatch export wrappings, stages, Endpoints and
EndpointSlice bodies, Metadata-level events without bodies, failed requests, zones, what each write
tells about a pod."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollsafe.logs.parsers import audit
from rollsafe.logs.parsers.common import FileReport

SA = "system:serviceaccount:kube-system:"


def _event(verb: str, resource: str, name: str | None, **extra: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": resource, "namespace": "shop", "apiVersion": "v1"}
    if name:
        ref["name"] = name
    e: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Request",
        "auditID": extra.pop("auditID", "6f1e0d2c-3b4a-4958-8677-a6b5c4d3e2f1"),
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": extra.pop("user", SA + "replicaset-controller")},
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": extra.pop("code", 200)},
        "requestReceivedTimestamp": "2026-03-04T10:15:01.902113Z",
        "stageTimestamp": extra.pop("stage_ts", "2026-03-04T10:15:01.911870Z"),
    }
    if "sub" in extra:
        ref["subresource"] = extra.pop("sub")
    e.update(extra)
    return e


DELETE = _event(
    "delete",
    "pods",
    "web-7c9d8f6b5-x2k4q",
    requestObject={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
)
SLICE = _event(
    "update",
    "endpointslices",
    "web-abcde",
    user=SA + "endpointslice-controller",
    auditID="a2",
    requestObject={
        "kind": "EndpointSlice",
        "endpoints": [
            {
                "addresses": ["10.0.52.9"],
                "conditions": {"ready": False, "serving": True, "terminating": True},
                "targetRef": {"kind": "Pod", "name": "web-7c9d8f6b5-x2k4q"},
            },
            {"addresses": ["10.0.61.30"], "conditions": {"ready": True}, "targetRef": {"name": "web-5-new"}},
        ],
    },
)
ENDPOINTS = _event(
    "update",
    "endpoints",
    "web",
    auditID="a3",
    requestObject={
        "subsets": [
            {
                "addresses": [{"ip": "10.0.61.30", "targetRef": {"name": "web-5-new"}}],
                "notReadyAddresses": [{"ip": "10.0.52.9", "targetRef": {"name": "web-7c9d8f6b5-x2k4q"}}],
            }
        ]
    },
)
STATUS = _event(
    "patch",
    "pods",
    "web-5-new",
    sub="status",
    user="system:node:ip-10-0-1-20.eu-west-1.compute.internal",
    auditID="a4",
    requestObject={
        "status": {
            "podIP": "10.0.61.30",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "target-health.elbv2.k8s.aws/k8s-shop-web-6b1f0e9a2c", "status": "True"},
            ],
        }
    },
)
FINAL = _event(
    "delete",
    "pods",
    "web-7c9d8f6b5-x2k4q",
    user="system:node:ip-10-0-1-20.eu-west-1.compute.internal",
    auditID="a5",
    requestObject={"kind": "DeleteOptions", "gracePeriodSeconds": 0},
)


def _read(tmp_path: Path, lines: list[str]) -> tuple[list[audit.AuditRecord], FileReport]:
    path = tmp_path / "audit.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = FileReport(str(path))
    return [r for _, r in audit.parse_file(path, report)], report


def _facts(records: list[audit.AuditRecord]) -> list[tuple[str, str, str | None]]:
    return [(f.what, f.object, f.ip) for r in records for f in r.facts]


def test_raw_lines_and_what_they_tell(tmp_path: Path) -> None:
    got, report = _read(tmp_path, [json.dumps(e) for e in (DELETE, SLICE, STATUS, FINAL)])
    assert report.records == 4
    assert got[0].time == datetime(2026, 3, 4, 10, 15, 1, 911870, tzinfo=UTC)
    assert _facts(got) == [
        ("deleted", "web-7c9d8f6b5-x2k4q", None),
        ("endpoint", "web-7c9d8f6b5-x2k4q", "10.0.52.9"),
        ("endpoint", "web-5-new", "10.0.61.30"),
        ("ip", "web-5-new", "10.0.61.30"),
        ("ready", "web-5-new", "10.0.61.30"),
        ("gate", "web-5-new", None),
        ("removed", "web-7c9d8f6b5-x2k4q", None),
    ]
    terminating = got[1].facts[0]
    assert (terminating.ready, terminating.serving, terminating.terminating) == (False, True, True)


def test_endpoints_objects(tmp_path: Path) -> None:
    got, _ = _read(tmp_path, [json.dumps(ENDPOINTS)])
    facts = got[0].facts
    assert [(f.object, f.ip, f.ready) for f in facts] == [
        ("web-5-new", "10.0.61.30", True),
        ("web-7c9d8f6b5-x2k4q", "10.0.52.9", False),
    ]


def test_cloudwatch_wrappings(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "@timestamp": "2026-03-04 10:15:01.911",
                "@logStream": "kube-apiserver-audit-1",
                "@message": DELETE,
            }
        ),
        json.dumps({"@timestamp": "x", "@message": json.dumps(FINAL)}),
        "2026-03-04T10:15:02.000Z " + json.dumps(SLICE),
    ]
    got, report = _read(tmp_path, lines)
    assert report.records == 3
    assert [f.what for r in got for f in r.facts][:2] == ["deleted", "removed"]


def test_skipped_stages_failures_and_other_resources(tmp_path: Path) -> None:
    received = copy.deepcopy(DELETE)
    received["stage"] = "RequestReceived"
    forbidden = _event("delete", "pods", "web-x", code=403, auditID="a9")
    configmap = _event("update", "configmaps", "cfg", auditID="a10")
    watch = _event("watch", "pods", None, auditID="a11")
    got, report = _read(tmp_path, [json.dumps(e) for e in (received, forbidden, configmap, watch, DELETE)])
    assert len(got) == 1
    assert report.skipped == 4


def test_metadata_level_has_no_bodies(tmp_path: Path) -> None:
    meta = [copy.deepcopy(e) for e in (DELETE, SLICE, STATUS, FINAL)]
    for e in meta:
        e["level"] = "Metadata"
        e.pop("requestObject", None)
    got, _ = _read(tmp_path, [json.dumps(e) for e in meta])
    # the deletes still tell (the final one by its user); the status patch and slice bodies are gone
    assert [(f.what, f.object, f.level) for r in got for f in r.facts] == [
        ("deleted", "web-7c9d8f6b5-x2k4q", "Metadata"),
        ("removed", "web-7c9d8f6b5-x2k4q", "Metadata"),
    ]


def test_other_zones_and_bad_lines(tmp_path: Path) -> None:
    zoned = copy.deepcopy(DELETE)
    zoned["stageTimestamp"] = "2026-03-04T11:15:01.911870+01:00"
    no_time = copy.deepcopy(DELETE)
    no_time["stageTimestamp"] = 5
    no_time["requestReceivedTimestamp"] = None
    not_audit = {"kind": "Pod", "apiVersion": "v1"}
    got, report = _read(
        tmp_path, [json.dumps(zoned), json.dumps(no_time), json.dumps(not_audit), "{broken", "plain text"]
    )
    assert got[0].time == datetime(2026, 3, 4, 10, 15, 1, 911870, tzinfo=UTC)
    assert report.converted_zones == 1
    assert report.bad == {
        "bad or missing stageTimestamp": 1,
        "not an audit event (kind/apiVersion)": 1,
        "not valid JSON": 1,
        "not JSON": 1,
    }


def test_unexpected_types_inside_bodies_are_ignored_not_raised(tmp_path: Path) -> None:
    weird = copy.deepcopy(SLICE)
    weird["requestObject"] = {"endpoints": [{"addresses": "10.0.0.1", "targetRef": 5}, 7, None]}
    status = copy.deepcopy(STATUS)
    status["requestObject"] = {"status": {"podIP": ["x"], "conditions": "Ready"}}
    got, report = _read(tmp_path, [json.dumps(weird), json.dumps(status)])
    assert report.records == 2
    assert [f.what for r in got for f in r.facts] == ["endpoint"]  # an empty slice: nobody behind it
