"""rollsafe advise: the bounds, the space, the search's Done-when items on built-ins (with fewer runs and a
looser target than the defaults, and the bound each test states), the CLI and the patch round trip."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollsafe.advise.executor import LocalExecutor, run_chunk
from rollsafe.advise.search import Search
from rollsafe.advise.space import (
    APP_CONFIG,
    GATE,
    GRACE,
    IDLE,
    KEEPALIVE,
    MANIFEST,
    ON_SIGTERM,
    PRESTOP,
    STRATEGY,
    SURGE,
    TARGET_TYPE,
    UNAVAILABLE,
    build_space,
)
from rollsafe.advise.stats import _binom_cdf, lower_bound, max_failures_allowed, runs_needed, upper_bound
from rollsafe.cli import main
from rollsafe.errors import RollsafeError
from rollsafe.scenarios import builtin_names, load_builtin

DATA = "tests/data/manifests"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


# -- the bounds -----------------------------------------------------------------------------------------


def test_clopper_pearson_bounds_match_known_values() -> None:
    # zero failures: 1 - 0.05^(1/n), the "rule of three" near 3/n
    assert upper_bound(0, 300) == pytest.approx(1 - 0.05 ** (1 / 300))
    assert upper_bound(0, 300) < 0.01 < upper_bound(0, 298)
    # 5 of 10: the exact one-sided 95 % interval is [0.2224, 0.7776]
    assert upper_bound(5, 10) == pytest.approx(0.7776, abs=1e-4)
    assert lower_bound(5, 10) == pytest.approx(0.2224, abs=1e-4)
    assert upper_bound(10, 10) == 1.0
    assert lower_bound(0, 10) == 0.0


def test_runs_needed_and_failures_allowed() -> None:
    assert runs_needed(0.01) == 299
    assert runs_needed(0.1) == 29
    assert max_failures_allowed(300, 0.01) == 0
    assert max_failures_allowed(500, 0.01) == 1
    assert max_failures_allowed(100, 0.01) == -1  # 100 runs cannot show 1 % even with no failure


# -- the space ------------------------------------------------------------------------------------------


def test_grace_period_follows_prestop_and_never_drops() -> None:
    zd = load_builtin("eks-alb-zero-downtime")
    assert zd.app.on_sigterm == "drain"
    drain, grace = zd.app.drain_seconds, zd.workload.termination_grace_period_seconds
    space = build_space(zd)
    assert space.full({PRESTOP: 250})[GRACE] == math.ceil(250 + drain) + 2
    assert space.full({PRESTOP: 5})[GRACE] == grace  # never below what the scenario has
    defaults = build_space(load_builtin("eks-alb-defaults"))  # exits at once: no drain
    assert defaults.full({PRESTOP: 90})[GRACE] == 92


def test_both_zero_is_refused_and_overrides_reproduce_the_candidate() -> None:
    space = build_space(load_builtin("eks-alb-defaults"))
    assert space.valid(space.full({SURGE: 0, UNAVAILABLE: 0})) is not None
    full = space.full({PRESTOP: 40, "workload.readinessGate": True, SURGE: 1})
    assert space.valid(full) is None
    sets = space.overrides(full)
    assert "workload.preStopSleepSeconds=40" in sets
    assert "workload.terminationGracePeriodSeconds=42" in sets
    # the --set list is the patch without manifests: loading it gives the very scenario advise ran
    assert load_builtin("eks-alb-defaults", sets) == space.scenario(full)


def test_fix_and_only_pin_settings_and_bad_keys_are_named() -> None:
    sc = load_builtin("eks-alb-defaults")
    space = build_space(sc, fix={"readinessGate": "true"}, only=["preStopSleepSeconds"])
    assert [k.key for k in space.free] == [PRESTOP]
    assert space.fixed["workload.readinessGate"] is True
    with pytest.raises(RollsafeError, match="'colour'"):
        build_space(sc, only=["colour"])
    with pytest.raises(RollsafeError, match="whole number from 0 to 300"):
        build_space(sc, fix={PRESTOP: "900"})
    instance = build_space(load_builtin("eks-instance-mode"))
    assert "workload.readinessGate" not in [k.key for k in instance.knobs]
    # what no searched setting fixes is reported with what would
    assert any("ip targets" in n for n in instance.notes)
    keepalive = build_space(load_builtin("eks-alb-keepalive-mismatch"))
    assert any("keepalive-race" in n for n in keepalive.notes)
    assert not any("keepalive-race" in n for n in build_space(load_builtin("eks-alb-defaults")).notes)


def test_structural_remedies_follow_the_causes_and_rebuild_the_space() -> None:
    keepalive = build_space(load_builtin("eks-alb-keepalive-mismatch"))
    assert [(r.key, r.to, r.kind) for r in keepalive.remedies] == [
        (KEEPALIVE, 65, APP_CONFIG),  # above the 60 s idle timeout, by the 5 s margin
        (IDLE, 4, MANIFEST),  # the alternative: below the server's 5 s
    ]
    # the keep-alive pinned (the app cannot change): only the ALB idle timeout is left for that cause
    pinned = build_space(load_builtin("eks-alb-keepalive-mismatch"), fix={"keepAliveTimeoutSeconds": "5"})
    assert [r.key for r in pinned.remedies] == [IDLE]
    recreate = build_space(load_builtin("recreate"))
    assert [r.key for r in recreate.remedies] == [STRATEGY, ON_SIGTERM]
    assert SURGE not in [k.key for k in recreate.knobs]
    rolling = recreate.require(recreate.remedies[0])
    assert SURGE in [k.key for k in rolling.free]
    full = rolling.full({SURGE: 1})
    assert rolling.changes(full) == {STRATEGY: ("Recreate", "RollingUpdate"), SURGE: (3, 1)}
    assert rolling.valid(full) is None
    # reverting the strategy while keeping a surge is what Kubernetes refuses
    assert rolling.valid(rolling.full({SURGE: 1, STRATEGY: "Recreate"})) is not None
    instance = build_space(load_builtin("eks-instance-mode"))
    assert [r.key for r in instance.remedies] == [TARGET_TYPE, ON_SIGTERM]
    ip = instance.require(instance.remedies[0])
    assert GATE in [k.key for k in ip.free]
    assert ip.valid(ip.full({GATE: True, TARGET_TYPE: "instance"})) is not None
    # draining: the grace period covers preStop + the app's drain (30 s by default) + 2 s
    drain = instance.require(instance.remedies[1])
    assert drain.full({PRESTOP: 20})[GRACE] == 52
    sets = ip.overrides(ip.full({PRESTOP: 40, GATE: True}))
    assert sets[0] == "loadBalancer.targetType=ip"  # structural changes first
    assert load_builtin("eks-instance-mode", sets) == ip.scenario(ip.full({PRESTOP: 40, GATE: True}))
    # --only narrows the remedies too; --fix checks their values
    assert build_space(load_builtin("recreate"), only=["preStopSleepSeconds"]).remedies == []
    with pytest.raises(RollsafeError, match="one of RollingUpdate, Recreate"):
        build_space(load_builtin("recreate"), fix={"strategy.type": "Blue"})
    assert not build_space(load_builtin("eks-alb-zero-downtime")).remedies


# -- the executor ---------------------------------------------------------------------------------------


def test_local_pool_returns_what_a_serial_run_returns() -> None:
    sc = load_builtin("eks-instance-mode")
    seeds = list(range(1, 13))
    ex = LocalExecutor(2, chunk=3)
    try:
        pooled = ex.run(sc, seeds)
    finally:
        ex.close()
    assert [r.key() for r in pooled] == [r.key() for r in run_chunk(sc, seeds)]
    assert all(r.extra_pod_s > 0 for r in pooled)  # surge 3 of 10: extra pods while rolling


# -- the search on built-ins (fewer runs, a looser target: the bound each test states) ------------------

TARGET = 0.1  # 29 runs with no failed rollout put the 95 % bound below 10 %
RUNS = 30


@functools.cache
def _advise(name: str) -> Search:
    # the search narrowed to the settings that matter on these built-ins (and the structural remedies),
    # with few trials: seconds, not a minute (the full search is what `make bench` times). Cached: the
    # tests below share one search per built-in.
    only = [
        "preStopSleepSeconds",
        "readinessGate",
        "maxSurge",
        "maxUnavailable",
        "workload.strategy.type",
        "loadBalancer.targetType",
        "app.keepAliveTimeoutSeconds",
        "app.onSigterm",
    ]
    ex = LocalExecutor(2)
    try:
        s = Search(build_space(load_builtin(name), only=only), ex, target=TARGET, runs=RUNS, seed=1, trials=4)
        s.result = s.run()  # type: ignore[attr-defined]
    finally:
        ex.close()
    return s


# The independent check: FRESH runs on seeds the search never saw. If P(any failure) <= TARGET (10 %)
# were true, more than FRESH_ALLOWED failed rollouts out of FRESH would happen with probability < 0.1 %.
FRESH, FRESH_ALLOWED = 60, 14
FRESH_SEEDS = list(range(10_001, 10_001 + FRESH))


def test_the_fresh_run_bound_is_what_it_says() -> None:
    assert 1 - _binom_cdf(FRESH_ALLOWED, FRESH, TARGET) < 0.001


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_gets_a_recommendation_that_holds_on_fresh_seeds(name: str) -> None:
    r = _advise(name).result  # type: ignore[attr-defined]
    best = r.best
    assert best is not None, f"{name}: nothing found"
    assert best.acceptable(TARGET)
    # the recommendation as --set overrides, loaded the way `simulate --set` loads them
    scenario = load_builtin(name, r.space.overrides(best.values))
    assert scenario == r.space.scenario(best.values)
    ex = LocalExecutor(2)
    try:
        fresh = ex.run(scenario, FRESH_SEEDS)
    finally:
        ex.close()
    assert sum(x.failed > 0 for x in fresh) <= FRESH_ALLOWED


def test_zero_downtime_needs_no_change() -> None:
    s = _advise("eks-alb-zero-downtime")
    r = s.result  # type: ignore[attr-defined]
    assert r.current.acceptable(TARGET)
    assert r.best is r.current
    assert not r.best.changes
    assert r.simulations == RUNS
    assert r.trials == 0


def test_defaults_get_a_change_that_holds_on_fresh_seeds_and_is_not_slower_than_zero_downtime() -> None:
    s = _advise("eks-alb-defaults")
    r = s.result  # type: ignore[attr-defined]
    assert not r.current.acceptable(TARGET)
    assert r.current.p > 0.9
    best = r.best
    assert best is not None
    assert best.acceptable(TARGET)
    assert best.upper <= TARGET
    assert PRESTOP in best.changes  # nothing else removes the termination 502s
    # independent check on 100 seeds the search never saw. If P(any failure) <= 10 % were true, more than
    # 22 failed rollouts out of 100 would happen with probability < 0.1 %: the test allows 22.
    ex = LocalExecutor(2)
    try:
        fresh = ex.run(r.space.scenario(best.values), list(range(10_001, 10_101)))
        zd = ex.run(load_builtin("eks-alb-zero-downtime"), list(range(1, 31)))
    finally:
        ex.close()
    assert sum(x.failed > 0 for x in fresh) <= 22
    zd_settled = sum(x.settled_s or math.inf for x in zd) / len(zd)
    assert best.settled_s is not None
    assert best.settled_s <= zd_settled
    # every candidate is accounted for, and the simulations add up
    assert r.simulations == sum(c.runs for c in r.candidates)
    assert any(c.stopped and "stopped after" in c.stopped for c in r.candidates)  # pruning happened


# -- the CLI --------------------------------------------------------------------------------------------


def test_cli_json_text_and_set_lines_agree() -> None:
    args = ["advise", "--builtin", "eks-alb-zero-downtime", "--target", "0.1", "--runs", "30"]
    code, out, _ = run(*args, "--output", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["meets_target"] is True
    assert doc["recommendation"] is None
    assert doc["current"]["runs"] == 30
    assert doc["simulations"] == 30
    assert doc["candidates"][0]["p_any_failure_upper"] <= 0.1
    code, out, _ = run(*args)
    assert code == 0
    assert "No change: the current settings already meet the target." in out
    code, out, _ = run(*args, "--output", "patch")
    assert code == 0
    assert out.startswith("# rollsafe advise: no change")


def test_recreate_gets_a_clear_no_and_exit_1() -> None:
    # Recreate stops every old pod first: nothing a team sets here saves it, and advise says what would
    code, out, _ = run(
        "advise",
        "--builtin",
        "recreate",
        "--target",
        "0.2",
        "--runs",
        "14",
        "--trials",
        "3",
        "--only",
        "preStopSleepSeconds,minReadySeconds",
    )
    assert code == 1
    assert "No setting found that meets the target" in out
    assert "switch to RollingUpdate" in out


def test_recreate_gets_rollingupdate_as_a_required_change_in_text_and_set_lines() -> None:
    args = [
        "advise",
        "--builtin",
        "recreate",
        "--set",
        "traffic.rps=20",
        "--target",
        "0.2",
        "--runs",
        "14",
        "--trials",
        "3",
        "--only",
        "preStopSleepSeconds,readinessGate,strategy.type",
    ]
    code, out, _ = run(*args)
    assert code == 0
    assert "No setting advise searches meets the target alone. Required change" in out
    assert "workload.strategy.type  Recreate → RollingUpdate  [manifest change]" in out
    code, out, _ = run(*args, "--output", "patch")
    assert code == 0
    assert out.splitlines()[1] == "--set workload.strategy.type=RollingUpdate"


def test_cli_usage_errors_exit_2_with_a_message() -> None:
    code, _, err = run("advise", "--builtin", "eks-alb-defaults", "--runs", "10")
    assert code == 2
    assert "at least 299 runs" in err
    code, _, err = run("advise", "--builtin", "eks-alb-defaults", "--fix", "nope")
    assert code == 2
    assert "KEY=VALUE" in err
    code, _, err = run("advise", "--builtin", "eks-alb-defaults", "--only", "colour", "--target", "0.5")
    assert code == 2
    assert "'colour'" in err
    code, _, err = run("advise", "--builtin", "eks-alb-defaults", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2
    assert "--executor dask" in err


# -- the patch round trip -------------------------------------------------------------------------------


def test_patch_round_trip_reproduces_the_prediction(tmp_path: Path) -> None:
    import yaml

    from rollsafe.advise.patch import apply_patch

    src = f"{DATA}/builtin-defaults"
    args = [
        "advise",
        "-f",
        src,
        "--set",
        "traffic.rps=20",
        "--target",
        "0.2",
        "--runs",
        "14",
        "--trials",
        "4",
        "--only",
        "preStopSleepSeconds,readinessGate,maxSurge",
    ]
    code, out, err = run(*args, "--output", "json")
    assert code == 0, err
    doc = json.loads(out)["workloads"][0]
    rec = doc["recommendation"]
    assert rec is not None
    assert rec["p_any_failure_upper"] <= 0.2
    code, patch, _ = run(*args, "--output", "patch")
    assert code == 0
    assert "# rollsafe advise" in patch  # the evidence rides along as comments
    patches = [d for d in yaml.safe_load_all(patch) if d]
    kinds = {p["kind"] for p in patches}
    assert "Deployment" in kinds
    if any(c["key"] == "workload.readinessGate" for c in rec["changes"]):
        assert "Namespace" in kinds
    objects = json.loads(Path(f"{src}/all.json").read_text())["items"]
    patched = apply_patch(objects, patches)
    (tmp_path / "patched.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": patched}))
    # simulate -f on the patched manifests, with the seeds advise used: the same mean failed requests
    n = rec["runs"]  # 14, or more when the search looked again near the boundary
    code, out, _ = run(
        "simulate", "-f", str(tmp_path), "--set", "traffic.rps=20", "--runs", str(n), "--output", "json"
    )
    assert code == 0
    sim = json.loads(out)["workloads"][0]
    assert sim["requests"]["failed"] == pytest.approx(rec["expected_failures"], abs=1e-3)
    # ...and the same P(any failure), over the same runs
    assert sim["probability"]["runs"] == n
    assert sim["probability"]["p_any_failure"] == pytest.approx(rec["p_any_failure"], abs=1e-6)
