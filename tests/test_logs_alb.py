"""ALB access log parsing: every variation AWS documents or real files show, through both readers (the
streaming Python parser and DuckDB's bulk reader in the store), and bad lines counted, never raised."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollsafe.diagnose.store import Store
from rollsafe.logs.parsers import alb
from rollsafe.logs.parsers.common import FileReport

DATA = Path(__file__).parent / "data" / "logs"
LINES = (DATA / "alb-variations.log").read_text(encoding="utf-8").splitlines()


def _parse(i: int) -> alb.AlbRecord:
    rec = alb.parse_line(LINES[i])
    assert isinstance(rec, alb.AlbRecord), rec
    return rec


def test_fields_of_a_plain_line() -> None:
    r = _parse(0)
    assert r.type == "http"
    assert r.time == datetime(2026, 3, 4, 10, 15, 2, 118201, tzinfo=UTC)
    assert r.created == datetime(2026, 3, 4, 10, 15, 2, 105000, tzinfo=UTC)
    assert (r.client_ip, r.client_port) == ("203.0.113.24", 51512)
    assert (r.target_ip, r.target_port) == ("10.0.37.14", 8080)
    assert (r.request_s, r.target_s, r.response_s) == (0.001, 0.012, 0.0)
    assert (r.elb_status, r.target_status) == (200, 200)
    assert r.user_agent == "Mozilla/5.0 (X11; Linux x86_64)"
    assert r.target_group_arn is not None
    assert r.target_group_arn.endswith("/1a2b3c4d5e6f7a8b")
    assert r.conn_trace_id is None  # 29 fields: before conn_trace_id existed


@pytest.mark.parametrize(
    ("i", "conn"),
    [(1, "TID_0a1b2c3d4e5f60718293a4b5c6d7e8f9"), (2, "TID_5e5e5e5e6f6f6f6f7a7a7a7a8b8b8b8b"), (3, "TID_aa")],
)
def test_30_33_and_more_fields(i: int, conn: str) -> None:
    assert _parse(i).conn_trace_id == conn


@pytest.mark.parametrize(("i", "kind"), [(2, "https"), (4, "h2"), (5, "grpcs"), (6, "ws"), (7, "wss")])
def test_request_types(i: int, kind: str) -> None:
    assert _parse(i).type == kind


def test_dash_user_agent_ipv6_client_and_malformed_request() -> None:
    assert _parse(8).user_agent == "-"
    r = _parse(9)
    assert (r.client_ip, r.client_port) == ("2001:db8::1c", 40022)
    bad = _parse(10)
    assert bad.request == "- - - "
    assert bad.target_ip is None
    assert bad.elb_status == 400


def test_lb_generated_and_app_generated_5xx_are_told_apart() -> None:
    refused = _parse(11)
    assert (refused.elb_status, refused.target_status, refused.request_s) == (502, None, -1.0)
    no_target = _parse(12)
    assert (no_target.elb_status, no_target.target_ip) == (503, None)
    app = _parse(13)
    assert (app.elb_status, app.target_status) == (502, 502)


def test_a_quote_inside_the_user_agent() -> None:
    r = _parse(14)
    assert r.user_agent == 'Mozilla "evil" agent'
    assert r.target_group_arn is not None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "not an ALB access log line"),
        (" ".join(LINES[0].split(" ")[:20]), "fewer than 29 fields"),
        (LINES[0].replace("2026-03-04T10:15:02.118201Z", "yesterday-at-noon"), "bad time field"),
        (LINES[0].replace(" 200 200 ", " 2x0 200 "), "bad elb_status_code"),
        (LINES[0].replace("0.001 0.012", "fast 0.012"), "bad processing time"),
        ("ftp " + LINES[0][5:], "unknown request type"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    out = alb.parse_line(line)
    assert isinstance(out, str)
    assert out.startswith(reason)


def _write_gz(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


def test_gzip_file_and_bad_lines_counted_per_reason(tmp_path: Path) -> None:
    lines = [*LINES[:5], "garbage", "more garbage", LINES[5]]
    path = _write_gz(tmp_path / "x.log.gz", lines)
    report = FileReport(str(path))
    got = list(alb.parse_file(path, report))
    assert [n for n, _ in got] == [1, 2, 3, 4, 5, 8]
    assert report.bad == {"not an ALB access log line": 2}
    assert report.examples["not an ALB access log line"] == [(6, "garbage"), (7, "more garbage")]
    assert report.lines == 8


def test_truncated_gzip_keeps_the_lines_before_the_fault(tmp_path: Path) -> None:
    body = gzip.compress(("\n".join(LINES * 200) + "\n").encode(), mtime=0)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(body[: len(body) // 2])
    report = FileReport(str(path))
    got = list(alb.parse_file(path, report))
    assert 0 < len(got) < len(LINES) * 200
    assert report.fault is not None
    assert "truncated" in report.fault


def test_a_10_mb_line_is_counted_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text(LINES[0] + "\n" + "x" * (10 << 20) + "\n" + LINES[1] + "\n", encoding="utf-8")
    report = FileReport(str(path))
    got = list(alb.parse_file(path, report))
    assert [n for n, _ in got] == [1, 3]
    assert report.bad == {"line longer than 1 MiB": 1}


@pytest.mark.parametrize("full", [True, False])
def test_bulk_and_streaming_readers_agree(tmp_path: Path, full: bool) -> None:
    """DuckDB's reader takes the clean file; the file with a stray quote goes line by line; both give the
    same rows as the Python parser (without --db the bulk reader takes only the columns the diagnosis
    reads)."""
    clean = _write_gz(tmp_path / "clean.log.gz", LINES[:14])
    quoted = _write_gz(tmp_path / "quoted.log.gz", LINES)
    store = Store(None, full=full)
    try:
        report = store.load([clean, quoted], force="alb")
        by_path = {Path(f.path).name: f for f in report.files}
        assert by_path["clean.log.gz"].records == 14
        assert not by_path["clean.log.gz"].notes  # the bulk reader took it
        assert by_path["quoted.log.gz"].records == 15
        assert by_path["quoted.log.gz"].notes  # read line by line
        rows = store.con.execute(
            "SELECT file, type, time, client_ip, client_port, target_ip, target_port, request_s, elb_status, "
            "target_status, user_agent, conn_trace_id FROM alb_requests ORDER BY file, time, conn_trace_id"
        ).fetchall()
    finally:
        store.close()
    bulk = sorted((r[1:] for r in rows if r[0].endswith("clean.log.gz")), key=str)
    python = sorted((r[1:] for r in rows if r[0].endswith("quoted.log.gz")), key=str)
    assert len(bulk) == 14
    python = [r for r in python if r[9] != 'Mozilla "evil" agent']
    if full:
        assert python == bulk
    else:
        core = (0, 1, 4, 5, 6, 7, 8)  # type, time, target, request_s, statuses
        got_python = sorted((tuple(r[i] for i in core) for r in python), key=str)
        got_bulk = sorted((tuple(r[i] for i in core) for r in bulk), key=str)
        assert got_python == got_bulk
        assert {(r[2], r[3], r[9], r[10]) for r in bulk} == {(None, None, None, None)}
