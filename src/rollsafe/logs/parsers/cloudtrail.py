"""CloudTrail records of the controller's target group calls: ``RegisterTargets`` and
``DeregisterTargets`` (``DescribeTargetHealth`` is read and skipped), from S3 delivery files
(``{"Records":[...]}``, gzip or not, on one line or pretty-printed) or one event per line (CloudWatch
Logs and CloudTrail Lake exports, possibly wrapped in ``@message``). ``eventTime`` has whole seconds;
ties keep file order. A failed call (``errorCode``) made no change and is kept as such. It knows nothing
of the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rollsafe.logs.parsers.common import FileReport, _open, parse_time, read_lines

NAMES = frozenset({"RegisterTargets", "DeregisterTargets"})
MAX_DOCUMENT = 1 << 30  # a Records document bigger than this is not one CloudTrail delivers


@dataclass(frozen=True, slots=True)
class CtRecord:
    time: datetime
    name: str  # RegisterTargets | DeregisterTargets
    event_id: str
    arn: str | None
    targets: tuple[tuple[str, int | None], ...]
    error: str | None  # errorCode of a failed call
    user_agent: str | None


def parse_event(obj: Any, report: FileReport | None = None) -> CtRecord | str | None:
    if isinstance(obj, dict) and "@message" in obj:
        obj = obj["@message"]
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except (ValueError, RecursionError):
                return "@message is not JSON"
    if not isinstance(obj, dict):
        return "event is not an object"
    name = obj.get("eventName")
    if not isinstance(name, str) or "eventTime" not in obj:
        return "not a CloudTrail event (no eventName/eventTime)"
    if name not in NAMES:
        return None
    raw_time = obj.get("eventTime")
    at = parse_time(raw_time, report) if isinstance(raw_time, str) else None
    if at is None:
        return "bad eventTime"
    params = obj.get("requestParameters")
    if not isinstance(params, dict):
        params = {}
    raw_targets = params.get("targets", [])
    if not isinstance(raw_targets, list):
        return "requestParameters.targets is not a list"
    targets = []
    for t in raw_targets:
        if not isinstance(t, dict) or not isinstance(t.get("id"), str):
            return "a target without a string id"
        port = t.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            return "a target's port is not an integer"
        targets.append((t["id"], port))
    arn = params.get("targetGroupArn")
    error = obj.get("errorCode")
    agent = obj.get("userAgent")
    return CtRecord(
        time=at,
        name=name,
        event_id=str(obj.get("eventID", "")),
        arn=arn if isinstance(arn, str) else None,
        targets=tuple(targets),
        error=str(error) if error is not None else None,
        user_agent=agent if isinstance(agent, str) else None,
    )


def _records_document(path: Path, report: FileReport) -> list[Any] | None:
    """The ``Records`` list when the file is one delivery document; None when it is not one."""
    try:
        with _open(path) as fh:
            head = fh.read(4096)
            if b'"Records"' not in head:
                return None
            data = head + fh.read(MAX_DOCUMENT)
    except (OSError, EOFError) as exc:
        report.fault = f"damaged or truncated file ({exc})"
        return None
    except Exception as exc:  # zlib.error and friends from a damaged gzip stream
        report.fault = f"damaged or truncated gzip ({exc})"
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        report.lines += data.count(b"\n") + 1
        return list(doc["Records"])
    return None


def parse_file(path: Path, report: FileReport) -> Iterator[tuple[int, CtRecord]]:
    records = _records_document(path, report)
    if report.fault is not None:
        return
    if records is not None:
        for i, obj in enumerate(records, start=1):
            rec = parse_event(obj, report)
            if rec is None:
                report.skipped += 1
            elif isinstance(rec, str):
                report.bad_line(i, f"record: {rec}", json.dumps(obj)[:200])
            else:
                report.records += 1
                yield i, rec
        return
    for lineno, line in read_lines(path, report):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            report.bad_line(lineno, "not valid JSON", line)
            continue
        rec = parse_event(obj, report)
        if rec is None:
            report.skipped += 1
        elif isinstance(rec, str):
            report.bad_line(lineno, rec, line)
        else:
            report.records += 1
            yield lineno, rec
