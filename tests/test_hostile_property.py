"""Property tests: arbitrary bytes, arbitrary YAML and scenario-shaped YAML with hostile values, through the
loader and the CLI. The only outcomes allowed: a Scenario or a ScenarioError from the loader; exit 0, 1
or 2 from the CLI, with no traceback, strict JSON and no raw control character on standard output.

Valid scenarios whose simulation would take more than a moment are left to the size-limit tests
(tests/test_hostile.py): this test is about input handling, and must stay within seconds.
"""

from __future__ import annotations

import io
import json
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from rollsafe.cli import main
from rollsafe.errors import ScenarioError
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import load_stream, load_text
from rollsafe.sim.budget import budget, estimate_seconds

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI gate, not a lottery
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        out.append(path)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_paths(ann, path))
    return out


PATHS = _paths(Scenario)

# Plain YAML tokens that YAML 1.1 and 1.2 read differently, tags, anchors, non-finite numbers and other
# things a hostile or careless file holds. They are written into the text as they are.
RAW = [
    "yes",
    "no",
    "on",
    "off",
    "Yes",
    "NO",
    "y",
    "n",
    "true",
    "False",
    "~",
    "null",
    "",
    "010",
    "0x10",
    "0b11",
    "0o10",
    "1:30",
    "1:30.5",
    "1_000",
    "1e7",
    "1.5e3",
    "-1e-400",
    "1e999",
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "!foo bar",
    "!!python/object/apply:os.system ['true']",
    "!!str 5",
    "!!binary aGk=",
    "!!set {a}",
    "&a [1, *a]",
    "*nope",
    "[1, 2",
    "{a: 1, a: 2}",
    "|\n  text",
    '"\\e[2J\\e]0;title\\a"',
    '"\\u202e\\u0085\\x9b"',
    "25%",
    "150%",
    "0%",
    "-1",
    "0",
    "9223372036854775808",
    "1" * 400,
    "{uniform: [0, .inf]}",
    "{uniform: [5, 1]}",
    "{lognormal: {median: 1e-300, p99: 1e300}}",
    "{exponential: {mean: 1e308}}",
    "{constant: -1}",
    "{uniform: [0, 1e6]}",
    "{lognormal: {median: 1}}",
    "drain",
    "ignore",
    "exit",
    "ip",
    "instance",
    "Recreate",
    "least_outstanding_requests",
    "route",
    "reset",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=40),
    st.text(max_size=12),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


class Raw(str):
    """A YAML token to write as it is."""


def _render(tree: dict[str, Any], indent: int = 0) -> str:
    out = []
    for key, value in tree.items():
        pad = "  " * indent
        if isinstance(value, dict) and value and not isinstance(value, Raw):
            out.append(f"{pad}{key}:\n{_render(value, indent + 1)}")
        elif isinstance(value, Raw):
            out.append(f"{pad}{key}: {value}\n")
        else:
            out.append(f"{pad}{key}: {json.dumps(value)}\n")
    return "".join(out)


@st.composite
def scenario_yaml(draw: st.DrawFn) -> str:
    tree: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=6)):
        node = tree
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        value = draw(st.sampled_from(RAW).map(Raw) | values)
        node[path[-1]] = value
    return _render(tree)


yaml_text = st.lists(
    st.sampled_from([*"ab01:-[]{},&*!|>'\"#%@ \n\t.e\\x\x85\u202e", "yes", "0x", "<<", ": ", "\n  ", "- "])
    | st.sampled_from(RAW),
    max_size=25,
).map("".join)


def _check_cli(stdin: bytes, *args: str) -> None:
    result = CliRunner().invoke(main, ["simulate", "-", *args], input=stdin)
    event(f"exit {result.exit_code}")  # --hypothesis-show-statistics shows how many ran a simulation
    assert result.exit_code in {0, 1, 2}, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.stderr.startswith(("rollsafe: ", "Usage: "))
    out = result.stdout
    assert "\x1b" not in out
    assert "\x9b" not in out
    if "--output" in args and result.exit_code != 2:
        json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))


def _load(text: str) -> Scenario | ScenarioError:
    """A Scenario or a ScenarioError: any other exception fails the test."""
    try:
        return load_text(text, source="s.yaml")
    except ScenarioError as exc:
        return exc


def _cheap(text: str) -> bool:
    """A valid scenario whose run takes a moment, or an invalid one (which never runs)."""
    sc = _load(text)
    if isinstance(sc, ScenarioError):
        return True
    return estimate_seconds(budget(sc, 1)) < 0.3 and sc.workload.replicas <= 200


@SETTINGS
@given(st.binary(max_size=200))
def test_loader_and_cli_take_arbitrary_bytes(data: bytes) -> None:
    try:  # the loader, from bytes as it reads a file or standard input
        sc: Scenario | ScenarioError = load_stream(io.BytesIO(data), source="s.yaml")
    except ScenarioError as exc:
        sc = exc
    assume(isinstance(sc, ScenarioError) or _cheap(data.decode("utf-8")))
    _check_cli(data)


@SETTINGS
@given(yaml_text)
def test_loader_takes_arbitrary_yaml(text: str) -> None:
    outcome = _load(text)
    assert isinstance(outcome, Scenario) or str(outcome).startswith("s.yaml")


