"""The one cause-precedence rule (model/outcome.py): first fact that holds wins, scalars and arrays alike."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rollsafe.model.causes import CAUSE_IDS, CODE, SUCCESS
from rollsafe.model.outcome import FACTS, Precedence, accepted_fate

IP = Precedence.for_setup(target_type="ip", vanished_pod_ip="timeout")


def _only(name: str) -> tuple[bool, ...]:
    return tuple(f == name for f in FACTS)


@pytest.mark.parametrize(
    ("fact", "cause"),
    [
        ("unrouted", "no-healthy-targets"),
        ("ip_gone", "target-unreachable"),
        ("not_listening_yet", "not-yet-listening"),
        ("closing_idle", "keepalive-race"),
        ("stopped_listening", "stopped-listening"),
        ("idle_race", "keepalive-race"),
        ("killed_first", "in-flight-killed"),
        ("drain_first", "drain-timeout"),
        ("idle_timeout_first", "response-timeout"),
    ],
)
def test_each_fact_alone_gives_its_cause(fact: str, cause: str) -> None:
    assert IP.decide(_only(fact)) == CODE[cause]
    assert IP.cause(_only(fact)) == cause


def test_no_fact_is_success() -> None:
    assert IP.decide((False,) * len(FACTS)) == SUCCESS
    assert IP.cause((False,) * len(FACTS)) is None


def test_the_setup_changes_two_causes_only() -> None:
    inst = Precedence.for_setup(target_type="instance", vanished_pod_ip="reset")
    assert inst.cause(_only("unrouted")) == "stopped-listening"
    assert inst.cause(_only("ip_gone")) == "stopped-listening"
    assert inst.causes[2:] == IP.causes[2:]
    assert set(IP.causes) <= set(CAUSE_IDS)


def test_earlier_facts_win_in_the_documented_order() -> None:
    # every pair: with both facts true, the earlier one in FACTS decides
    for i, j in itertools.combinations(range(len(FACTS)), 2):
        facts = tuple(k in (i, j) for k in range(len(FACTS)))
        assert IP.decide(facts) == IP.codes[i], (FACTS[i], FACTS[j])


def test_arrays_decide_exactly_as_scalars_for_every_combination() -> None:
    combos = list(itertools.product([False, True], repeat=len(FACTS)))
    columns = tuple(np.array([c[k] for c in combos], dtype=bool) for k in range(len(FACTS)))
    vectorized = IP.decide(columns)
    assert vectorized.dtype == np.int64
    assert vectorized.tolist() == [IP.decide(c) for c in combos]


def test_wrong_number_of_facts_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 9 facts"):
        IP.decide((True, False))


@pytest.mark.parametrize(
    ("end", "exit_t", "drain_t", "timeout_t", "expected"),
    [
        (1.0, 5.0, 6.0, 7.0, (False, False, False)),  # completes first
        (5.0, 2.0, 3.0, 4.0, (True, False, False)),  # the process exits first
        (5.0, 3.0, 2.0, 4.0, (False, True, False)),  # the deregistration delay ends first
        (5.0, 3.0, 4.0, 2.0, (False, False, True)),  # the idle timeout fires first
        (5.0, 2.0, 2.0, 2.0, (True, False, False)),  # ties go to the exit
        (5.0, 3.0, 2.0, 2.0, (False, True, False)),  # then to the drain deadline
        (2.0, 2.0, 9.0, 9.0, (False, False, False)),  # exiting as the response completes is no failure
    ],
)
def test_accepted_fate(
    end: float, exit_t: float, drain_t: float, timeout_t: float, expected: tuple[bool, bool, bool]
) -> None:
    assert accepted_fate(end=end, exit_t=exit_t, drain_t=drain_t, timeout_t=timeout_t) == expected
    arrays = accepted_fate(
        end=np.array([end]),
        exit_t=np.array([exit_t]),
        drain_t=np.array([drain_t]),
        timeout_t=np.array([timeout_t]),
    )
    assert tuple(bool(a[0]) for a in arrays) == expected
