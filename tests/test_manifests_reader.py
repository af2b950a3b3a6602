"""Reading manifests: documents, lines, Lists, JSON, directories, and every kind of bad input as a Problem
naming the file and line, with the rest of the input still read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rollsafe.manifests.reader import read_paths, read_text

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
"""


def test_multi_document_lines_are_lines_of_the_file() -> None:
    text = "# a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n" + DEPLOYMENT
    got = read_text(text, source="all.yaml")
    assert [o.kind for o in got.objects] == ["Service", "Deployment"]
    dep = got.objects[1]
    assert dep.line("spec", "replicas") == 12
    assert dep.line("metadata", "name") == 10
    assert dep.namespace == "default"
    assert got.problems == []


def test_a_bad_document_costs_only_itself() -> None:
    text = (
        DEPLOYMENT
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: [oops\n---\n"
        + DEPLOYMENT.replace("web", "api")
    )
    got = read_text(text, source="x.yaml")
    assert [o.name for o in got.objects] == ["web", "api"]
    assert len(got.problems) == 1
    p = got.problems[0]
    assert p.file == "x.yaml"
    assert p.line is not None
    assert 8 <= p.line <= 11
    assert "not valid YAML" in p.message


def test_list_json_and_skipped_kinds() -> None:
    got = read_paths(["tests/data/manifests/builtin-defaults/all.json"])
    assert [o.kind for o in got.objects] == ["Ingress", "Service", "Deployment"]
    dep = got.objects[2]
    assert dep.base == ("items", 2)
    assert dep.line("spec", "replicas") == 26
    helm = read_paths(["tests/data/manifests/helm"])
    assert helm.skipped == {
        "v1 ServiceAccount": 1,
        "v1 ConfigMap": 1,
    }


def test_json_that_yaml_refuses_is_still_read() -> None:
    text = '{\n\t"apiVersion": "v1",\n\t"kind": "Service",\n\t"metadata": {"name": "web"}\n}\n'
    got = read_text(text, source="svc.json")
    assert [o.name for o in got.objects] == ["web"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- a\n- b\n", "not a Kubernetes object"),
        ("kind: Service\nmetadata: {name: x}\n", "apiVersion and kind"),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n", "duplicate key"),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "without metadata.name"),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Values.name }}\n",
            "unrendered template",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: '${NAME}'}\n", "render it first"),
        ("apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: x}\n", "only apps/v1 is read"),
        (
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            + "".join(
                f"c{i}: &c{i} [" + ", ".join([f"*{'b' if i == 0 else f'c{i - 1}'}"] * 9) + "]\n"
                for i in range(6)
            ),
            "refused",
        ),
        ("x: " + "[" * 200 + "]" * 200 + "\n", "nested too deeply"),
    ],
)
def test_bad_documents_are_problems_with_a_line(text: str, needle: str) -> None:
    got = read_text(text + "---\n" + DEPLOYMENT, source="bad.yaml")
    assert [o.name for o in got.objects] == ["web"], "the good document after the bad one is still read"
    assert len(got.problems) == 1, got.problems
    assert needle in str(got.problems[0])
    assert str(got.problems[0]).startswith("bad.yaml")


def test_a_ten_megabyte_line_is_refused_quickly(tmp_path: Path) -> None:
    f = tmp_path / "huge.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\ndata: {x: " + "a" * 10_000_000 + "}\n")
    got = read_paths([str(f)])
    assert got.objects == []
    assert got.problems[0].line == 3
    assert "million characters" in got.problems[0].message


def test_binary_unreadable_non_utf8_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    locked = tmp_path / "locked.yaml"
    locked.write_text(DEPLOYMENT)
    locked.chmod(0)
    (tmp_path / "ok.yml").write_text(DEPLOYMENT)
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hidden.yaml").write_text(DEPLOYMENT)
    try:
        got = read_paths([str(tmp_path), str(tmp_path / "nope.yaml")])
    finally:
        locked.chmod(0o600)
    messages = {Path(p.file).name: p.message for p in got.problems}
    assert "binary" in messages["bin.yaml"]
    assert "UTF-8" in messages["latin1.yaml"]
    assert messages["nope.yaml"] == "no such file or directory"
    if os.geteuid() != 0:  # root reads anything
        assert "cannot read" in messages["locked.yaml"]
    assert [o.name for o in got.objects].count("web") == (1 if os.geteuid() != 0 else 2)
    assert "notes.txt" not in messages
    assert "hidden.yaml" not in messages


def test_templates_in_free_text_are_fine() -> None:
    text = DEPLOYMENT + (
        "  template:\n    spec:\n      containers:\n        - name: web\n          image: ${IMAGE}\n"
        "          env: [{name: A, value: '{{ not a template }}'}]\n"
        "          lifecycle: {preStop: {exec: {command: [sh, -c, 'sleep ${DELAY}']}}}\n"
    )
    got = read_text(text, source="d.yaml")
    assert [o.name for o in got.objects] == ["web"]
    assert got.problems == []


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",
        "a: {<<: {b: 1}, c: 2}\n",
        "a: 2001-12-14\nb: !!binary aGVsbG8=\nc: [1, 2.5, yes, ~, 0o17, 0x1f, .inf, 1_000]\nd: !!str 5\n",
        "a: !!set {x, y}\n",
        "- [a, {b: c}]\n",
        Path("tests/data/manifests/helm/rendered.yaml").read_text().split("---")[4],
    ],
)
def test_fast_construct_builds_what_pyyaml_builds(text: str) -> None:
    import yaml

    from rollsafe.manifests.reader import _construct

    loader = yaml.SafeLoader(text)
    node = loader.get_single_node()
    assert node is not None
    assert _construct(loader, node) == yaml.safe_load(text)


def test_parallel_reading_gives_the_same_result_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollsafe.manifests import reader

    monkeypatch.setattr(reader, "PARALLEL_CHARS", 0)  # the test data is small; make it worth a pool
    paths = ["tests/data/manifests", "-"]
    stdin = Path("tests/data/manifests/helm/rendered.yaml").read_text()
    monkeypatch.setattr(reader, "BATCH_CHARS", 1000)  # and stdin several batches
    serial = read_paths(paths, workers=1, stdin=stdin)
    parallel = read_paths(paths, workers=2, stdin=stdin)
    assert [o.file for o in serial.objects].count("<stdin>") == 4  # Service, Deployment, HPA, Ingress
    assert [(o.file, o.ref, o.lines) for o in parallel.objects] == [
        (o.file, o.ref, o.lines) for o in serial.objects
    ]
    assert parallel.skipped == serial.skipped
    assert parallel.problems == serial.problems
    assert (parallel.files, parallel.documents) == (serial.files, serial.documents)


def test_other_kinds_are_counted_without_being_read() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: b}\n---\n" + DEPLOYMENT
    text += "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n"
    got = read_text(text, source="r.yaml")
    assert got.skipped == {"v1 Secret": 1, "apiextensions.k8s.io/v1 CustomResourceDefinition": 1}
    assert got.documents == 3
    assert [o.name for o in got.objects] == ["web"]


HELM = Path("tests/data/manifests/helm/rendered.yaml").read_text()


@pytest.mark.parametrize("cut", range(0, 4000, 97))
def test_truncated_or_garbled_text_is_problems_never_exceptions(cut: int) -> None:
    from rollsafe.lint.pipeline import analyse

    truncated = HELM[:cut]
    garbled = HELM[:cut] + "\t: [{\n" + HELM[cut:]
    for text in (truncated, garbled):
        report = analyse(["-"], stdin=text)
        for p in report.problems:
            assert p.file == "<stdin>"
            assert p.message