@SETTINGS
@given(scenario_yaml(), st.sampled_from([(), ("--output", "json")]))
def test_cli_takes_hostile_scenarios(text: str, args: tuple[str, ...]) -> None:
    assume(_cheap(text))
    _check_cli(text.encode("utf-8"), *args)


# -- valid-range extremes: scenarios that load, with every value at or near a bound ------------------
def _seconds(hi: float = 1e6) -> st.SearchStrategy[float]:
    return st.sampled_from([0.0, 1e-9, 5e-324, 0.001, 1.0, hi]) | st.floats(0, hi)


def _dist() -> st.SearchStrategy[Any]:
    lo = _seconds()
    return st.one_of(
        lo,
        st.tuples(lo, lo).map(lambda p: {"uniform": sorted(p)}),
        st.floats(1e-9, 1e6).map(lambda m: {"exponential": {"mean": m}}),
        st.tuples(st.floats(1e-9, 1.0), st.floats(1.0001, 1e6)).map(
            lambda p: {"lognormal": {"median": p[0], "p99": min(p[0] * p[1], 1e6)}}
        ),
    )


EXTREMES: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("workload", "replicas"): st.integers(1, 30),
    ("workload", "strategy", "maxSurge"): st.integers(0, 40) | st.sampled_from(["0%", "1%", "100%", "250%"]),
    ("workload", "strategy", "maxUnavailable"): st.integers(0, 40) | st.sampled_from(["0%", "1%", "100%"]),
    ("workload", "strategy", "type"): st.sampled_from(["RollingUpdate", "Recreate"]),
    ("workload", "minReadySeconds"): _seconds(),
    ("workload", "terminationGracePeriodSeconds"): _seconds(),
    ("workload", "preStopSleepSeconds"): _seconds(),
    ("workload", "readinessProbe"): st.fixed_dictionaries(
        {},
        optional={
            "initialDelaySeconds": _seconds(),
            "periodSeconds": st.floats(1, 1e6),
            "successThreshold": st.integers(1, 5),
            "failureThreshold": st.integers(1, 5),
        },
    ),
    ("workload", "readinessGate"): st.booleans(),
    ("app", "startupSeconds"): _dist(),
    ("app", "onSigterm"): st.sampled_from(["exit", "drain", "ignore"]),
    ("app", "drainSeconds"): _seconds(),
    ("app", "requestSeconds"): _dist(),
    ("app", "keepAliveTimeoutSeconds"): st.floats(1e-9, 1e6),
    ("app", "keepAliveRaceWindowSeconds"): _seconds(),
    ("loadBalancer", "targetType"): st.sampled_from(["ip", "instance"]),
    ("loadBalancer", "healthCheck", "intervalSeconds"): st.sampled_from([5, 300]),
    ("loadBalancer", "healthCheck", "timeoutSeconds"): st.sampled_from([2, 4.99]),
    ("loadBalancer", "deregistrationDelaySeconds"): _seconds(3600),
    ("loadBalancer", "idleTimeoutSeconds"): st.floats(1, 4000),
    ("loadBalancer", "algorithm"): st.sampled_from(
        ["round_robin", "weighted_random", "least_outstanding_requests"]
    ),
    ("loadBalancer", "nodes"): st.integers(1, 32),
    ("loadBalancer", "registerPropagationSeconds"): _dist(),
    ("loadBalancer", "deregisterPropagationSeconds"): _dist(),
    ("loadBalancer", "onlyInitialOrDraining"): st.sampled_from(["reject", "route"]),
    ("loadBalancer", "minimumHealthyTargets"): st.integers(1, 50),
    ("loadBalancer", "connectTimeoutSeconds"): st.floats(1e-9, 1e6),
    ("lbController", "requeueSeconds"): st.floats(0.1, 1e6),
    ("lbController", "registerTargetsSeconds"): _dist(),
    ("cluster", "apiLatencySeconds"): _dist(),
    ("cluster", "watchLatencySeconds"): _dist(),
    ("cluster", "podTeardownSeconds"): _dist(),
    ("cluster", "kubeProxySyncSeconds"): _dist(),
    ("cluster", "vanishedPodIp"): st.sampled_from(["timeout", "reset"]),
    ("cluster", "nodes"): st.integers(1, 50),
    ("traffic", "rps"): st.sampled_from([0.001, 1.0, 1000.0]) | st.floats(0.001, 1000),
    ("traffic", "durationSeconds"): st.floats(1e-9, 600),
    ("traffic", "tailSeconds"): st.floats(0, 600),
    ("simulation", "maxSeconds"): st.sampled_from([1e-9, 1.0, 600.0]) | st.floats(1e-9, 600),
}


@st.composite
def extreme_scenario(draw: st.DrawFn) -> str:
    tree: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(sorted(EXTREMES)), max_size=8, unique=True)):
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = draw(EXTREMES[path])
    return _render(tree)


@settings(SETTINGS, max_examples=75)  # each one that loads runs a (small) simulation
@given(extreme_scenario(), st.sampled_from([(), ("--output", "json"), ("--runs", "2")]))
def test_cli_takes_valid_scenarios_at_their_bounds(text: str, args: tuple[str, ...]) -> None:
    assume(_cheap(text))
    _check_cli(text.encode("utf-8"), *args)
