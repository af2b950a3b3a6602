"""Every rule's PASS and FAIL examples from its docstring, run through the whole pipeline; the rule table;
and the findings on the realistic manifest sets."""

from __future__ import annotations

import re

import pytest

from rollsafe.lint.engine import RULES, Config, notes_for_scenario, run_rules
from rollsafe.lint.pipeline import analyse
from rollsafe.model.scenario import Scenario

EXAMPLES = [(r.id, kind, text) for r in RULES for kind, text in r.examples()]


def test_every_rule_has_an_id_a_severity_why_fix_and_both_examples() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", r.id), r.id
        assert r.severity in ("error", "warning", "info")
        assert r.why, r.id
        assert r.how_to_fix, r.id
        assert sorted(k for k, _ in r.examples()) == ["FAIL", "PASS"], r.id
    assert {
        "missing-readiness-probe",
        "missing-prestop-delay",
        "prestop-exceeds-grace-period",
        "grace-period-too-short",
        "prestop-shorter-than-deregistration-lag",
        "readiness-gate-not-enabled",
        "readiness-gate-impossible",
        "rollout-outpaces-target-registration",
        "healthcheck-setting-out-of-range",
        "max-unavailable-whole-fleet",
        "liveness-equals-readiness",
    } <= set(ids)


@pytest.mark.parametrize(("rule", "kind", "text"), EXAMPLES, ids=[f"{r}-{k}" for r, k, _ in EXAMPLES])
def test_docstring_examples(rule: str, kind: str, text: str) -> None:
    report = analyse(["-"], stdin=text)
    assert not report.problems, report.problems
    assert len(report.workloads) == 1, "an example is one workload behind an ALB"
    fired = [f for f in report.findings if f.rule == rule]
    if kind == "FAIL":
        assert fired, f"{rule} did not fire on its FAIL example"
        for f in fired:
            assert f.file == "<stdin>"
            assert f.line >= 1
            assert f.evidence
            assert f.fix
    else:
        assert not fired, f"{rule} fired on its PASS example: {fired[0].message}"


def _findings(*paths: str) -> dict[str, list[str]]:
    report = analyse(list(paths))
    return {w.facts.key: [f.rule for f in w.findings] for w in report.workloads}


def test_findings_on_the_realistic_sets() -> None:
    got = _findings(
        "tests/data/manifests/shop",
        "tests/data/manifests/helm",
        "tests/data/manifests/legacy",
        "tests/data/manifests/tgb",
    )
    # a 20 s sleep is below the calibrated deregistration lag's p99 (issue 6), even on the well-set app
    assert got["shop/storefront"] == ["prestop-shorter-than-deregistration-lag"]
    assert got["shop/cart-api"] == [
        "keepalive-shorter-than-idle-timeout",
        "liveness-equals-readiness",
        "prestop-shorter-than-deregistration-lag",
    ]
    assert set(got["default/billing"]) == {
        "healthcheck-setting-out-of-range",  # interval 400
        "missing-prestop-delay",
        "rollout-outpaces-target-registration",
        "liveness-equals-readiness",
        "readiness-gate-not-enabled",
    }
    assert set(got["legacy/reports"]) == {
        "max-unavailable-whole-fleet",  # Recreate
        "missing-prestop-delay",
        "missing-readiness-probe",
        "readiness-gate-impossible",
    }
    # the TargetGroupBinding app: liveness-equals-readiness is ignored by annotation
    assert got["search/search"] == ["grace-period-too-short", "prestop-shorter-than-deregistration-lag"]


def test_findings_are_sorted_errors_first_and_point_at_lines() -> None:
    report = analyse(["tests/data/manifests/helm"])
    findings = report.workloads[0].findings
    assert [f.severity for f in findings] == sorted(
        (f.severity for f in findings), key=["error", "warning"].index
    )
    interval = next(f for f in findings if f.rule == "healthcheck-setting-out-of-range")
    assert (interval.file, interval.line) == ("tests/data/manifests/helm/rendered.yaml", 105)


def test_config_disables_and_reseverities_rules() -> None:
    facts = analyse(["tests/data/manifests/shop"]).workloads[0].facts  # cart-api
    cfg = Config(
        disabled={"liveness-equals-readiness"}, severity={"keepalive-shorter-than-idle-timeout": "error"}
    )
    got = {f.rule: f.severity for f in run_rules(facts, cfg)}
    assert "liveness-equals-readiness" not in got
    assert got["keepalive-shorter-than-idle-timeout"] == "error"


def test_deregistration_lag_comes_from_the_scenario_default() -> None:
    """The expected lag is the Scenario model's default, not a copy: change the default, the rule follows."""
    from rollsafe.lint import model

    lag, why = model.deregistration_lag(analyse(["tests/data/manifests/shop"]).workloads[0].facts)
    lb = Scenario().load_balancer
    p99 = lb.deregister_propagation_seconds.quantile(0.99)
    assert lag == round(p99 + lb.deregister_propagation_node_jitter_seconds.b, 1)
    assert 20 < p99 < 40  # the heavy tail, not an upper bound of a few seconds
    assert "MODEL ASSUMPTION" in why
    assert "p99" in why


def test_simulate_notes_are_the_note_rules_findings() -> None:
    sc = Scenario.model_validate(
        {"workload": {"preStopSleepSeconds": 40}, "app": {"keepAliveTimeoutSeconds": 5}}
    )
    notes = notes_for_scenario(sc)
    assert len(notes) == 2
    assert "cut at the grace period" in notes[0]
    assert notes[0].endswith("[prestop-exceeds-grace-period]")
    assert notes[1].endswith("[keepalive-shorter-than-idle-timeout]")
    drain = Scenario.model_validate(
        {"workload": {"preStopSleepSeconds": 20}, "app": {"onSigterm": "drain", "drainSeconds": 15}}
    )
    assert notes_for_scenario(drain) == [
        "preStop (20 s) + drainSeconds (15 s) exceed terminationGracePeriodSeconds (30 s): SIGKILL cuts the "
        "drain short [grace-period-too-short]"
    ]
    assert notes_for_scenario(Scenario()) == []


def test_docs_list_every_rule_and_profile() -> None:
    from pathlib import Path

    from rollsafe.manifests.profiles import PROFILES

    def norm(text: str) -> str:
        return " ".join(text.replace("``", "`").lower().split())

    doc = Path("docs/lint.md").read_text()
    for r in RULES:
        assert f"| `{r.id}` |" in doc, r.id
        assert f"### `{r.id}`" in doc, r.id
        assert norm(r.why) in norm(doc), f"docs/lint.md: the why of {r.id} is not the rule's own"
    for name in PROFILES:
        assert f"`{name}`" in doc, name


@pytest.mark.parametrize(
    ("codes", "fires"),
    [("200", False), ("200,202", False), ("200-299", False), ("12", False), ("500", True), ("2xx", True)],
)
def test_success_codes_range(codes: str, fires: bool) -> None:
    ex = dict(RULES[0].examples())["PASS"]  # any valid workload
    text = ex.replace(
        "alb.ingress.kubernetes.io/target-type: ip",
        f"alb.ingress.kubernetes.io/target-type: ip, alb.ingress.kubernetes.io/success-codes: '{codes}'",
    )
    report = analyse(["-"], stdin=text)
    hits = [f for f in report.findings if f.rule == "healthcheck-setting-out-of-range"]
    assert bool(hits) == fires
    if fires:
        assert "success codes" in hits[0].message
        assert hits[0].line == 3
