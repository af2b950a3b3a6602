"""Shared helpers: scenarios built from plain dicts, and a cluster run step by step."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

import rollsafe

if TYPE_CHECKING:
    from rollsafe.control.cluster import Cluster
    from rollsafe.model.scenario import Scenario
    from rollsafe.sim.dataplane import Evaluator
    from rollsafe.sim.scheduler import VirtualScheduler
    from rollsafe.sim.simulate import ControlPlane

# The suite's CLI tests were written for one run each; the default Monte Carlo (40-200 runs) would make
# them 40 times slower. --runs reads ROLLSAFE_RUNS (README); tests of the default unset it.
os.environ["ROLLSAFE_RUNS"] = "1"

# A mypyc-compiled build (`make test-compiled`: tools/build_compiled.py, then PYTHONPATH=build/mypyc/src) is
# tested with this same suite. There a test cannot reach inside the control plane: compiled code calls its
# methods directly (a patched class attribute is never consulted, a method cannot be reassigned) and an
# interpreted class cannot subclass a compiled one. Tests that do so are marked pure_only and skipped on a
# compiled build.
#
# Nothing below rollsafe/ is imported before pytest_configure has looked for stray extension modules. Python
# imports an extension module (rollsafe/control/api.cpython-311-....so) before the .py beside it: that is
# what the compiled build is, and what a stale one left in src/ would silently be.
PACKAGE = Path(rollsafe.__file__).resolve().parent
COMPILED = any((PACKAGE / "control" / f"api{suffix}").is_file() for suffix in EXTENSION_SUFFIXES)


def _stray_extension() -> Path | None:
    """An extension module in the tree rollsafe is imported from, unless that tree is a build made by
    tools/build_compiled.py (its stamp.json beside src/): compiled modules are only ever taken from there."""
    src = PACKAGE.parent
    if (src.parent / "stamp.json").is_file():
        return None
    found = sorted(p for suffix in ("*.so", "*.pyd") for p in [*src.glob(suffix), *PACKAGE.rglob(suffix)])
    return found[0] if found else None


def pytest_configure(config: pytest.Config) -> None:
    stray = _stray_extension()
    if stray is not None:
        pytest.exit(
            f"{stray}: a compiled module in the source tree shadows the .py beside it; remove it "
            "(compiled builds belong in build/mypyc: make compiled, make test-compiled)",
            returncode=2,
        )
    if os.environ.get("ROLLSAFE_EXPECT_COMPILED") == "1" and not COMPILED:
        pytest.exit(
            f"ROLLSAFE_EXPECT_COMPILED=1 but rollsafe is imported from sources ({rollsafe.__file__}); "
            "run with PYTHONPATH=build/mypyc/src (make test-compiled)",
            returncode=2,
        )
    config.addinivalue_line(
        "markers", "pure_only: patches or subclasses compiled code; skipped on a mypyc-compiled build"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if COMPILED:
        skip = pytest.mark.skip(reason="patches or subclasses compiled code (mypyc build)")
        for item in items:
            if "pure_only" in item.keywords:
                item.add_marker(skip)


def load_tool(filename: str) -> ModuleType:
    """A script of tools/ (not a package), loaded as a module: ``load_tool("mutants.py")``."""
    name = "rollsafe_tool_" + filename.removesuffix(".py")
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "tools" / filename
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def scenario(**sections: Any) -> Scenario:
    """``scenario(workload={"replicas": 3})``: a Scenario from scenario-file spellings."""
    from rollsafe.model.scenario import Scenario

    return Scenario.model_validate(sections)


def builtin_variant(name: str, **patch: dict[str, object]) -> Scenario:
    """Built-in ``name`` with some settings of its sections replaced, in scenario-file spellings:
    ``builtin_variant("eks-alb-defaults", loadBalancer={"algorithm": "weighted_random"})``."""
    from rollsafe.model.scenario import Scenario
    from rollsafe.scenarios import load_builtin

    d = load_builtin(name).model_dump(by_alias=True, exclude_unset=True)  # what the file sets
    for section, values in patch.items():
        d.setdefault(section, {}).update(values)
    return Scenario.model_validate(d)


def fresh_evaluators(sc: Scenario, cp: ControlPlane, *, keep: tuple[bool, ...]) -> list[Evaluator]:
    """One data-plane Evaluator of ``cp`` per entry of ``keep`` (its keep_requests), each on fresh traffic
    streams, as simulate() builds it: runs to compare with each other."""
    from rollsafe.sim.dataplane import Evaluator

    return [
        Evaluator(
            sc, cp.views, cp.windows(), rngs=cp.traffic_rngs(), duration_s=cp.duration_s, keep_requests=k
        )
        for k in keep
    ]


def run_cluster(
    sc: Scenario,
    seed: int = 1,
    *,
    until: float = 600.0,
    check: Callable[[Cluster], None] | None = None,
    sched: VirtualScheduler | None = None,
) -> Cluster:
    """Runs the control plane alone until it settles (or ``until``), calling ``check`` after every event;
    on a FIFO VirtualScheduler unless ``sched`` is given (a TieShufflingScheduler, say)."""
    from rollsafe.control.cluster import Cluster
    from rollsafe.sim.rng import SeededStreams
    from rollsafe.sim.scheduler import VirtualScheduler

    if sched is None:
        sched = VirtualScheduler()
    cluster = Cluster(sched, SeededStreams(seed), sc)
    if check is not None:
        sched.after_each = lambda: check(cluster)
    sched.call_at(0.0, cluster.start_rollout)
    t = 0.0
    while t < until and not cluster.settled():
        t += 1.0
        sched.run(until=t)
    return cluster
