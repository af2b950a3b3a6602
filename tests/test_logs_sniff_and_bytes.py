"""Sources recognised by content, whatever the file is called; and arbitrary bytes, plain or gzip,
never raise in any parser, the sniffer or the store: they are counted as bad lines or a faulty file."""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollsafe.diagnose.store import Store
from rollsafe.logs.parsers import alb, audit, cloudtrail, controller
from rollsafe.logs.parsers.common import FileReport
from rollsafe.logs.parsers.sniff import sniff

DATA = Path(__file__).parent / "data" / "logs"
ALB_LINE = (DATA / "alb-variations.log").read_text(encoding="utf-8").splitlines()[1]
CTL_LINE = (DATA / "controller-variations.log").read_text(encoding="utf-8").splitlines()[0]
AUDIT_LINE = json.dumps(
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "delete"}
)
CT_LINE = json.dumps({"eventName": "RegisterTargets", "eventSource": "elasticloadbalancing.amazonaws.com"})


@pytest.mark.parametrize(
    ("content", "source"),
    [
        (ALB_LINE, "alb"),
        (CTL_LINE, "controller"),
        ("2026-03-04T10:15:10.1Z " + CTL_LINE, "controller"),
        (AUDIT_LINE, "audit"),
        (json.dumps({"@timestamp": "x", "@message": json.loads(AUDIT_LINE)}), "audit"),
        (json.dumps({"@timestamp": "x", "@message": AUDIT_LINE}), "audit"),
        (CT_LINE, "cloudtrail"),
        (json.dumps({"Records": [json.loads(CT_LINE)]}), "cloudtrail"),
    ],
)
def test_sources_are_recognised_by_content(content: str, source: str, tmp_path: Path) -> None:
    plain = tmp_path / "misleading-name.csv"
    plain.write_text(f"{content}\n{content}\n", encoding="utf-8")
    assert sniff(plain)[0] == source
    packed = tmp_path / "other.bin"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert sniff(packed)[0] == source


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty file"),
        (b"\n\n  \n", "no lines (only whitespace)"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50, "binary file (NUL bytes), not a log"),
        (b"name,age\nann,3\n", "none of the four log formats in its first lines"),
        (gzip.compress(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(200)))[:300], "damaged"),
    ],
)
def test_what_is_not_a_log_says_why(content: bytes, why: str, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    source, reason = sniff(path)
    assert source is None
    assert reason.startswith(why)


PARSERS = (alb.parse_file, controller.parse_file, cloudtrail.parse_file, audit.parse_file)

_lines = st.lists(
    st.one_of(
        st.sampled_from([ALB_LINE, CTL_LINE, AUDIT_LINE, CT_LINE, '{"Records":', "{", '"', " "]),
        st.text(max_size=80),
    ),
    max_size=8,
).map(lambda xs: "\n".join(xs).encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=2000), _lines), compress=st.booleans(), cut=st.integers(0, 2000))
def test_arbitrary_bytes_never_raise_in_the_parsers(data: bytes, compress: bool, cut: int) -> None:
    blob = gzip.compress(data, mtime=0)[: cut + 10] if compress else data
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x"
        path.write_bytes(blob)
        sniff(path)
        for parse in PARSERS:
            report = FileReport(str(path))
            records = list(parse(path, report))
            assert report.records == len(records)
            assert report.lines >= 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), _lines), compress=st.booleans())
def test_arbitrary_bytes_never_raise_in_the_store(data: bytes, compress: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.log"
        path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        for force in (None, "alb"):
            store = Store(None)
            try:
                report = store.load([path], force=force)
            finally:
                store.close()
            assert len(report.files) == 1
