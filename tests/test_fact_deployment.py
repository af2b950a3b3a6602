"""Fact table: the Deployment controller's arithmetic (kubernetes-rollout-mechanics.md §1.1, §1.3)."""

from __future__ import annotations

import pytest

from rollsafe.control.deployment import (
    RsView,
    new_rs_new_replicas,
    plan_old_scale_down,
    resolve_fenceposts,
)


# ResolveFenceposts: surge rounds up, unavailable rounds down, both zero -> unavailable 1.
@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (1, "25%", "25%", (1, 0)),
        (3, "25%", "25%", (1, 0)),
        (10, "25%", "25%", (3, 2)),
        (100, "25%", "25%", (25, 25)),
        (1, 0, 1, (0, 1)),
        (3, 0, 1, (0, 1)),
        (10, 0, 1, (0, 1)),
        (100, 0, 1, (0, 1)),
        (1, 1, 0, (1, 0)),
        (3, 1, 0, (1, 0)),
        (10, 1, 0, (1, 0)),
        (100, 1, 0, (1, 0)),
        # both resolve to zero: unavailable becomes 1 "on the theory that surge might not work"
        (1, "0%", "25%", (0, 1)),
        (3, 0, 0, (0, 1)),
        # the fact sheet's worked table
        (2, "25%", "25%", (1, 0)),
        (4, "25%", "25%", (1, 1)),
        (5, "25%", "25%", (2, 1)),
        # maxUnavailable is capped at replicas
        (3, 0, 5, (0, 3)),
    ],
)
def test_fenceposts(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected


def test_new_rs_starts_at_the_surge_amount() -> None:
    # 10 replicas, surge 3: "newRS is created with 3 replicas" (rolling.go comment)
    assert new_rs_new_replicas(replicas=10, max_surge=3, all_spec=10, new_spec=0) == 3


def test_no_scale_up_at_the_surge_ceiling() -> None:
    assert new_rs_new_replicas(replicas=10, max_surge=3, all_spec=13, new_spec=3) == 3


def test_rolling_go_worked_example() -> None:
    # "newRS is created with 3 replicas, oldRS is scaled down to 8, and newRS is scaled up to 5"
    new = RsView(name="new", created_s=1.0, spec=3, available=0)
    old = RsView(name="old", created_s=0.0, spec=10, available=10)
    assert plan_old_scale_down(replicas=10, max_unavailable=2, new=new, olds=[old]) == {"old": 8}
    assert new_rs_new_replicas(replicas=10, max_surge=3, all_spec=11, new_spec=3) == 5


def test_no_scale_down_while_new_pods_are_unavailable() -> None:
    new = RsView(name="new", created_s=1.0, spec=5, available=0)
    old = RsView(name="old", created_s=0.0, spec=8, available=8)
    assert plan_old_scale_down(replicas=10, max_unavailable=2, new=new, olds=[old]) == {}


def test_unhealthy_old_replicas_are_cleaned_first_oldest_first() -> None:
    # cleanupUnhealthyReplicas removes only the unavailable surplus, oldest RS first
    new = RsView(name="new", created_s=2.0, spec=3, available=0)
    older = RsView(name="a", created_s=0.0, spec=4, available=2)
    newer = RsView(name="b", created_s=1.0, spec=6, available=6)
    plan = plan_old_scale_down(replicas=10, max_unavailable=2, new=new, olds=[newer, older])
    # maxScaledDown = 13 - 8 - 3 = 2: both go to cleaning "a"'s 2 unavailable replicas
    assert plan == {"a": 2}


def test_scale_down_stops_at_min_available() -> None:
    new = RsView(name="new", created_s=1.0, spec=5, available=5)
    old = RsView(name="old", created_s=0.0, spec=8, available=8)
    # available 13, minAvailable 8 -> scale old down by 5
    assert plan_old_scale_down(replicas=10, max_unavailable=2, new=new, olds=[old]) == {"old": 3}
