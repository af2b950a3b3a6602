"""CloudTrail parsing: S3 delivery documents (gzip, one line or pretty-printed), one event per line,
CloudWatch @message wrapping, whole-second times, absent AZ, failed calls, user agents, other events."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollsafe.logs.parsers import cloudtrail
from rollsafe.logs.parsers.common import FileReport

ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:000011112222:targetgroup/k8s-shop-web-6b1f0e9a2c/1a2b3c4d5e6f7a8b"
)
EVENT: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {"type": "AssumedRole", "accountId": "000011112222"},
    "eventTime": "2026-03-04T10:15:02Z",
    "eventSource": "elasticloadbalancing.amazonaws.com",
    "eventName": "DeregisterTargets",
    "awsRegion": "eu-west-1",
    "userAgent": "elbv2.k8s.aws/v2.13.3 aws-sdk-go-v2/1.36.3",
    "requestParameters": {
        "targetGroupArn": ARN,
        "targets": [{"id": "10.0.52.9", "port": 8080, "availabilityZone": "eu-west-1b"}],
    },
    "responseElements": None,
    "eventID": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
}


def _variant(**changes: Any) -> dict[str, Any]:
    e = copy.deepcopy(EVENT)
    e.update(changes)
    return e


def _events() -> list[dict[str, Any]]:
    register = _variant(eventName="RegisterTargets", eventID="e2", userAgent="elbv2.k8s.aws/v2.4.1")
    register["requestParameters"]["targets"] = [{"id": "10.0.61.30", "port": 8080}]  # no AZ
    failed = _variant(eventID="e3", errorCode="ValidationError", errorMessage="bad target")
    describe = _variant(eventName="DescribeTargetHealth", eventID="e4")
    return [EVENT, register, failed, describe]


def _read(path: Path) -> tuple[list[cloudtrail.CtRecord], FileReport]:
    report = FileReport(str(path))
    return [r for _, r in cloudtrail.parse_file(path, report)], report


def test_s3_delivery_document_gzip(tmp_path: Path) -> None:
    path = tmp_path / "ct.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": _events()}).encode()))
    got, report = _read(path)
    assert [r.name for r in got] == ["DeregisterTargets", "RegisterTargets", "DeregisterTargets"]
    assert got[0].time == datetime(2026, 3, 4, 10, 15, 2, tzinfo=UTC)
    assert got[0].targets == (("10.0.52.9", 8080),)
    assert got[1].targets == (("10.0.61.30", 8080),)
    assert got[1].user_agent == "elbv2.k8s.aws/v2.4.1"
    assert got[2].error == "ValidationError"  # kept, marked: it changed nothing
    assert report.skipped == 1  # DescribeTargetHealth


def test_pretty_printed_document(tmp_path: Path) -> None:
    path = tmp_path / "ct.json"
    path.write_text(json.dumps({"Records": _events()}, indent=2), encoding="utf-8")
    got, _ = _read(path)
    assert len(got) == 3


def test_one_event_per_line_and_cloudwatch_wrapping(tmp_path: Path) -> None:
    path = tmp_path / "ct.jsonl"
    lines = [json.dumps(e) for e in _events()]
    lines.append(json.dumps({"@timestamp": "x", "@message": json.dumps(_variant(eventID="e5"))}))
    lines.append(json.dumps({"@timestamp": "x", "@message": _variant(eventID="e6")}))
    lines.append("not json")
    lines.append(json.dumps(_variant(eventID="e7", eventTime=12)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got, report = _read(path)
    assert [r.event_id for r in got] == [EVENT["eventID"], "e2", "e3", "e5", "e6"]
    assert report.bad == {"not valid JSON": 1, "bad eventTime": 1}


def test_unexpected_types() -> None:
    bad_targets = _variant()
    bad_targets["requestParameters"] = {"targets": "10.0.0.1"}
    assert cloudtrail.parse_event(bad_targets) == "requestParameters.targets is not a list"
    bad_port = _variant()
    bad_port["requestParameters"] = {"targets": [{"id": "10.0.0.1", "port": "80"}]}
    assert cloudtrail.parse_event(bad_port) == "a target's port is not an integer"
    assert cloudtrail.parse_event([1]) == "event is not an object"
    assert cloudtrail.parse_event({"eventName": "X"}) == "not a CloudTrail event (no eventName/eventTime)"
