"""The lint report: the JSON document and its text rendering. Pure functions of the lint results.

Order is stable: workloads by namespace, name and file; findings by severity, rule, file and line;
problems by file and line. Must not run rules or the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollsafe import __version__
from rollsafe.lint.model import SEVERITIES

if TYPE_CHECKING:
    from rollsafe.lint.pipeline import LintReport


def lint_document(
    report: LintReport, *, fail_on: str, costs: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``costs``: per workload index, what ``--simulate`` measured (baseline and per-finding cost)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    workloads = []
    for i, w in enumerate(report.workloads):
        f = w.facts
        for finding in w.findings:
            counts[finding.severity] += 1
        entry: dict[str, Any] = {
            "namespace": f.namespace,
            "name": f.name,
            "file": f.file,
            "line": f.line,
            "behind": f.fronts,
            "target_type": f.target_type.value,
            "app": f"{f.app_source.detail}: {f.app_summary}",
            "assumptions": w.built.assumptions,
            "notable_assumptions": w.built.notable,
            "findings": [x.to_json() for x in w.findings],
        }
        if costs is not None and i in costs:
            entry["simulation"] = costs[i]
        workloads.append(entry)
    return {
        "rollsafe_version": __version__,
        "fail_on": fail_on,
        "summary": {
            "files": report.read.files,
            "documents": report.read.documents,
            "objects": len(report.read.objects),
            "workloads": len(report.workloads),
            "findings": counts,
            "skipped": dict(sorted(report.read.skipped.items())),
            "not_behind_alb": sorted(f"{d.namespace}/{d.name}" for d in report.linked.not_behind_alb),
        },
        "workloads": workloads,
        "problems": [
            {"file": p.file, "line": p.line, "column": p.column, "message": p.message, "fatal": p.fatal}
            for p in report.problems
        ],
    }


def render_lint(doc: dict[str, Any]) -> str:
    out: list[str] = []
    for w in doc["workloads"]:
        out.append(f"{w['namespace']}/{w['name']}  {w['file']}:{w['line']}")
        out.append(f"  behind {', '.join(w['behind'])}; target type {w['target_type']}")
        out.append(f"  {w['app']}")
        out.extend(f"  assumes: {a}" for a in w["notable_assumptions"])
        if not w["findings"]:
            out.append("  no findings")
        for f in w["findings"]:
            out.append(f"  {f['file']}:{f['line']}: {f['severity']}: {f['message']} [{f['rule']}]")
            out.extend(f"      evidence: {e}" for e in f["evidence"])
            out.append(f"      fix: {f['fix']}")
            if "cost" in f:
                out.append(f"      cost: {_cost(f['cost'])}")
        sim = w.get("simulation")
        if sim is not None:
            if sim.get("error"):
                out.append(f"  not simulated: {sim['error']}")
            else:
                out.append(
                    f"  simulated as is: {sim['failed']:,} of {sim['total']:,} requests failed "
                    f"(at {sim['rps']:g} rps, seed {sim['seed']})"
                )
        out.append("")
    if doc["problems"]:
        out.append("problems with the input:")
        out.extend(
            f"  {p['file']}{':' + str(p['line']) if p['line'] else ''}"
            f"{':' + str(p['column']) if p['line'] and p['column'] else ''}: {p['message']}"
            for p in doc["problems"]
        )
        out.append("")
    s = doc["summary"]
    n = s["findings"]
    total = sum(n.values())
    line = (
        f"{s['workloads']} workload(s) behind an ALB, {total} finding(s): "
        f"{n['error']} error(s), {n['warning']} warning(s), {n['info']} info"
    )
    line += f"; read {s['files']} file(s), {s['objects']} object(s)"
    skipped = sum(s["skipped"].values())
    if skipped:
        line += f", {skipped} of other kinds skipped"
    if s["not_behind_alb"]:
        line += f"; not behind an ALB (not linted): {', '.join(s['not_behind_alb'])}"
    out.append(line)
    return "\n".join(out) + "\n"


def _cost(cost: dict[str, Any]) -> str:
    if cost.get("failed_as_is") is None or cost.get("failed_fixed") is None:
        return str(cost.get("note", "not simulated"))
    return (
        f"{cost['requests']:,} request(s) "
        f"({cost['failed_as_is']:,} fail as is, {cost['failed_fixed']:,} with this fixed; "
        f"{cost['rps']:g} rps, seed {cost['seed']})"
    )
