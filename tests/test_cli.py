"""The command as a user and a CI pipeline meet it: outputs, determinism, timeline, exit codes, goldens.

Golden files are regenerated deliberately: ROLLSAFE_REGEN_GOLDEN=1 pytest tests/test_cli.py -k golden
rewrites them and then fails, saying which changed, so a regeneration never passes silently; review
`git diff tests/golden` and rerun without the variable.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollsafe.cli import main
from rollsafe.model.causes import CAUSE_IDS
from rollsafe.scenarios import builtin_names

GOLDEN = Path(__file__).parent / "golden"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _json(*args: str) -> dict[str, object]:
    code, out = _run("simulate", *args, "--output", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_json_has_the_contracted_fields() -> None:
    doc = _json("--builtin", "eks-alb-defaults")
    assert doc["scenario"] == "eks-alb-defaults"
    assert doc["seed"] == 1
    assert doc["runs"] == 1
    req = doc["requests"]
    assert isinstance(req, dict)
    assert set(req) == {"total", "succeeded", "failed"}
    assert req["total"] == req["succeeded"] + req["failed"]
    assert all(isinstance(v, int) for v in req.values())
    status = doc["status_counts"]
    assert isinstance(status, dict)
    assert sum(status.values()) == req["total"]
    assert status["200"] == req["succeeded"]
    causes = doc["causes"]
    assert isinstance(causes, dict)
    assert list(causes) == list(CAUSE_IDS)
    assert sum(causes.values()) == req["failed"]
    rollout = doc["rollout"]
    assert isinstance(rollout, dict)
    assert (rollout["replicas"], rollout["max_surge"], rollout["max_unavailable"]) == (10, 3, 2)
    assert isinstance(rollout["duration_s"], float)
    lb = doc["load_balancer"]
    assert isinstance(lb, dict)
    assert lb["registrations"] == 10
    assert lb["deregistrations"] == 10
    assert lb["no_healthy_target_s"] > 0
    assert "runs_summary" not in doc


def test_runs_summary_with_several_runs() -> None:
    doc = _json("--builtin", "eks-alb-prestop", "--runs", "4")
    summary = doc["runs_summary"]
    assert isinstance(summary, dict)
    failed = summary["failed"]
    assert set(failed) == {"mean", "p50", "p95", "max"}
    assert failed["mean"] > 0
    assert failed["max"] >= failed["p95"] >= failed["p50"] > 0
    assert summary["p_any_failure"] == 1.0
    req = doc["requests"]
    assert isinstance(req, dict)
    assert req["failed"] == failed["mean"]  # counts are per-run means


def test_same_seed_same_bytes() -> None:
    for args in (("--builtin", "eks-alb-defaults"), ("--builtin", "eks-instance-mode", "--runs", "3")):
        first = _run("simulate", *args, "--output", "json", "--seed", "42")
        again = _run("simulate", *args, "--output", "json", "--seed", "42")
        assert first == again
    text1 = _run("simulate", "--builtin", "eks-alb-defaults", "--seed", "5")
    text2 = _run("simulate", "--builtin", "eks-alb-defaults", "--seed", "5")
    assert text1 == text2


def test_different_seeds_differ() -> None:
    assert _json("--builtin", "eks-alb-defaults", "--seed", "1") != _json(
        "--builtin", "eks-alb-defaults", "--seed", "2"
    )


def test_text_report_shows_causes_milestones_and_worst_window() -> None:
    code, out = _run("simulate", "--builtin", "eks-alb-defaults")
    assert code == 0
    for needle in (
        "requests failed",
        "stopped-listening",
        "no-healthy-targets",
        "preStop delay longer than the deregistration lag",
        "rollout started",
        "scaled up web-7f6b9d4c8e 0 → 3",
        "rollout complete",
        "load balancer settled",
        "worst 10 s window",
        "by status: 200:",
    ):
        assert needle in out, needle


def test_zero_downtime_text_says_nothing_failed() -> None:
    code, out = _run("simulate", "--builtin", "eks-alb-zero-downtime")
    assert code == 0
    assert "No request failed." in out


def test_timeline_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    code, _ = _run("simulate", "--builtin", "eks-alb-readiness-gate", "--timeline", str(path))
    assert code == 0
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert events
    assert all(list(e) == ["at", "t_s", "source", "kind", "object", "attrs"] for e in events)
    times = [e["t_s"] for e in events]
    assert times == sorted(times)
    kinds = {e["kind"] for e in events}
    assert {
        "RolloutStarted",
        "ReadinessGatePatched",
        "RegisterTargets",
        "DeregisterTargets",
        "SIGTERM",
    } <= kinds
    # every kind that appears is documented
    doc = (Path(__file__).resolve().parents[1] / "docs" / "timeline.md").read_text(encoding="utf-8")
    assert all(f"`{k}`" in doc for k in kinds)


def test_max_failures_sets_exit_code_1() -> None:
    code, out = _run("simulate", "--builtin", "eks-alb-defaults", "--max-failures", "0")
    assert code == 1
    assert "exceed --max-failures" in out
    code, _ = _run("simulate", "--builtin", "eks-alb-zero-downtime", "--max-failures", "0")
    assert code == 0


def test_scenarios_lists_each_builtin_on_one_line() -> None:
    code, out = _run("scenarios")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == builtin_names()


def test_scenario_file_and_set(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nworkload:\n  replicas: 4\n", encoding="utf-8")
    doc = _json(str(path), "--set", "workload.replicas=6")
    assert doc["scenario"] == "mine"
    rollout = doc["rollout"]
    assert isinstance(rollout, dict)
    assert rollout["replicas"] == 6


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # the default: a Monte Carlo whose number of runs the scenario decides (ROLLSAFE_RUNS unset)
        ("eks-alb-defaults.json", ("--output", "json")),
        ("eks-alb-defaults.txt", ()),
        # a single run's report, as before the default became many runs
        ("eks-alb-defaults.runs1.json", ("--runs", "1", "--output", "json")),
        ("eks-alb-defaults.runs1.txt", ("--runs", "1")),
        # a scenario that fails in some runs, not all: the headline's interval and the fix's number
        ("eks-alb-zero-downtime.runs60.txt", ("--runs", "60", "--set", "workload.preStopSleepSeconds=15")),
    ],
)
def test_golden_output(name: str, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROLLSAFE_RUNS", raising=False)
    builtin = name.split(".", maxsplit=1)[0]
    code, out = _run("simulate", "--builtin", builtin, "--seed", "7", *args)
    assert code == 0
    path = GOLDEN / name
    if os.environ.get("ROLLSAFE_REGEN_GOLDEN") == "1":
        before = path.read_text(encoding="utf-8") if path.exists() else None
        path.write_text(out, encoding="utf-8")
        pytest.fail(
            f"{name} {'unchanged' if before == out else 'REWRITTEN'} by ROLLSAFE_REGEN_GOLDEN=1; review "
            "`git diff tests/golden`, then rerun without the variable (a regeneration run never passes)"
        )
    assert path.exists(), f"{path} is missing; create it with ROLLSAFE_REGEN_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert out == expected, f"{name} changed; if intended, regenerate with ROLLSAFE_REGEN_GOLDEN=1 and review"


def test_compare_side_by_side() -> None:
    code, out = _run("compare", "--builtin", "eks-alb-defaults", "--builtin", "eks-alb-zero-downtime")
    assert code == 0
    assert "eks-alb-defaults" in out
    assert "no-healthy-targets" in out
    assert "0 (0.00%)" in out  # the zero-downtime column
    code, out = _run(
        "compare", "--builtin", "eks-alb-defaults", "--builtin", "eks-alb-prestop", "--output", "json"
    )
    assert code == 0
    docs = json.loads(out)["scenarios"]
    assert [d["scenario"] for d in docs] == ["eks-alb-defaults", "eks-alb-prestop"]
    # the same seed for both: the fix changes only what it fixes
    assert docs[1]["causes"]["stopped-listening"] == 0 < docs[0]["causes"]["stopped-listening"]
    assert docs[0] == _json("--builtin", "eks-alb-defaults")


def test_compare_needs_two_scenarios() -> None:
    code, out = _run("compare", "--builtin", "eks-alb-defaults")
    assert code == 2
    assert "at least two" in out


def test_scaling_events_chain_without_duplicates() -> None:
    # a stale write is a 409 Conflict, not an event: each step starts where the previous one ended
    from rollsafe.scenarios import load_builtin
    from rollsafe.sim.simulate import simulate

    for name in ("eks-alb-defaults", "eks-alb-readiness-gate", "recreate"):
        for seed in (1, 2, 3):
            last: dict[str, int] = {}
            for e in simulate(load_builtin(name), seed).timeline:
                if e.kind == "ScalingReplicaSet":
                    assert e.attrs["old"] != e.attrs["new"]
                    assert last.get(e.object, e.attrs["old"]) == e.attrs["old"], (name, seed, e)
                    last[e.object] = e.attrs["new"]


def test_json_records_version_overrides_and_settings() -> None:
    doc = _json("--builtin", "eks-alb-defaults", "--set", "workload.preStopSleepSeconds=20")
    assert doc["overrides"] == ["workload.preStopSleepSeconds=20"]
    assert isinstance(doc["rollsafe_version"], str)
    settings = doc["settings"]
    assert isinstance(settings, dict)
    assert settings["workload"]["preStopSleepSeconds"] == 20
    reg = settings["loadBalancer"]["registerPropagationSeconds"]
    assert reg == {"lognormal": {"median": 2.0, "p99": 10.0}}
    lb = doc["load_balancer"]
    assert isinstance(lb, dict)
    assert 0 < lb["stop_routing_lag_s"] < 20  # the preStop sleep outlasts it: nothing stops listening early
    causes = doc["causes"]
    assert isinstance(causes, dict)
    assert causes["stopped-listening"] == 0
    assert _json("--builtin", "eks-alb-zero-downtime")["worst_window"] is None


def test_unsettled_rollout_fails_the_ci_gate() -> None:
    args = ("--builtin", "eks-alb-zero-downtime", "--set", "simulation.maxSeconds=30", "--max-failures", "0")
    code, out = _run("simulate", *args)
    assert code == 1
    assert "did not complete" in out
    assert "did not settle" in out


def test_still_failing_at_the_end_is_flagged() -> None:
    # never listens: every request fails, to the end
    code, out = _run("simulate", "--builtin", "eks-alb-defaults", "--set", "app.startupSeconds=5000")
    assert code == 0
    assert "still failing when the simulated traffic ended" in out
    doc = _json("--builtin", "eks-alb-defaults", "--set", "app.startupSeconds=5000")
    assert doc["failing_at_end_runs"] == 1


@pytest.mark.parametrize("bad", ["-", "DIR", "SCENARIO", "missing/dir/events.jsonl"])
def test_timeline_path_is_checked(bad: str, tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("workload: {replicas: 2}\n", encoding="utf-8")
    target = {"DIR": str(tmp_path), "SCENARIO": str(scenario)}.get(bad, bad)
    code, out = _run("simulate", str(scenario), "--timeline", target)
    assert code == 2
    assert "--timeline" in out
    assert scenario.read_text(encoding="utf-8") == "workload: {replicas: 2}\n"


def test_user_text_is_not_read_as_markup(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text('name: "[/] [red]mine"\nworkload: {replicas: 2}\n', encoding="utf-8")
    code, out = _run("simulate", str(path))
    assert code == 0
    assert "[/] [red]mine" in out
    code, out = _run("compare", str(path), "--builtin", "eks-alb-defaults")
    assert code == 0


def test_scenarios_show_prints_a_template() -> None:
    code, out = _run("scenarios", "--show", "eks-alb-zero-downtime")
    assert code == 0
    assert "preStopSleepSeconds: 120" in out
    code, _ = _run("scenarios", "--show", "nope")
    assert code == 2


def test_a_bug_exits_3_with_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import rollsafe.cli

    def boom(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(rollsafe.cli, "simulate", boom)
    result = CliRunner().invoke(main, ["simulate", "--builtin", "eks-alb-defaults"])
    assert result.exit_code == 3
    assert "internal error" in result.output


def test_scenario_from_stdin_and_setting_notes() -> None:
    result = CliRunner().invoke(
        main,
        ["simulate", "-", "--output", "json"],
        input="workload: {replicas: 3, preStopSleepSeconds: 40}\n",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert any("cut at the grace period" in n for n in doc["notes"])
    result = CliRunner().invoke(main, ["simulate", "-"], input="")
    assert result.exit_code == 2
    assert "<stdin>: the scenario is empty" in result.output


def test_golden_regeneration_never_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # regenerating writes the file and fails, whether or not it changed; only the next, plain run passes
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    monkeypatch.setenv("ROLLSAFE_REGEN_GOLDEN", "1")
    args = ("eks-alb-defaults.runs1.json", ("--runs", "1", "--output", "json"))
    with pytest.raises(pytest.fail.Exception, match="REWRITTEN"):
        test_golden_output(*args, monkeypatch)
    written = (tmp_path / args[0]).read_text(encoding="utf-8")
    assert json.loads(written)["scenario"] == "eks-alb-defaults"
    with pytest.raises(pytest.fail.Exception, match="unchanged"):
        test_golden_output(*args, monkeypatch)
    monkeypatch.delenv("ROLLSAFE_REGEN_GOLDEN")
    test_golden_output(*args, monkeypatch)  # compares the output with the file, not the file with itself
    (tmp_path / args[0]).write_text(written.replace('"seed": 7', '"seed": 8'), encoding="utf-8")
    with pytest.raises(AssertionError, match="changed"):
        test_golden_output(*args, monkeypatch)
    (tmp_path / args[0]).unlink()
    with pytest.raises(AssertionError, match="missing"):
        test_golden_output(*args, monkeypatch)
