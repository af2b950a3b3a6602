"""A probability by default, and what an answer rests on: the Wilson interval, the rule that picks the
number of runs, the executor's chunks, the CI gates, compare's per-column overrides, the assumptions list
and the sensitivity table (issue 6, items 5 and 6)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from rollsafe.cli import main
from rollsafe.model.assumptions import ASSUMPTIONS, assumed_settings, lookup, with_value
from rollsafe.model.dist import parse_dist
from rollsafe.model.scenario import Scenario
from rollsafe.report.describe import describe
from rollsafe.runs import LocalPool, RunStats, stats_of
from rollsafe.runs import sensitivity as sens_module
from rollsafe.runs.executor import MAX_CHUNK, Progress, chunks, run_chunk
from rollsafe.runs.montecarlo import MAX_RUNS, STAGE, cap_for, default_runs, reported_seed, wilson
from rollsafe.scenarios import load_builtin, load_text
from rollsafe.sim.simulate import simulate


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=env)
    return r.exit_code, r.stdout, r.stderr


def _json(*args: str) -> dict[str, Any]:
    code, out, err = _cli(*args, "--output", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


# -- the interval ---------------------------------------------------------------------------------
def test_wilson_interval_matches_the_formula_and_its_edges() -> None:
    # 47 of 100: the textbook Wilson score interval, worked by hand, is 0.3751-0.5671
    lo, hi = wilson(47, 100)
    assert lo == pytest.approx(0.3751, abs=2e-4)
    assert hi == pytest.approx(0.5671, abs=2e-4)
    # no failure in n runs: the upper bound is z^2 / (n + z^2) (README: about 3.84/(n+3.84))
    for n in (10, 40, 400):
        assert wilson(0, n)[0] == 0.0
        assert wilson(0, n)[1] == pytest.approx(3.8415 / (n + 3.8415), rel=1e-3)
        assert wilson(n, n)[1] == 1.0
    assert wilson(400, 400)[0] > wilson(40, 40)[0]  # more runs, narrower


# -- the rule for the number of runs ---------------------------------------------------------------
class FakeExecutor:
    """Runs nothing: a seed fails when fails(seed) says so. Checks the rule alone, and that the Monte
    Carlo goes only through the executor interface."""

    def __init__(self, fails: Any) -> None:
        self.fails = fails
        self.calls: list[list[int]] = []

    def run_stats(
        self,
        scenario: Scenario,  # noqa: ARG002 - the interface's
        seeds: Sequence[int],
        progress: Progress | None = None,  # noqa: ARG002 - the interface's
    ) -> list[RunStats]:
        self.calls.append(list(seeds))
        return [
            RunStats(
                s,
                100,
                int(self.fails(s)),
                (100 - int(self.fails(s)), 0, int(self.fails(s)), 0, 0, 0, 0, 0, 0),
                30.0,
                9.0,
                20.0,
                5,
                10,
                10,
                0.0,
                3.0,
                False,
                int(self.fails(s)),
            )
            for s in seeds
        ]


def test_default_runs_stop_early_when_the_answer_is_clear() -> None:
    sc = load_builtin("eks-alb-defaults")
    always = FakeExecutor(lambda _s: True)
    mc = default_runs(sc, 5, executor=always)
    assert len(mc.stats) == STAGE == 40
    assert always.calls == [list(range(5, 45))]
    assert mc.rule == "stopped once the 95 % interval was 9 points wide"
    never = FakeExecutor(lambda _s: False)
    assert len(default_runs(sc, 5, executor=never).stats) == STAGE


def test_default_runs_go_to_the_cap_when_the_answer_is_uncertain() -> None:
    sc = load_builtin("eks-alb-defaults")
    half = FakeExecutor(lambda s: s % 2 == 0)
    mc = default_runs(sc, 1, executor=half)
    assert [s.seed for s in mc.stats] == list(range(1, 1 + MAX_RUNS))  # stages of consecutive seeds
    assert "most this scenario's size allows" in mc.rule
    again = default_runs(sc, 1, executor=FakeExecutor(lambda s: s % 2 == 0))
    assert again == mc  # deterministic: no wall time in the rule


def test_the_cap_falls_with_the_scenarios_size() -> None:
    small = load_builtin("eks-alb-defaults")
    big = load_builtin(
        "eks-alb-defaults", ["workload.replicas=1000", "traffic.rps=20000", "traffic.durationSeconds=600"]
    )
    assert cap_for(small, 40.0) == MAX_RUNS
    assert 10 <= cap_for(big) < cap_for(small, 40.0)


def test_reported_run_is_a_typical_failing_run() -> None:
    def st(seed: int, failed: int) -> RunStats:
        return RunStats(
            seed,
            10,
            failed,
            (10 - failed, failed, 0, 0, 0, 0, 0, 0, 0),
            1.0,
            None,
            None,
            0,
            0,
            0,
            0.0,
            None,
            False,
            failed,
        )

    stats = [st(1, 0), st(2, 50), st(3, 5), st(4, 0), st(5, 7), st(6, 900)]
    assert reported_seed(stats) == 5  # failing counts 5, 7, 50, 900: the lower median is 7
    assert reported_seed([st(1, 0), st(2, 0)]) == 1


# -- the executor -------------------------------------------------------------------------------
def test_local_pool_returns_what_one_process_computes_in_seed_order() -> None:
    sc = load_builtin("eks-alb-prestop", ["traffic.rps=20"])
    seeds = list(range(3, 11))
    pooled = LocalPool(workers=2).run_stats(sc, seeds)
    assert pooled == run_chunk(sc, seeds)
    assert [s.seed for s in pooled] == seeds
    one = simulate(sc, 4)
    assert stats_of(one) == pooled[1]
    assert one.failed == pooled[1].failed
    assert pooled[1].worst_window_failed == one.worst_window()[2]


def test_seeds_go_in_chunks_that_cover_them_once() -> None:
    seeds = list(range(1, 201))
    parts = chunks(seeds, 2)
    assert [s for part in parts for s in part] == seeds
    assert 1 < len(parts) <= 200 // 1
    assert max(len(p) for p in parts) <= 25


def test_chunks_shrink_toward_the_end_so_the_workers_finish_together() -> None:
    seeds = list(range(1000))
    sizes = [len(p) for p in chunks(seeds, 2)]
    assert sizes[0] == MAX_CHUNK  # long first chunks: the queue costs little next to the runs
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-2:] == [1, 1]  # short last ones: no worker waits out another's long last chunk
    assert sum(sizes) == 1000
    assert [len(p) for p in chunks(seeds[:3], 2)] == [1, 1, 1]


def test_the_pool_is_as_wide_as_the_cpus_the_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")  # macOS, Windows: os.cpu_count() is used
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3})
    assert LocalPool().workers == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2})
    assert LocalPool().workers == 3
    assert LocalPool(workers=2).workers == 2


# -- the CLI: default Monte Carlo, headline, gates -------------------------------------------------
def test_default_simulate_states_a_probability_and_an_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROLLSAFE_RUNS")
    doc = _json("simulate", "--builtin", "eks-alb-defaults")
    prob = doc["probability"]
    assert doc["runs"] == prob["runs"] == 40
    assert prob["p_any_failure"] == 1.0
    assert prob["interval"] == "wilson"
    assert prob["ci95"] == [pytest.approx(wilson(40, 40)[0], abs=1e-6), 1.0]
    wf = doc["when_failing"]
    assert wf["runs"] == 40
    assert wf["failed"]["p95"] >= wf["failed"]["p50"] > 0
    lags = doc["stop_routing_lag"]
    assert lags["max"] == doc["load_balancer"]["stop_routing_lag_s"]
    fix = doc["fixes"]["stopped-listening"]
    assert fix["setting"] == "workload.preStopSleepSeconds"
    assert fix["value"] == math.ceil(lags["max"])  # 99 % of 40 runs, by the higher method, is the max
    assert "loadBalancer.deregisterPropagationSeconds" in fix["text"]
    code, text, _ = _cli("simulate", "--builtin", "eks-alb-defaults")
    assert code == 0
    assert "drops requests in 100 % of rollouts (95 % CI 91.2–100 %, Wilson, 40 runs); when it does" in text
    assert f"a preStop of at least {fix['value']:g} s" in text  # the table wraps the rest
    assert "Rests on these assumptions" in text
    lag = load_builtin("eks-alb-defaults").load_balancer.deregister_propagation_seconds
    assert f"loadBalancer.deregisterPropagationSeconds: {describe(lag)}" in text


def test_runs_1_is_the_single_run_report() -> None:
    code, text, _ = _cli("simulate", "--builtin", "eks-alb-defaults", "--runs", "1")
    assert code == 0
    assert "drops requests in" not in text
    assert "requests failed" in text
    assert "Rests on these assumptions" in text


def test_p_gate_uses_the_upper_bound_of_the_interval() -> None:
    args = ["simulate", "--builtin", "eks-alb-zero-downtime", "--runs", "20"]
    doc = _json(*args)
    assert doc["probability"]["failing_runs"] == 0  # so the point estimate is 0 and passes any P
    upper = doc["probability"]["ci95"][1]
    assert upper == pytest.approx(3.8415 / 23.8415, rel=1e-3)
    assert _cli(*args, "--max-p-any-failure", f"{upper + 0.01:.3f}")[0] == 0
    code, _, err = _cli(*args, "--max-p-any-failure", "0.1")
    assert code == 1
    assert "above --max-p-any-failure 0.1 (more runs narrow the interval)" in err


def test_p95_gate() -> None:
    args = ["simulate", "--builtin", "eks-alb-prestop", "--runs", "5"]
    p95 = _json(*args)["runs_summary"]["failed"]["p95"]
    assert _cli(*args, "--max-failures-p95", str(p95))[0] == 0
    code, _, err = _cli(*args, "--max-failures-p95", str(p95 - 1))
    assert code == 1
    assert "exceeds --max-failures-p95" in err


# -- compare --------------------------------------------------------------------------------------
def test_compare_takes_overrides_per_column_and_tells_columns_apart() -> None:
    base = ["compare", "--builtin", "eks-alb-prestop", "--builtin", "eks-alb-prestop", "--runs", "4"]
    code, text, err = _cli(
        *base,
        "--set-col",
        "2",
        "workload.preStopSleepSeconds=20",
        "--set-col",
        "2",
        "workload.terminationGracePeriodSeconds=40",
    )
    assert code == 0, err
    assert "eks-alb-prestop #2" in text
    assert "workload.preStopSleepSeconds=20" in text
    assert "P(any failure)" in text
    docs = json.loads(_cli(*base, "--set-col", "2", "workload.preStopSleepSeconds=20", "--output", "json")[1])
    one, two = docs["scenarios"]
    assert one["overrides"] == []
    assert two["overrides"] == ["workload.preStopSleepSeconds=20"]
    assert two["settings"]["workload"]["preStopSleepSeconds"] == 20
    assert one["settings"]["workload"]["preStopSleepSeconds"] != 20
    code, _, err = _cli(*base, "--set-col", "3", "workload.replicas=2")
    assert code == 2
    assert "only 2 columns" in err
    code, _, err = _cli(*base, "--set-col", "1", "workload.replicas=abc")
    assert code == 2
    assert "workload.replicas" in err


# -- assumptions and sensitivity ------------------------------------------------------------------
def test_assumptions_say_where_each_value_came_from() -> None:
    text = "name: mine\ncluster:\n  apiLatencySeconds: 0.02\n"
    sc = load_text(text, source="mine.yaml", overrides=["cluster.podTeardownSeconds=1"])
    rows = {
        a["key"]: a for a in assumed_settings(sc, overrides=["cluster.podTeardownSeconds=1"], builtin=False)
    }
    assert rows["cluster.apiLatencySeconds"]["origin"] == "scenario file"
    assert rows["cluster.podTeardownSeconds"]["origin"] == "--set"
    assert rows["loadBalancer.deregisterPropagationSeconds"]["origin"] == "rollsafe default"
    for a in ASSUMPTIONS:  # every range is valid for the scenario model it names
        exists, _, _default = lookup(sc, a.key)
        if exists:
            for value in (a.low, a.high):
                assert lookup(with_value(sc, a.key, value), a.key)[2] == (
                    parse_dist(value).to_spec() if isinstance(value, dict | int | float) else value
                )


def test_the_assumptions_list_leaves_out_what_the_user_set() -> None:
    doc = _json(
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--runs",
        "1",
        "--set",
        "loadBalancer.deregisterPropagationSeconds=2",
    )
    keys = [a["key"] for a in doc["assumed_settings"]]
    assert "loadBalancer.deregisterPropagationSeconds" not in keys
    assert "cluster.vanishedPodIp" in keys


def test_sensitivity_table_in_text_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sens_module, "SENSITIVITY_RUNS", 2)
    args = [
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--runs",
        "2",
        "--sensitivity",
        "--set",
        "cluster.vanishedPodIp=timeout",
    ]
    doc = _json(*args)
    s = doc["sensitivity"]
    assert s["runs"] == 2
    assert s["seeds"] == [1, 2]
    keys = [r["key"] for r in s["rows"]]
    assert "cluster.vanishedPodIp" not in keys  # the user set it
    assert "loadBalancer.deregisterPropagationSeconds" in keys
    changes = [r["failed_change"] for r in s["rows"]]
    assert changes == sorted(changes, reverse=True)
    assert changes[0] > 0
    # a row is what a plain run with that value gives on the same seeds
    top = s["rows"][0]
    manual = _json(
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--runs",
        "2",
        "--set",
        "cluster.vanishedPodIp=timeout",
        "--set",
        f"{top['key']}={json.dumps(top['high']['value'])}",
    )
    assert manual["requests"]["failed"] == top["high"]["failed_mean"]
    code, text, _ = _cli(*args)
    assert code == 0
    assert "Sensitivity: each assumption" in text
    assert top["key"] in text


def test_describe_reads_as_users_read_distributions() -> None:
    assert describe({"lognormal": {"median": 3, "p99": 35}}) == "lognormal, median 3 s, p99 35 s"
    assert describe({"uniform": [1, 5]}) == "uniform 1–5 s"
    assert describe({"uniform": [0.01, 0.06]}) == "uniform 10–60 ms"
    assert describe(0.005) == "5 ms"
    assert describe("reset") == "reset"
