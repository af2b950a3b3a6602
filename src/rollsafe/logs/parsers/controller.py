"""AWS Load Balancer Controller logs: zap JSON lines (``level``, ``ts``, ``msg``, then the message's
keys), as ``kubectl logs`` prints them, with or without ``--timestamps`` prefixes.

Takes the target group membership lines (``registering targets``, ``registered targets``,
``deRegistering targets``, ``deRegistered targets``: pkg/targetgroupbinding/targets_manager.go) with
``ts`` as an epoch float or an RFC 3339 string, targets in either SDK's shape (ip or instance ids), and
past-tense lines without targets (before v2.13.0). Other messages are counted as skipped; lines that are
not JSON (banners, Go panics) are counted as bad. It knows nothing of the simulator.
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

PHASES = {
    "registering targets": "registering",
    "registered targets": "registered",
    "deRegistering targets": "deregistering",
    "deRegistered targets": "deregistered",
}
_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) (?=\{)")


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    port: int | None
    az: str | None


@dataclass(frozen=True, slots=True)
class LbcRecord:
    time: datetime
    phase: str  # registering | registered | deregistering | deregistered
    arn: str | None
    targets: tuple[Target, ...] | None  # None: the line carried no targets (older builds)
    key: str  # the line without any kubectl prefix: the same line in two exports is one event


def parse_targets(value: Any) -> tuple[Target, ...] | str:
    if not isinstance(value, list):
        return "targets is not a list"
    out = []
    for t in value:
        if not isinstance(t, dict):
            return "a target is not an object"
        tid, port, az = t.get("Id"), t.get("Port"), t.get("AvailabilityZone")
        if not isinstance(tid, str) or not tid:
            return "a target has no string Id"
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            return "a target's Port is not an integer"
        if az is not None and not isinstance(az, str):
            return "a target's AvailabilityZone is not a string"
        out.append(Target(tid, port, az))
    return tuple(out)


def parse_line(line: str, report: FileReport | None = None) -> LbcRecord | str | None:
    """The record; None for a well-formed line about something else; or the reason it is bad."""
    text = line.strip()
    m = _PREFIX.match(text)
    if m:
        text = text[m.end() :]
    if not text.startswith("{"):
        return "not JSON (banner, panic or other output)"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return "not valid JSON"
    if not isinstance(obj, dict):
        return "JSON that is not an object"
    msg = obj.get("msg")
    if not isinstance(msg, str) or "ts" not in obj:
        return "JSON without msg and ts: not a controller line"
    phase = PHASES.get(msg)
    if phase is None:
        return None
    at = parse_time(obj["ts"], report)
    if at is None:
        return "bad ts"
    arn = obj.get("arn")
    if arn is not None and not isinstance(arn, str):
        return "arn is not a string"
    targets = None
    if "targets" in obj:
        parsed = parse_targets(obj["targets"])
        if isinstance(parsed, str):
            return parsed
        targets = parsed
    return LbcRecord(at, phase, arn, targets, text)


def parse_file(path: Path, report: FileReport) -> Iterator[tuple[int, LbcRecord]]:
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
