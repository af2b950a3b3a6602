"""Scenario files: every key documented, built-ins valid, bad input named by file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from rollsafe.cli import main
from rollsafe.errors import ScenarioError
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import builtin_names, load_builtin, load_text

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenario.md"

ISSUE_KEYS = [
    "workload.replicas",
    "workload.strategy.type",
    "workload.strategy.maxSurge",
    "workload.strategy.maxUnavailable",
    "workload.minReadySeconds",
    "workload.terminationGracePeriodSeconds",
    "workload.preStopSleepSeconds",
    "workload.readinessProbe",
    "workload.readinessGate",
    "app.startupSeconds",
    "app.onSigterm",
    "app.drainSeconds",
    "app.requestSeconds",
    "app.keepAliveTimeoutSeconds",
    "loadBalancer.targetType",
    "loadBalancer.healthCheck.intervalSeconds",
    "loadBalancer.healthCheck.timeoutSeconds",
    "loadBalancer.healthCheck.healthyThresholdCount",
    "loadBalancer.healthCheck.unhealthyThresholdCount",
    "loadBalancer.deregistrationDelaySeconds",
    "loadBalancer.idleTimeoutSeconds",
    "loadBalancer.algorithm",
    "loadBalancer.nodes",
    "traffic.rps",
]


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        out.append(key)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_all_keys(ann, key + "."))
    return out


@pytest.mark.parametrize("key", ISSUE_KEYS)
def test_issue_keys_are_accepted_exactly_as_spelled(key: str) -> None:
    assert key in _all_keys(Scenario)


def test_every_key_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-zA-Z.]+)`", text))
    missing = [k for k in _all_keys(Scenario) if k not in documented]
    assert missing == []


def test_defaults_are_the_documented_ones() -> None:
    sc = Scenario()
    assert sc.workload.strategy.max_surge == "25%"
    assert sc.workload.strategy.max_unavailable == "25%"
    assert sc.workload.termination_grace_period_seconds == 30
    hc = sc.load_balancer.health_check
    assert (
        hc.interval_seconds,
        hc.timeout_seconds,
        hc.healthy_threshold_count,
        hc.unhealthy_threshold_count,
    ) == (
        15,
        5,
        2,
        2,
    )
    assert sc.load_balancer.deregistration_delay_seconds == 300
    assert sc.load_balancer.idle_timeout_seconds == 60
    assert sc.lb_controller.requeue_seconds == 15
    assert sc.load_balancer.only_initial_or_draining == "reject"


@pytest.mark.parametrize("name", builtin_names())
def test_builtins_load(name: str) -> None:
    assert load_builtin(name).name == name


def test_builtins_are_the_issue_list() -> None:
    assert set(builtin_names()) >= {
        "eks-alb-defaults",
        "eks-alb-readiness-gate",
        "eks-alb-prestop",
        "eks-alb-zero-downtime",
        "eks-alb-keepalive-mismatch",
        "eks-instance-mode",
        "recreate",
    }


def test_set_overrides_any_key() -> None:
    sc = load_text(
        "workload: {replicas: 3}\n",
        source="s.yaml",
        overrides=[
            "workload.replicas=7",
            "loadBalancer.healthCheck.intervalSeconds=6",
            "app.requestSeconds={uniform: [0.1, 0.2]}",
        ],
    )
    assert sc.workload.replicas == 7
    assert sc.load_balancer.health_check.interval_seconds == 6
    assert sc.app.request_seconds.kind == "uniform"


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (
            "workload:\n  replicas: -3\n",
            [],
            r"s\.yaml:2: workload\.replicas: .*greater than or equal to 1.*found -3",
        ),
        (
            "workload:\n  strategy:\n    maxSurge: abc\n",
            [],
            r"s\.yaml:3: workload\.strategy\.maxSurge: .*found 'abc'",
        ),
        (
            "app:\n  onSigterm: explode\n",
            [],
            r"s\.yaml:2: app\.onSigterm: .*'exit', 'drain' or 'ignore'.*'explode'",
        ),
        (
            "workload:\n  terminationGracePeriodSecond: 30\n",
            [],
            r"s\.yaml:2: .*terminationGracePeriodSecond: unknown key",
        ),
        (
            "app:\n  requestSeconds: {lognormal: {median: 1}}\n",
            [],
            r"s\.yaml:2: app\.requestSeconds: .*'p99'",
        ),
        ("workload:\n  replicas: [1\n", [], r"s\.yaml:3:1: not valid YAML"),
        ("- a\n- b\n", [], r"s\.yaml: expected a mapping .* found list"),
        (
            "workload:\n  replicas: 3\n  replicas: 4\n",
            [],
            r"s\.yaml:3: workload\.replicas: duplicate key .*line 2",
        ),
        ("{}", ["workload.replicas=abc"], r"s\.yaml \(--set\): workload\.replicas: .*found 'abc'"),
        ("{}", ["nonsense"], r"--set 'nonsense': expected key\.path=value"),
        ("{}", ["workload.replicas.x=3"], r"\(--set\): workload\.replicas: .*valid integer"),
        ("workload: {replicas: 3}\n", ["workload.replicas.x=3"], r"workload\.replicas is int, not a mapping"),
        (
            "loadBalancer: {targetType: instance}\nworkload: {readinessGate: true}\n",
            [],
            r"readiness gates only",
        ),
        ("traffic: {rps: .nan}\n", [], r"s\.yaml:1: traffic\.rps"),
        # values YAML or pydantic would quietly convert are refused
        ("workload: {replicas: true}\n", [], r"workload\.replicas: .*valid integer.*True"),
        ("workload: {replicas: '5'}\n", [], r"workload\.replicas: .*valid integer.*'5'"),
        ("workload: {readinessGate: 'yes'}\n", [], r"workload\.readinessGate: .*valid boolean"),
        # what the API server or AWS would reject
        ("workload: {strategy: {maxSurge: 0, maxUnavailable: 0%}}\n", [], r"may not be 0 when maxSurge is 0"),
        ("workload: {strategy: {maxUnavailable: 150%}}\n", [], r"not be more than 100%"),
        ("workload: {strategy: {type: Recreate, maxSurge: 1}}\n", [], r"may not be specified when strategy"),
        (
            "loadBalancer: {healthCheck: {intervalSeconds: 1}}\n",
            [],
            r"intervalSeconds: .*greater than or equal to 5",
        ),
        ("loadBalancer: {healthCheck: {healthyThresholdCount: 1}}\n", [], r"greater than or equal to 2"),
        ("workload: {name: '[/]'}\n", [], r"workload\.name: .*pattern"),
        # YAML that is not a scenario
        ("", [], r"s\.yaml: the scenario is empty"),
        ("# only a comment\n", [], r"s\.yaml: the scenario is empty"),
        ("a: &a [*a]\n", [], r"s\.yaml:1: a\.0: an alias refers to itself"),
        ("1: 2\n", [], r"s\.yaml:1: top level: keys must be names"),
        ("w: " + "[" * 50 + "]" * 50 + "\n", [], r"nested too deeply"),
        ("app: 5\n", [], r"s\.yaml:1: app: expected a mapping of keys, found 5"),
        (
            "workload: {terminationGracePeriodSecond: 3}\n",
            [],
            r"did you mean 'terminationGracePeriodSeconds'",
        ),
    ],
)
def test_bad_scenarios_are_named_precisely(text: str, overrides: list[str], expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected):
        load_text(text, source="s.yaml", overrides=overrides)


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["x0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 25)]
    with pytest.raises(ScenarioError, match="more than 100,000 values"):
        load_text("\n".join(lines) + "\n", source="s.yaml")


def test_every_problem_is_reported_not_just_the_first() -> None:
    with pytest.raises(ScenarioError) as err:
        load_text("workload: {replicas: 0}\napp: {onSigterm: nope}\n", source="s.yaml")
    assert "workload.replicas" in str(err.value)
    assert "app.onSigterm" in str(err.value)


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "missing.yaml"],
        ["simulate", "--builtin", "nope"],
        ["simulate"],
        ["simulate", "--builtin", "eks-alb-defaults", "--set", "workload.replicas=abc"],
        ["simulate", "BAD"],
    ],
)
def test_cli_bad_input_exits_2_with_a_message_and_no_traceback(args: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workload: {replicas: zero}\n", encoding="utf-8")
    args = [str(bad) if a == "BAD" else a for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.strip()
    assert result.exception is None or isinstance(result.exception, SystemExit)
