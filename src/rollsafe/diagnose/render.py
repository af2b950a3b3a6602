"""The text report of a diagnosis, drawn with rich: a pure function of the document report.build() made
(and the width). It reads nothing and decides nothing."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollsafe.report.console import to_text


def _n(x: int) -> str:
    return f"{x:,}"


def _hm(iso: str | None) -> str:
    return "?" if not iso else iso[11:23]


def render(doc: dict[str, Any], *, width: int = 100, color: bool | None = False) -> str:
    return to_text(_render(doc), width=width, color=color)


def _render(doc: dict[str, Any]) -> Group:
    parts: list[Any] = []
    win = doc["window"]
    head = Text("rollsafe diagnose", style="bold")
    if win["first_request"]:
        head.append(f"  requests {win['first_request'][:19]}Z .. {win['last_request'][11:19]}Z")
    if win.get("target_group"):
        head.append(f"  target group {win['target_group']}")
    parts.append(head)
    req = doc["requests"]
    verdict = Text()
    if req["failed"]:
        pct = 100.0 * req["failed"] / max(req["total"], 1)
        by_status = ", ".join(f"{s}: {_n(n)}" for s, n in sorted(_lb_status(doc).items()) if n)
        verdict.append(
            f"{_n(req['failed'])} of {_n(req['total'])} requests got an LB-generated 5xx ({pct:.2f}%): "
            + by_status,
            style="bold red",
        )
    else:
        verdict.append(f"No LB-generated 5xx in {_n(req['total'])} requests.", style="bold green")
    parts.append(verdict)
    if req.get("target_5xx"):
        parts.append(
            Text(
                f"{_n(req['target_5xx'])} 5xx came from the targets themselves (the app answered them): "
                "counted apart, not a rollout cause"
            )
        )
    if doc["target_type"] == "instance":
        parts.append(
            Text(
                "instance targets: the access log names nodes; pods are inferred from the Service's endpoints"
            )
        )
    # rollouts
    for r in doc["rollouts"]:
        steps = "; ".join(
            f"{rs} " + " → ".join(str(s["replicas"]) for s in v) for rs, v in r["replicasets"].items()
        )
        parts.append(
            Text(
                f"rollout of {r['deployment'] or '?'} from {_hm(r['started'])} to {_hm(r['ended'])}: {steps}"
            )
        )
    # causes
    causes = {c: n for c, n in doc["causes"].items() if n}
    if causes:
        table = Table(title="Why", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("cause")
        table.add_column("status")
        table.add_column("requests", justify="right")
        table.add_column("usual fix")
        for c, n in sorted(causes.items(), key=lambda x: -x[1]):
            help_ = doc["cause_help"].get(c)
            status = ", ".join(sorted(doc["cause_status"].get(c, {})))
            table.add_row(c, status, _n(n), escape(help_["fix"]) if help_ else "see the evidence below")
        parts.append(table)
        split = doc.get("apportioned") or {}
        if split.get("requests"):
            expected = ", ".join(f"{c} {v:.1f}" for c, v in split["expected"].items())
            parts.append(
                Text(
                    f"{_n(split['requests'])} refusals could be either cause (kube-proxy's pick is not "
                    f"logged): split by their odds, expected {expected}; either count ± {split['sd']:.1f}"
                )
            )
        parts.append(Text("Evidence (examples):", style="bold"))
        for c in sorted(causes, key=lambda x: -causes[x]):
            parts.extend(Text(f"  {c}: " + "; ".join(o["evidence"])) for o in doc["examples"].get(c, [])[:2])
    parts.extend(
        Text(f"unexplained ({_n(u['count'])}): missing {u['missing']}", style="yellow")
        for u in doc["unexplained"]
    )
    # lags
    lags = Table(title="Measured lags", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("from → to", "samples", "p50 s", "p95 s", "max s"):
        lags.add_column(col, justify="left" if col == "from → to" else "right")
    labels = {
        "deletion_to_deregistration_s": "pod deletion → deregistration call",
        "deletion_to_last_request_s": "pod deletion → last request routed to it",
        "registration_to_first_request_s": "registration → first request",
        "ready_to_registration_s": "pod Ready → registration",
    }
    for key, label in labels.items():
        d = doc["lags"][key]
        lags.add_row(
            label,
            str(d["samples"]),
            *(("-" if d[q] is None else f"{d[q]:.3f}") for q in ("p50", "p95", "max")),
        )
    parts.append(lags)
    # the fix
    sz = doc["sizing"]
    fix = Text("Fix: ", style="bold")
    if sz["pre_stop_sleep_seconds"] is not None:
        fix.append(f"preStop sleep {sz['pre_stop_sleep_seconds']} s. ")
    fix.append(sz["pre_stop_basis"])
    parts.append(fix)
    parts.append(Text("Readiness gates: " + sz["readiness_gates"]["assessment"]))
    parts.extend(
        Text(f"could not conclude: {nc['what']} (needs {nc['needs']})", style="yellow")
        for nc in doc["not_concluded"]
    )
    parts.extend(_inputs(doc["inputs"]))
    return Group(*parts)


def _lb_status(doc: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for per in doc["cause_status"].values():
        for s, n in per.items():
            out[s] = out.get(s, 0) + n
    return out


def _inputs(inputs: dict[str, Any]) -> list[Text]:
    out = []
    src = inputs["sources"]
    out.append(
        Text(
            "read: "
            + ", ".join(
                f"{s} {_n(v['records'])} records in {v['files']} files"
                + (f" ({_n(v['bad_lines'])} bad lines)" if v["bad_lines"] else "")
                for s, v in src.items()
            )
        )
    )
    for table, n in inputs["duplicates_dropped"].items():
        out.append(
            Text(f"duplicates: {_n(n)} records in {table} appeared in more than one file; counted once")
        )
    for f in inputs["files"]:
        if f["fault"]:
            out.append(Text(f"{f['path']}: {f['fault']}", style="yellow"))
        for reason, n in f["bad"].items():
            ex = f["examples"].get(reason, [])
            first = f" (line {ex[0]['line']}: {ex[0]['text'][:80]!r})" if ex else ""
            out.append(Text(f"{f['path']}: {_n(n)} lines: {reason}{first}", style="yellow"))
        zones = [n for n in f["notes"] if "zone" in n]
        out.extend(Text(f"{f['path']}: {z}") for z in zones)
    return out
