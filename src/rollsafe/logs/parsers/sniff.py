"""Which of the four sources a file holds, from its content (decompressed when gzip), not its name.

Looks at the first lines: an ALB access log line starts with a request type and an ISO time; a controller
line is JSON with ``ts`` and ``msg`` (maybe after a ``kubectl logs --timestamps`` prefix); a CloudTrail file
holds ``Records`` or events with ``eventSource``/``eventName``; an audit event says ``audit.k8s.io``
(maybe inside a CloudWatch ``@message``). Returns None with the reason when it is none of them.
"""

from __future__ import annotations

import re
from pathlib import Path

from rollsafe.logs.parsers.common import head_bytes

SOURCES = ("alb", "controller", "cloudtrail", "audit")
_ALB = re.compile(r"^(http|https|h2|grpcs|ws|wss) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)\s+(?=\{)")


def classify_line(line: str) -> str | None:
    text = _PREFIX.sub("", line.strip(), count=1)
    if _ALB.match(text):
        return "alb"
    if not text.startswith("{"):
        return None
    if "audit.k8s.io" in text:
        return "audit"
    if '"eventSource"' in text or '"eventName"' in text or '\\"eventName\\"' in text:
        return "cloudtrail"
    if '"msg"' in text and '"ts"' in text:
        return "controller"
    return None


def sniff(path: Path) -> tuple[str | None, str]:
    """(source, why) or (None, why not)."""
    head, fault = head_bytes(path)
    if not head:
        return None, fault or "empty file"
    if b"\x00" in head[:8192]:
        return None, "binary file (NUL bytes), not a log"
    if b'"Records"' in head[:4096] and (b'"eventName"' in head or b'"eventSource"' in head):
        return "cloudtrail", "a CloudTrail Records document"
    text = head.decode("utf-8", "replace")
    lines = text.splitlines()
    if len(head) == 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    votes: dict[str, int] = {}
    looked = 0
    for line in lines:
        if not line.strip():
            continue
        looked += 1
        kind = classify_line(line)
        if kind:
            votes[kind] = votes.get(kind, 0) + 1
        if looked >= 50:
            break
    if not votes:
        if looked == 0:
            return None, "no lines (only whitespace)"
        return None, "none of the four log formats in its first lines"
    best = max(votes, key=lambda k: (votes[k], -SOURCES.index(k)))
    return best, f"{votes[best]} of the first {looked} lines look like {best}"
