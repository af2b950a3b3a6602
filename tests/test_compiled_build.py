"""`make compiled` stays buildable and safe (tools/build_compiled.py): its module list names existing sources
and leaves out the modules that must stay interpreted, and its stamp follows the sources."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rollsafe_build_compiled", ROOT / "tools" / "build_compiled.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_module_list_names_existing_sources_once() -> None:
    tool = _load()
    assert tool.MODULES
    assert len(set(tool.MODULES)) == len(tool.MODULES)
    for module in tool.MODULES:
        assert (ROOT / "src" / module).is_file(), module


def test_modules_that_must_stay_interpreted_are_left_out() -> None:
    # lor.py is numba's; a compiled frozen dataclass (dist.py) cannot be unpickled for process pools and Dask
    tool = _load()
    assert "rollsafe/sim/lor.py" not in tool.MODULES
    assert "rollsafe/model/dist.py" not in tool.MODULES
    assert not [m for m in tool.MODULES if m.startswith("rollsafe/model/scenario")]


def test_every_control_module_is_compiled() -> None:
    # a control-plane module left interpreted would still work, but slowly and silently
    tool = _load()
    control = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/rollsafe/control").glob("*.py")}
    assert control <= set(tool.MODULES)


def test_the_stamp_follows_the_sources_and_ignores_build_artifacts(tmp_path: Path) -> None:
    tool = _load()
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
    tool = _load()
    assert tool.status(tmp_path / "nothing") is not None
    assert tool.stray_extensions() == []
