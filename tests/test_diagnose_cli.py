"""`rollsafe diagnose` and `simulate --emit-logs` as an SRE meets them: the JSON contract, the text
report, filters, --db, and every kind of bad input reported with exit 2 only when nothing usable is
left, never a traceback."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from rollsafe.cli import main
from rollsafe.model.causes import CAUSE_IDS
from rollsafe.model.timeline import Names


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("emitted")
    code, text = _run("simulate", "--builtin", "eks-alb-defaults", "--runs", "1", "--emit-logs", str(out))
    assert code == 0, text
    return out


@pytest.fixture(scope="module")
def sim() -> dict[str, Any]:
    """What the simulator says of the run whose logs the tests diagnose."""
    code, out = _run("simulate", "--builtin", "eks-alb-defaults", "--runs", "1", "--output", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert isinstance(doc, dict)
    assert doc["requests"]["failed"] > doc["causes"]["no-healthy-targets"] > 0
    return doc


def _diag(*args: str) -> dict[str, Any]:
    code, out = _run("diagnose", *args, "--output", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_emitted_files_look_like_what_aws_and_kubernetes_write(logs: Path) -> None:
    albs = sorted(logs.rglob("*.log.gz"))
    assert albs
    for f in albs:
        rel = f.relative_to(logs).as_posix()
        assert re.fullmatch(
            r"AWSLogs/\d{12}/elasticloadbalancing/[a-z0-9-]+/\d{4}/\d\d/\d\d/\d{12}_elasticloadbalancing_"
            r"[a-z0-9-]+_app\.[\w-]+\.[0-9a-f]{16}_\d{8}T\d{4}Z_\d+\.\d+\.\d+\.\d+_[0-9a-f]{8}\.log\.gz",
            rel,
        ), rel
        lines = gzip.decompress(f.read_bytes()).decode().splitlines()
        times = [line.split(" ")[1] for line in lines]
        assert times == sorted(times)
    ct = next(logs.rglob("*_CloudTrail_*.json.gz"))
    assert json.loads(gzip.decompress(ct.read_bytes()))["Records"]
    for line in (logs / "kube-apiserver-audit.log").read_text().splitlines():
        assert json.loads(line)["level"] == "Request"
    for line in (logs / "aws-load-balancer-controller.log").read_text().splitlines():
        assert {"level", "ts", "msg"} <= set(json.loads(line))


def test_emitted_logs_are_byte_for_byte_reproducible(logs: Path, tmp_path: Path) -> None:
    code, _ = _run("simulate", "--builtin", "eks-alb-defaults", "--runs", "1", "--emit-logs", str(tmp_path))
    assert code == 0
    a = {p.relative_to(logs): p.read_bytes() for p in logs.rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert a == b


def test_json_contract_matches_simulate(logs: Path) -> None:
    doc = _diag(str(logs))
    _, out = _run("simulate", "--builtin", "eks-alb-defaults", "--runs", "1", "--output", "json")
    sim = json.loads(out)
    assert doc["requests"]["total"] == sim["requests"]["total"]
    assert doc["requests"]["failed"] == sim["requests"]["failed"]
    assert set(doc["causes"]) == {*CAUSE_IDS, "unexplained"}
    assert {k: v for k, v in doc["causes"].items() if k in CAUSE_IDS} == sim["causes"]
    assert doc["status_counts"] == {k: v for k, v in sim["status_counts"].items() if v}
    for cause, examples in doc["examples"].items():
        for e in examples:
            assert e["cause"] == cause
            assert e["evidence"]
            assert set(e) == {"at", "lb_node", "target", "status", "cause", "evidence"}
    assert doc["not_concluded"] == []


def test_text_report(logs: Path, sim: dict[str, Any]) -> None:
    code, out = _run("diagnose", str(logs))
    assert code == 0
    failed, total = sim["requests"]["failed"], sim["requests"]["total"]
    assert f"{failed:,} of {total:,} requests got an LB-generated 5xx" in out
    for needle in (
        "no-healthy-targets",
        "target-unreachable",
        "Measured lags",
        "Fix: preStop sleep",
        "rollout of",
    ):
        assert needle in out


def test_since_until_and_target_group_filter(logs: Path) -> None:
    full = _diag(str(logs))
    part = _diag(str(logs), "--since", "2026-03-04T10:15:10Z", "--until", "2026-03-04T11:15:20+01:00")
    assert 0 < part["requests"]["total"] < full["requests"]["total"]
    assert part["window"]["first_request"] >= "2026-03-04T10:15:10"
    assert part["window"]["last_request"] < "2026-03-04T10:15:20"
    same = _diag(str(logs), "--target-group", Names("web").target_group_arn)
    assert same["requests"] == full["requests"]
    assert same["lags"] == full["lags"]
    other = _diag(str(logs), "--target-group", "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/y")
    assert other["requests"]["total"] == 0


def test_db_keeps_the_tables(logs: Path, tmp_path: Path) -> None:
    db = tmp_path / "incident.duckdb"
    _diag(str(logs), "--db", str(db))
    con = duckdb.connect(str(db), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {
        "alb_requests",
        "lbc_events",
        "cloudtrail_events",
        "audit_facts",
        "outcomes",
        "input_files",
    } <= tables
    n = con.execute("SELECT count(*) FROM outcomes WHERE cause = 'target-unreachable'").fetchone()
    assert n is not None
    assert n[0] > 0
    con.close()


def test_a_missing_source_narrows_the_diagnosis(logs: Path, tmp_path: Path, sim: dict[str, Any]) -> None:
    only_alb = tmp_path / "alb"
    shutil.copytree(logs / "AWSLogs", only_alb / "AWSLogs")
    shutil.rmtree(next((only_alb / "AWSLogs").rglob("CloudTrail")))
    doc = _diag(str(only_alb))
    failed, no_target = sim["requests"]["failed"], sim["causes"]["no-healthy-targets"]
    assert doc["requests"]["failed"] == failed
    assert doc["causes"]["no-healthy-targets"] == no_target  # needs no pod: the LB chose no target
    assert doc["causes"]["unexplained"] == failed - no_target
    needs = " ".join(n["needs"] for n in doc["not_concluded"])
    assert "audit log" in needs
    assert "Load Balancer Controller" in needs
    assert doc["unexplained"][0]["missing"].startswith("no audit record names the pod")


def test_bad_inputs_are_reported_and_the_rest_is_used(
    logs: Path, tmp_path: Path, sim: dict[str, Any]
) -> None:
    mess = tmp_path / "mess"
    shutil.copytree(logs, mess / "a")
    shutil.copytree(logs, mess / "copy")  # the same export twice
    (mess / "empty.log").write_bytes(b"")
    (mess / "binary.bin").write_bytes(bytes(range(256)) * 40)
    (mess / "notes.txt").write_text("hello\nworld\n")
    alb = sorted(logs.rglob("*.log.gz"))[0]
    body = alb.read_bytes()
    (mess / "cut.log.gz").write_bytes(body[: len(body) // 2])
    doc = _diag(str(mess))
    # the copies count once; the cut file adds what it had
    assert doc["requests"]["failed"] >= sim["requests"]["failed"]
    faults = {Path(f["path"]).name: f["fault"] for f in doc["inputs"]["files"] if f["fault"]}
    assert faults["empty.log"] == "empty file"
    assert faults["binary.bin"].startswith("binary file")
    assert faults["notes.txt"].startswith("none of the four log formats")
    assert "truncated" in faults["cut.log.gz"]
    assert sum(1 for v in faults.values() if v.startswith("a copy of")) == len(list(logs.rglob("*.*")))
    code, out = _run("diagnose", str(mess))
    assert code == 0
    assert "empty file" in out
    assert "truncated" in out


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02" * 100, b"just some text\n", gzip.compress(b"x" * 1000)[:20]],
)
def test_no_usable_input_exits_2(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(content)
    code, out = _run("diagnose", str(path))
    assert code == 2
    assert "no usable input" in out
    assert str(path) in out


def test_wrong_source_forced_is_counted_bad(logs: Path) -> None:
    code, out = _run(
        "diagnose", str(logs / "kube-apiserver-audit.log"), "--format", "alb", "--output", "json"
    )
    assert code == 2
    assert "not an ALB access log line" in out


def test_usage_errors(tmp_path: Path, logs: Path) -> None:
    assert _run("diagnose", str(tmp_path / "nope"))[0] == 2
    code, out = _run("diagnose", str(logs), "--since", "yesterday")
    assert code == 2
    assert "--since" in out
    code, out = _run("diagnose", str(logs), "--since", "2026-03-04T10:15:10")
    assert code == 2  # no zone: ambiguous
    code, out = _run(
        "diagnose", str(logs), "--since", "2026-03-05T00:00:00Z", "--until", "2026-03-04T00:00:00Z"
    )
    assert code == 2
    code, out = _run("diagnose", str(logs), "--db", str(tmp_path))
    assert code == 2
    precious = tmp_path / "access.log"
    precious.write_text("not a database\n")
    code, out = _run("diagnose", str(logs), "--db", str(precious))
    assert code == 2
    assert "not a DuckDB database" in out
    assert precious.read_text() == "not a database\n"


def test_the_same_events_in_two_exports_count_once(logs: Path, tmp_path: Path) -> None:
    """The audit log once raw and once as a CloudWatch export, the controller log once plain and once
    with kubectl --timestamps prefixes: different files, the same events."""
    both = tmp_path / "both"
    shutil.copytree(logs, both)
    raw = (logs / "kube-apiserver-audit.log").read_text().splitlines()
    wrapped = [
        json.dumps({"@timestamp": "x", "@logStream": "kube-apiserver-audit-1", "@message": line})
        for line in raw
    ]
    (both / "export.json").write_text("\n".join(wrapped) + "\n")
    ctl = (logs / "aws-load-balancer-controller.log").read_text().splitlines()
    (both / "lbc-timestamps.log").write_text(
        "\n".join("2026-03-04T10:15:00.000000000Z " + c for c in ctl) + "\n"
    )
    single = _diag(str(logs))
    doc = _diag(str(both))
    assert doc["causes"] == single["causes"]
    assert doc["lags"] == single["lags"]
    dropped = doc["inputs"]["duplicates_dropped"]
    assert dropped["audit_facts"] > 0
    assert dropped["lbc_events"] > 0


def test_a_10_mb_line_in_any_source(logs: Path, tmp_path: Path, sim: dict[str, Any]) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(logs, mixed)
    alb = sorted(mixed.rglob("*.log.gz"))[0]
    lines = gzip.decompress(alb.read_bytes()).decode().splitlines()
    lines.insert(5, "http " + "x" * (10 << 20))
    alb.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    audit = mixed / "kube-apiserver-audit.log"
    audit.write_text(audit.read_text() + '{"kind":"Event","x":"' + "y" * (10 << 20) + '"}\n')
    doc = _diag(str(mixed))
    assert doc["requests"]["failed"] == sim["requests"]["failed"]
    bad = {Path(f["path"]).name: f["bad"] for f in doc["inputs"]["files"] if f["bad"]}
    assert bad[alb.name] == {"line longer than 1 MiB": 1}
    assert bad["kube-apiserver-audit.log"] == {"line longer than 1 MiB": 1}
