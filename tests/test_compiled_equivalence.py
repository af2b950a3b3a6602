"""The mypyc-compiled build (``make test-compiled``) gives the outputs the sources give, byte for byte: every
built-in under several settings and seeds, run once by the compiled build (this process) and once by the
sources (a child process importing rollsafe from src/), each run reduced to a digest of its traffic counts,
its timeline (values with their types: ``30`` is not ``30.0``) and its result fields.

On the sources alone there is nothing to compare, so the test runs only in a compiled session."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import COMPILED

SRC = Path(__file__).resolve().parents[1] / "src"

# setting changes on top of each built-in (scenario-file spellings), and the seeds each is run with
VARIANTS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "as-is": ({}, (1, 7)),
    "lor": ({"loadBalancer": {"algorithm": "least_outstanding_requests"}}, (1,)),
    "random": ({"loadBalancer": {"algorithm": "weighted_random"}}, (1,)),
    "closed": ({"traffic": {"model": "closed", "clients": 30, "rps": None}}, (1,)),
    "40-replicas": ({"workload": {"replicas": 40}, "traffic": {"rps": 50}}, (2,)),
}
FIELDS = (
    "duration_s",
    "rollout_s",
    "settled_s",
    "steps",
    "registrations",
    "deregistrations",
    "no_healthy_target_s",
    "stop_routing_lag_s",
    "registration_to_first_traffic_s",
    "milestones",
    "max_surge",
    "max_unavailable",
    "control_events",
)


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def digests() -> dict[str, str]:
    """One digest per (built-in, variant, seed), from whichever build of rollsafe this process imports."""
    from rollsafe.model.scenario import Scenario
    from rollsafe.scenarios import builtin_names, load_builtin
    from rollsafe.sim.simulate import simulate

    out = {}
    for name in builtin_names():
        base = load_builtin(name)
        for label, (patch, seeds) in VARIANTS.items():
            if patch:
                spec = base.model_dump(by_alias=True, exclude_unset=True)  # what the file sets
                _merge(spec, patch)
                sc = Scenario.model_validate(spec)
            else:
                sc = base  # as loaded: settings left at their defaults keep their default's type
            for seed in seeds:
                r = simulate(sc, seed)
                h = hashlib.sha256()
                h.update(np.ascontiguousarray(r.traffic.by_code).tobytes())
                h.update(np.ascontiguousarray(r.traffic.per_second).tobytes())
                timeline = [(e.t_s, e.source, e.kind, e.object, sorted(e.attrs.items())) for e in r.timeline]
                h.update(repr(timeline).encode())
                for f in FIELDS:
                    h.update(repr(getattr(r, f)).encode())
                out[f"{name}/{label}/{seed}"] = h.hexdigest()
    return out


@pytest.mark.skipif(not COMPILED, reason="compares the compiled build with the sources: make test-compiled")
def test_the_compiled_build_gives_the_sources_outputs() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(SRC.parent)]))
    env.pop("ROLLSAFE_EXPECT_COMPILED", None)
    child = subprocess.run(
        [sys.executable, __file__],
        env=env,
        cwd=SRC.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    pure = json.loads(child.stdout)
    assert pure.pop("__compiled__") is False  # the child ran the sources
    compiled = digests()
    assert len(compiled) == len(pure) > 0
    differ = sorted(k for k in compiled if compiled[k] != pure.get(k))
    assert not differ, f"{len(differ)} runs differ between the builds, e.g. {differ[:5]}"


if __name__ == "__main__":  # the child: digests from the build it imports, and which build that is
    import rollsafe.control.api

    result: dict[str, Any] = dict(digests())
    result["__compiled__"] = not rollsafe.control.api.__file__.endswith(".py")
    print(json.dumps(result))
