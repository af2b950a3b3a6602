"""`make compiled` stays buildable and safe (tools/build_compiled.py): its module list names existing sources
and leaves out the modules that must stay interpreted, and its stamp follows the sources."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_tool

ROOT = Path(__file__).resolve().parents[1]


def test_module_list_names_existing_sources_once() -> None:
    tool = load_tool("build_compiled.py")
    assert tool.MODULES
    assert len(set(tool.MODULES)) == len(tool.MODULES)
    for module in tool.MODULES:
        assert (ROOT / "src" / module).is_file(), module


def test_modules_that_must_stay_interpreted_are_left_out() -> None:
    # lor.py is numba's; a compiled frozen dataclass (dist.py) cannot be unpickled for process pools and Dask
    tool = load_tool("build_compiled.py")
    assert "rollsafe/sim/lor.py" not in tool.MODULES
    assert "rollsafe/model/dist.py" not in tool.MODULES
    assert not [m for m in tool.MODULES if m.startswith("rollsafe/model/scenario")]


def test_every_control_module_is_compiled() -> None:
    # a control-plane module left interpreted would still work, but slowly and silently
    tool = load_tool("build_compiled.py")
    control = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/rollsafe/control").glob("*.py")}
    assert control <= set(tool.MODULES)


def test_the_stamp_follows_the_sources_and_ignores_build_artifacts(tmp_path: Path) -> None:
    tool = load_tool("build_compiled.py")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    before = tool.expected_stamp(tmp_path)
    (tmp_path / "pkg" / "a.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\0")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    assert tool.expected_stamp(tmp_path) == before
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert tool.expected_stamp(tmp_path) != before


def test_no_build_is_reported_missing_not_fresh(tmp_path: Path) -> None:
    tool = load_tool("build_compiled.py")
    assert tool.status(tmp_path / "nothing") is not None
    assert tool.stray_extensions() == []
