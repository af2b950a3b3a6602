"""advise's patch where the ALB settings come from Ingress annotations: manifests -> advise -> patch ->
apply -> simulate -f reproduces the prediction, and the annotations are rewritten on the Ingress with the
other key=value attributes kept. The target type (instance -> ip) is a required change here: instance
targets fail whatever the knobs say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollsafe.advise.patch import apply_patch
from rollsafe.cli import main

A = "alb.ingress.kubernetes.io/"

MANIFESTS = f"""\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: store
  annotations:
    {A}target-type: instance
    {A}healthcheck-interval-seconds: "20"
    {A}target-group-attributes: deregistration_delay.timeout_seconds=120,slow_start.duration_seconds=0
    {A}load-balancer-attributes: idle_timeout.timeout_seconds=60,routing.http2.enabled=true
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: shop
            port:
              number: 80
---
apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: store
spec:
  type: NodePort
  selector:
    app: shop
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: store
spec:
  replicas: 4
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
      - name: shop
        image: nginx:1.27
        ports:
        - containerPort: 80
"""


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_ingress_annotation_patch_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "app.yaml").write_text(MANIFESTS)
    args = [
        "advise",
        "-f",
        str(src),
        "--set",
        "traffic.rps=20",
        "--target",
        "0.2",
        "--runs",
        "14",
        "--trials",
        "3",
        "--only",
        "preStopSleepSeconds,readinessGate,targetType",
        # pinned ALB settings: the patch must write them, each into its Ingress annotation
        "--fix",
        "intervalSeconds=10",
        "--fix",
        "deregistrationDelaySeconds=60",
        "--fix",
        "idleTimeoutSeconds=50",
    ]
    code, out, err = run(*args, "--output", "json")
    assert code == 0, err
    doc = json.loads(out)["workloads"][0]
    rec = doc["recommendation"]
    assert rec is not None
    assert rec["p_any_failure_upper"] <= 0.2
    changes = {c["key"]: c for c in rec["changes"]}
    assert changes["loadBalancer.targetType"]["to"] == "ip"
    assert changes["loadBalancer.targetType"]["required"] is True
    assert changes["loadBalancer.targetType"]["kind"] == "manifest change"
    # the knobs alone found nothing; then the search ran again on ip targets
    assert [(p["required"], p["found"]) for p in doc["phases"]] == [
        ([], False),
        (["loadBalancer.targetType"], True),
    ]

    code, patch, _ = run(*args, "--output", "patch")
    assert code == 0
    patches = [d for d in yaml.safe_load_all(patch) if d]
    ingress = next(p for p in patches if p["kind"] == "Ingress")
    assert ingress["metadata"] == {
        "name": "shop",
        "namespace": "store",
        "annotations": {
            f"{A}healthcheck-interval-seconds": "10",
            f"{A}target-type": "ip",
            f"{A}target-group-attributes": (
                "deregistration_delay.timeout_seconds=60,slow_start.duration_seconds=0"
            ),
            f"{A}load-balancer-attributes": "idle_timeout.timeout_seconds=50,routing.http2.enabled=true",
        },
    }
    assert not any(p["kind"] == "Service" for p in patches)  # the Service sets none of these
    if changes.get("workload.readinessGate", {}).get("to"):
        assert any(p["kind"] == "Namespace" for p in patches)

    objects = [d for d in yaml.safe_load_all(MANIFESTS) if d]
    patched = apply_patch(objects, patches)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "patched.yaml").write_text(yaml.safe_dump_all(patched))
    # simulate -f on the patched manifests, over the runs advise gave the recommendation, same seeds
    n = rec["runs"]
    code, out, err = run(
        "simulate", "-f", str(out_dir), "--set", "traffic.rps=20", "--runs", str(n), "--output", "json"
    )
    assert code == 0, err
    sim = json.loads(out)["workloads"][0]
    lb = sim["settings"]["loadBalancer"]
    assert (lb["targetType"], lb["idleTimeoutSeconds"], lb["deregistrationDelaySeconds"]) == ("ip", 50, 60)
    assert lb["healthCheck"]["intervalSeconds"] == 10
    assert sim["probability"]["runs"] == n
    assert sim["probability"]["p_any_failure"] == pytest.approx(rec["p_any_failure"], abs=1e-6)
    assert sim["requests"]["failed"] == pytest.approx(rec["expected_failures"], abs=1e-3)


def test_recreate_manifest_gets_rollingupdate_in_the_deployment_patch(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(MANIFESTS) if d]
    for d in docs:
        if d["kind"] == "Deployment":
            d["spec"]["replicas"] = 3
            d["spec"]["strategy"] = {"type": "Recreate"}
        if d["kind"] == "Ingress":
            d["metadata"]["annotations"] = {f"{A}target-type": "ip"}
    src = tmp_path / "in"
    src.mkdir()
    (src / "app.yaml").write_text(yaml.safe_dump_all(docs))
    args = ["advise", "-f", str(src), "--set", "traffic.rps=20", "--target", "0.2", "--runs", "14"]
    args += ["--trials", "2", "--only", "preStopSleepSeconds,readinessGate,strategy.type"]
    code, out, err = run(*args, "--output", "json")
    assert code == 0, err
    rec = json.loads(out)["workloads"][0]["recommendation"]
    assert rec["changes"][0]["key"] == "workload.strategy.type"
    code, patch, _ = run(*args, "--output", "patch")
    assert code == 0
    patches = [d for d in yaml.safe_load_all(patch) if d]
    deployment = next(p for p in patches if p["kind"] == "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}  # the API server defaults the rest
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "patched.yaml").write_text(yaml.safe_dump_all(apply_patch(docs, patches)))
    n = rec["runs"]
    code, out, err = run(
        "simulate", "-f", str(out_dir), "--set", "traffic.rps=20", "--runs", str(n), "--output", "json"
    )
    assert code == 0, err
    sim = json.loads(out)["workloads"][0]
    assert sim["settings"]["workload"]["strategy"]["type"] == "RollingUpdate"
    assert sim["probability"]["p_any_failure"] == pytest.approx(rec["p_any_failure"], abs=1e-6)
    assert sim["requests"]["failed"] == pytest.approx(rec["expected_failures"], abs=1e-3)
