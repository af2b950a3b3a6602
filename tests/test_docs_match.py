"""README, --help and docs/scenario.md say what the code does: the JSON keys (``notes`` among them), how
each field aggregates over several runs, the exit codes, the limits, ``-`` for standard input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rollsafe.cli import EXIT_CODES, main
from rollsafe.model.dist import MAX_SECONDS
from rollsafe.sim.budget import CLOSED_FACTOR, LOR_FACTOR, MAX_REQUESTS, MAX_WORK
from rollsafe.yamlload import MAX_BYTES, MAX_DEPTH, MAX_NODES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCENARIO_MD = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")


def _json(*args: str) -> dict[str, Any]:
    r = CliRunner().invoke(main, ["simulate", *args, "--output", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert isinstance(doc, dict)
    return doc


def _schema_block() -> str:
    start = README.index('{"scenario": str')
    return README[start : README.index("```", start)]


def test_every_json_key_is_in_the_readme_schema() -> None:
    schema = _schema_block()
    doc = _json("--builtin", "eks-alb-prestop", "--runs", "2")
    assert "notes" in doc
    assert "runs_summary" in doc
    for key, value in doc.items():
        assert f'"{key}"' in schema, key
        if isinstance(value, dict) and key not in {
            "status_counts",
            "causes",
            "cause_help",
            "fixes",
            "settings",
        }:
            for sub in value:
                assert f'"{sub}"' in schema, f"{key}.{sub}"


def test_many_runs_aggregate_as_the_readme_says() -> None:
    seeds = (3, 4, 5)
    one = [_json("--builtin", "eks-alb-defaults", "--seed", str(s)) for s in seeds]
    many = _json("--builtin", "eks-alb-defaults", "--seed", "3", "--runs", "3")

    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 6)

    def approx(x: float) -> Any:
        # a single run's seconds are already rounded to 6 decimals; the many-run mean rounds the mean
        return pytest.approx(x, abs=2e-6)

    schema = _schema_block()
    # "mean per run"
    for section, key in [
        ("requests", "failed"),
        ("requests", "total"),
        ("rollout", "scaling_steps"),
        ("load_balancer", "registrations"),
        ("load_balancer", "no_healthy_target_s"),
    ]:
        assert many[section][key] == approx(mean([d[section][key] for d in one])), (section, key)
    assert many["causes"] == {c: mean([d["causes"][c] for d in one]) for c in one[0]["causes"]}
    assert many["simulated_s"] == approx(mean([d["simulated_s"] for d in one]))
    # "mean over the runs that completed / settled", "count of runs"
    assert many["rollout"]["duration_s"] == approx(mean([d["rollout"]["duration_s"] for d in one]))
    assert many["rollout"]["completed_runs"] == 3
    assert many["load_balancer"]["settled_s"] == approx(mean([d["load_balancer"]["settled_s"] for d in one]))
    # "max over runs"
    assert "max over runs" in schema
    lags = [d["load_balancer"]["stop_routing_lag_s"] for d in one]
    assert many["load_balancer"]["stop_routing_lag_s"] == max(lags)
    assert len(set(lags)) > 1  # so max is not mean
    # "the reported run's": a typical failing run, named by reported_run.seed and worst_window.run_seed
    reported = many["reported_run"]["seed"]
    single = one[seeds.index(reported)]
    assert many["worst_window"] == single["worst_window"]
    assert many["worst_window"]["run_seed"] == reported
    assert many["milestones"] == single["milestones"]
    failing = sorted(d["requests"]["failed"] for d in one if d["requests"]["failed"])
    assert many["reported_run"]["failed"] == failing[(len(failing) - 1) // 2]
    assert many["runs_summary"]["seeds"] == list(seeds)
    assert many["runs_summary"]["failed"]["max"] == max(d["requests"]["failed"] for d in one)


def test_exit_codes_are_the_same_in_help_and_readme() -> None:
    r = CliRunner().invoke(main, ["--help"])
    assert EXIT_CODES.removeprefix("\b\n").splitlines()[1].strip() in r.stdout
    help_codes = set(re.findall(r"\b(\d{1,3})\b", EXIT_CODES))
    table = README[README.index("**Exit codes**") :]
    table = table[: table.index("###")]
    readme_codes = set(re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE))
    assert help_codes >= readme_codes == {"0", "1", "2", "3", "130", "141", "143"}
    for command in ("simulate", "compare"):
        assert "Exit codes:" in CliRunner().invoke(main, [command, "--help"]).stdout


def test_the_limits_are_documented_with_their_values() -> None:
    assert MAX_BYTES == 1 << 20
    assert "1 MiB" in README
    assert "1 MiB" in SCENARIO_MD
    assert f"{MAX_NODES:,}" in README
    assert f"{MAX_NODES:,}" in SCENARIO_MD
    assert f"deeper than {MAX_DEPTH}" in SCENARIO_MD
    assert f"at most {MAX_DEPTH} deep" in README
    assert f"{MAX_SECONDS:,.0f} s" in SCENARIO_MD
    assert (MAX_REQUESTS, MAX_WORK, LOR_FACTOR, CLOSED_FACTOR) == (10**9, 10**11, 40, 50)
    assert "more than 10⁹ requests or more than 10¹¹ requests × replicas" in README
    assert (
        f"both {LOR_FACTOR} times lower with\n`loadBalancer.algorithm: least_outstanding_requests`" in README
    )
    assert f"{CLOSED_FACTOR} times lower with `traffic.model: closed`" in README
    assert "10⁹ requests, or 10¹¹" in CliRunner().invoke(main, ["simulate", "--help"]).stdout


def test_stdin_is_documented_everywhere() -> None:
    assert "`-` for standard input" in README
    assert "compare - -" in README
    assert "compare - -" in SCENARIO_MD
    for args in (["--help"], ["simulate", "--help"], ["compare", "--help"]):
        assert "- for standard input" in CliRunner().invoke(main, args).stdout
