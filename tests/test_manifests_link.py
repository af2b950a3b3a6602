"""Linking and facts: Ingress (v1 and legacy) / TargetGroupBinding → Service → Deployment, annotation
precedence, defaults with their sources, preStop recognition, and provenance lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.lint.pipeline import analyse
from rollsafe.manifests.facts import exec_sleep_seconds
from rollsafe.manifests.link import link
from rollsafe.manifests.reader import read_paths, read_text

DATA = "tests/data/manifests"


def _workloads(*paths: str) -> dict[str, object]:
    report = analyse(list(paths))
    return {w.facts.key: w for w in report.workloads}


def test_realistic_sets_link_every_workload_behind_an_alb() -> None:
    report = analyse([f"{DATA}/shop", f"{DATA}/helm", f"{DATA}/legacy", f"{DATA}/tgb"])
    keys = [w.facts.key for w in report.workloads]
    assert keys == ["default/billing", "legacy/reports", "search/search", "shop/cart-api", "shop/storefront"]
    assert [f"{d.namespace}/{d.name}" for d in report.linked.not_behind_alb] == ["shop/cart-worker"]
    assert not [p for p in report.problems if p.fatal]


def test_legacy_ingress_skips_action_backends_and_defaults_to_instance_targets() -> None:
    w = analyse([f"{DATA}/legacy"]).workloads[0].facts
    assert w.fronts == [f"Ingress reports ({DATA}/legacy/app.yaml:21)"]
    assert w.target_type.value == "instance"
    assert w.target_type.source.kind == "default"
    assert w.strategy_type.value == "Recreate"
    assert w.strategy_type.source.line == 45


def test_target_group_binding_reads_its_target_type_and_assumes_aws_health_checks() -> None:
    w = analyse([f"{DATA}/tgb"]).workloads[0]
    f = w.facts
    assert f.tgb
    assert f.target_type.value == "ip"
    assert f.gate
    assert f.hc_interval.value == 30
    assert f.hc_interval.source.kind == "assumption"
    assert any("TargetGroupBinding" in a and "AWS's defaults" in a for a in w.built.assumptions)
    # the exec preStop with a curl before the sleep: 15 s, said so
    pre = f.serving.pre_stop if f.serving else None
    assert pre is not None
    assert pre.kind == "exec-sleep"
    assert pre.seconds == 15
    assert "liveness-equals-readiness" in f.ignored


def test_service_annotations_win_over_the_ingress() -> None:
    report = analyse([f"{DATA}/shop"])
    api = next(w.facts for w in report.workloads if w.facts.name == "cart-api")
    assert api.hc_path.value == "/ready"
    assert api.hc_path.source.file == f"{DATA}/shop/cart-api.yaml"
    assert api.hc_interval.value == 10  # from the Ingress: the Service does not set it
    assert api.deregistration_delay.value == 30
    assert api.deregistration_delay.source.line == 11


def test_provenance_points_at_the_line_that_set_the_value() -> None:
    w = analyse([f"{DATA}/shop"]).workloads[1]
    f = w.facts
    assert f.key == "shop/storefront"
    assert (f.grace_period.value, f.grace_period.source.line) == (45, 36)
    assert f.serving is not None
    assert f.serving.name == "storefront"
    assert f.serving.pre_stop.source.line == 51
    assert f.gate_requested.source.file == f"{DATA}/shop/namespace.yaml"
    assert w.built.provenance["workload.replicas"].line == 23
    assert w.built.scenario is not None
    assert w.built.scenario.workload.readiness_gate


def test_missing_service_wrong_port_and_foreign_ingress_class() -> None:
    text = """\
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a}
spec: {ingressClassName: alb, defaultBackend: {service: {name: gone, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: b}
spec: {ingressClassName: alb, defaultBackend: {service: {name: web, port: {name: grpc}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: c}
spec: {ingressClassName: nginx, defaultBackend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web}]}}}
"""
    got = link(read_text(text, source="m.yaml").objects)
    assert got.workloads == []
    assert [d.name for d in got.not_behind_alb] == ["web"]
    messages = [str(p) for p in got.problems]
    assert messages[0].startswith(
        "m.yaml:9: Ingress default/a sends to Service default/gone, which is not in"
    )
    assert messages[1].startswith("m.yaml:14: Ingress default/b sends to port 'grpc'")
    assert all(not p.fatal for p in got.problems)


def test_selector_must_match_in_the_same_namespace() -> None:
    objs = read_paths([f"{DATA}/shop"]).objects
    moved = [o for o in objs if not (o.kind == "Deployment" and o.name == "cart-api")]
    got = link(moved)
    assert [w.deployment.name for w in got.workloads] == ["storefront"]
    assert any(
        "no Deployment in the input matches its selector {app: cart-api}" in str(p) for p in got.problems
    )


@pytest.mark.parametrize(
    ("cmd", "seconds"),
    [
        (["sleep", "15"], 15),
        (["/bin/sleep", "20s"], 20),
        (["sh", "-c", "sleep 5"], 5),
        (["/bin/sh", "-c", "nginx -s quit && sleep 120"], 120),
        (["bash", "-c", "sleep 2; sleep 3"], 5),
        (["sh", "-c", "sleep 1m"], 60),
        (["sh", "-c", "while true; do sleep 1; done"], None),
        (["sh", "-c", "sleep $DELAY"], None),
        (["sh", "-c", "/app/drain.sh"], None),
        (["/app/drain"], None),
        ([], None),
    ],
)
def test_exec_prestop_sleep_recognition(cmd: list[str], seconds: float | None) -> None:
    assert exec_sleep_seconds(cmd) == seconds


def test_unknown_prestop_is_said_and_simulated_as_zero() -> None:
    hook = '"lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 80}}}'
    original = Path(f"{DATA}/builtin-defaults/all.json").read_text()
    text = original.replace('"ports": [{"containerPort": 80}]', '"ports": [{"containerPort": 80}], ' + hook)
    report = analyse(["-"], stdin=text)
    w = report.workloads[0]
    assert w.built.data["workload"]["preStopSleepSeconds"] == 0
    assert any("duration unknown, simulated as 0 s" in a for a in w.built.assumptions)
    assert "missing-prestop-delay" not in [f.rule for f in w.findings]


def test_hpa_min_replicas_stand_in_for_missing_replicas() -> None:
    w = analyse([f"{DATA}/helm"]).workloads[0]
    assert w.facts.replicas.value == 2
    assert w.facts.replicas.source.detail.startswith("minReplicas of HorizontalPodAutoscaler default/billing")
    assert w.facts.replicas.source.line == 93
    assert any("the HPA may run more" in a for a in w.built.assumptions)


def test_ignore_annotation_on_the_ingress_and_unknown_ids() -> None:
    text = Path(f"{DATA}/helm/rendered.yaml").read_text()
    text = text.replace(
        "alb.ingress.kubernetes.io/target-type: ip",
        "alb.ingress.kubernetes.io/target-type: ip\n    rollsafe.io/ignore: healthcheck-setting-out-of-range",
    )
    text = text.replace(
        "kind: Deployment\nmetadata:\n  name: billing\n",
        "kind: Deployment\nmetadata:\n  name: billing\n"
        "  annotations: {rollsafe.io/ignore: missing-prestop-dely}\n",
    )
    report = analyse(["-"], stdin=text)
    rules = [f.rule for f in report.findings]
    assert "healthcheck-setting-out-of-range" not in rules
    assert "missing-prestop-delay" in rules  # the misspelt id ignores nothing, and says so
    assert [str(p) for p in report.problems] == [
        "<stdin>:47: rollsafe.io/ignore: no rule 'missing-prestop-dely' (`rollsafe rules` lists them)"
    ]
