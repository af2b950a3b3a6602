"""`make mutants` stays runnable: every listed breakage still applies to exactly one place in the code, and
the list covers every control-plane component and the data plane (tools/mutants.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutant_applies_to_exactly_one_place() -> None:
    mutants = load_tool("mutants.py")
    for m in mutants.MUTANTS:
        text = (ROOT / "src" / "rollsafe" / m.file).read_text(encoding="utf-8")
        assert text.count(m.original) == 1, f"{m.file}: {m.why}: the original line changed; update the list"
        assert m.original != m.mutated


def test_the_list_covers_the_control_plane_and_the_data_plane() -> None:
    mutants = load_tool("mutants.py")
    files = {m.file for m in mutants.MUTANTS}
    assert len(mutants.MUTANTS) >= 15
    for component in (
        "deployment", "replicaset", "kubelet", "endpointslice", "kube_proxy", "lb_controller", "target_group",
    ):  # fmt: skip
        assert f"control/{component}.py" in files, component
    assert "sim/dataplane.py" in files
