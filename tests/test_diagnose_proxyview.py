"""Instance targets: the split of refusals between causes (attribute.apportion) and which requests
could have opened a connection through kube-proxy (proxyview.open_attempts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollsafe.diagnose.attribute import apportion
from rollsafe.diagnose.proxyview import NEW, OLD, SLOTS, open_attempts

T0 = datetime(2026, 3, 4, 10, 15, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_apportion_gives_each_cause_its_expected_count_to_the_likeliest_requests() -> None:
    shares = [{NEW: p, OLD: 1 - p} for p in (0.9, 0.6, 0.55, 0.3, 0.2, 0.1)]
    # expected: new 2.65, old 3.35 -> largest remainder: new 3 (0.65 > 0.35), old 3
    out = apportion(shares)
    assert out.count(NEW) == 3
    assert out.count(OLD) == 3
    assert out[:3] == [NEW, NEW, NEW]
    assert apportion(shares) == out  # deterministic


def test_apportion_rounds_by_largest_remainder_not_by_each_request() -> None:
    # every request leans old (0.4 new), yet 10 of them make 4 new ones expected
    out = apportion([{NEW: 0.4, OLD: 0.6}] * 10)
    assert out.count(NEW) == 4
    assert out.count(OLD) == 6


def test_apportion_of_nothing_is_nothing() -> None:
    assert apportion([]) == []


def test_the_retry_after_a_refusal_is_weighed_geometrically_on_its_node_only() -> None:
    reqs = [(at(0.0), "lb-a", "10.0.1.1", True)]
    reqs += [(at(0.01 * k), "lb-a", "10.0.1.1", False) for k in range(1, 6)]
    reqs += [(at(0.015), "lb-a", "10.0.2.2", False)]
    got = open_attempts(sorted(reqs), [])
    n = SLOTS  # one LB node in the logs
    mine = [a for a in got if a.node == "10.0.1.1"]
    assert mine[0].refused
    assert mine[0].weight == 0
    for k, a in enumerate(mine[1:], start=1):
        assert a.weight == pytest.approx((1 - 1 / n) ** (k - 1) / n)
    assert [a.weight for a in got if a.node == "10.0.2.2"] == [0.0]


def test_a_stopped_pods_connections_reopen_on_the_next_requests() -> None:
    reqs = [(at(0.1 * k), lb, "10.0.1.1", False) for k in range(4) for lb in ("lb-a", "lb-b")]
    got = open_attempts(sorted(reqs), [(at(0.15), 8)])
    n = 2 * SLOTS  # two LB nodes in the logs
    before = [a.weight for a in got if a.at < at(0.15)]
    after = [a.weight for a in got if a.at >= at(0.15)]
    assert before == [0.0] * len(before)
    assert after == pytest.approx([(1 - 1 / n) ** k / 8 for k in range(len(after))])
