"""AWS Load Balancer Controller log parsing: both ts encodings, both target shapes (ip and instance),
past-tense lines with and without targets, kubectl --timestamps prefixes, other messages and non-JSON
lines, JSON with unexpected types, timestamps in other zones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollsafe.logs.parsers import controller
from rollsafe.logs.parsers.common import FileReport

DATA = Path(__file__).parent / "data" / "logs" / "controller-variations.log"


def _all() -> tuple[list[tuple[int, controller.LbcRecord]], FileReport]:
    report = FileReport(str(DATA))
    return list(controller.parse_file(DATA, report)), report


def test_the_membership_lines_and_only_them() -> None:
    got, report = _all()
    assert [n for n, _ in got] == [1, 2, 3, 4, 5, 12]
    assert [r.phase for _, r in got] == [
        "deregistering",
        "deregistered",
        "registering",
        "registered",
        "registering",
        "deregistering",
    ]
    assert report.skipped == 5  # reconcile chatter and another controller's line
    assert report.bad == {"not JSON (banner, panic or other output)": 1}


def test_epoch_and_rfc3339_ts() -> None:
    got, _ = _all()
    assert got[0][1].time == datetime.fromtimestamp(1772619302.4410212, UTC)
    assert got[2][1].time == datetime(2026, 3, 4, 10, 15, 9, tzinfo=UTC)


def test_both_sdk_shapes_ip_and_instance_targets() -> None:
    got, _ = _all()
    old = got[0][1].targets
    assert old == (controller.Target("10.0.52.9", 8080, "eu-west-1b"),)
    new = got[2][1].targets
    assert new == (controller.Target("10.0.61.30", 8080, None),)
    inst = got[4][1].targets
    assert inst == (controller.Target("i-0abc123def4567890", 31234, "eu-west-1a"),)


def test_past_tense_without_targets_and_kubectl_prefix() -> None:
    got, _ = _all()
    assert got[1][1].targets is None
    # the kubectl --timestamps prefix is dropped; the line's own ts counts
    assert got[4][1].time == datetime(2026, 3, 4, 10, 15, 10, 120000, tzinfo=UTC)
    assert not got[4][1].key.startswith("2026")


def test_other_zones_are_converted_and_counted() -> None:
    got, report = _all()
    assert got[5][1].time == datetime(2026, 3, 4, 10, 15, 12, tzinfo=UTC)
    assert report.converted_zones == 1
    assert any("non-UTC" in n for n in report.to_dict()["notes"])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '{"level":"info","ts":1.5,"msg":"registering targets","targets":"10.0.0.1"}',
            "targets is not a list",
        ),
        (
            '{"level":"info","ts":1.5,"msg":"registering targets","targets":[{"Id":5}]}',
            "a target has no string Id",
        ),
        (
            '{"level":"info","ts":1.5,"msg":"registering targets","targets":[{"Id":"10.0.0.1","Port":"80"}]}',
            "a target's Port is not an integer",
        ),
        ('{"level":"info","ts":[1],"msg":"registering targets"}', "bad ts"),
        ('{"level":"info","ts":"2026-03-04T10:15:09","msg":"registering targets"}', "bad ts"),
        ('{"level":"info","ts":1.5,"msg":"registering targets","arn":7}', "arn is not a string"),
        ("[1, 2]", "not JSON (banner, panic or other output)"),
        ('{"level":"info"', "not valid JSON"),
        ('{"no":"msg"}', "JSON without msg and ts: not a controller line"),
    ],
)
def test_unexpected_types_are_bad_lines(line: str, reason: str) -> None:
    assert controller.parse_line(line) == reason
