"""SARIF 2.1.0 for the lint findings: rule metadata and file:line locations, as GitHub code scanning
reads them. A pure function of the lint JSON document; must not run rules.

Levels: error → error, warning → warning, info → note. Each result carries a partial fingerprint built
from the rule, workload, file and message without its numbers (not the line), so code scanning tracks a
finding across edits above it and changes of the values in it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePath, PurePosixPath
from typing import Any

from rollsafe import __version__
from rollsafe.lint.engine import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _artifact(path: str) -> dict[str, str]:
    """Relative paths are relative to the repository root (%SRCROOT%), as code scanning expects; an
    absolute path becomes a file: URI."""
    if path == "<stdin>":
        return {"uri": "stdin"}
    p = PurePosixPath(PurePath(path).as_posix())
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": str(p).removeprefix("./"), "uriBaseId": "%SRCROOT%"}


def _region(p: dict[str, Any]) -> dict[str, int]:
    region = {"startLine": int(p["line"])}
    if p.get("column"):
        region["startColumn"] = int(p["column"])
    return region


def _camel(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def to_sarif(doc: dict[str, Any]) -> dict[str, Any]:
    index = {r.id: i for i, r in enumerate(RULES)}
    rules = [
        {
            "id": r.id,
            "name": _camel(r.id),
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.why},
            "help": {
                "text": f"Why: {r.why}\nFix: {r.how_to_fix}",
                "markdown": f"**Why.** {r.why}\n\n**Fix.** {r.how_to_fix}\n\n`rollsafe rules --show {r.id}`",
            },
            "defaultConfiguration": {"level": _LEVEL[r.severity]},
            "properties": {"tags": ["reliability", "kubernetes", "aws-alb"]},
        }
        for r in RULES
    ]
    results = []
    for w in doc["workloads"]:
        for f in w["findings"]:
            text = f"{w['namespace']}/{w['name']}: {f['message']}. Fix: {f['fix']}"
            if "cost" in f and f["cost"].get("requests") is not None:
                text += f" (costs {f['cost']['requests']:,} requests at {f['cost']['rps']:g} rps)"
            # numbers in a message move with the settings; the finding is the same one
            shape = re.sub(r"[0-9.]+", "#", f["message"])
            key = f"{f['rule']}|{w['namespace']}/{w['name']}|{f['file']}|{shape}"
            result: dict[str, Any] = {
                "ruleId": f["rule"],
                "ruleIndex": index[f["rule"]],
                "level": _LEVEL[f["severity"]],
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": _artifact(f["file"]),
                            "region": {"startLine": max(1, int(f["line"]))},
                        }
                    }
                ],
                "partialFingerprints": {"rollsafeFinding/v1": hashlib.sha256(key.encode()).hexdigest()[:32]},
                "properties": {
                    "workload": f"{w['namespace']}/{w['name']}",
                    "evidence": f["evidence"],
                    "fix": f["fix"],
                },
            }
            if "cost" in f:
                result["properties"]["cost"] = f["cost"]
            results.append(result)
    notifications = [
        {
            "level": "error" if p["fatal"] else "note",
            "message": {"text": p["message"]},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(p["file"]),
                        **({"region": _region(p)} if p["line"] else {}),
                    }
                }
            ],
        }
        for p in doc["problems"]
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "rollsafe",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
