"""Builds a mypyc-compiled copy of rollsafe OUT OF TREE: ``make compiled``, then
``PYTHONPATH=build/mypyc/src``.

usage: python tools/build_compiled.py [--force] [--check] [OUT_DIR]   (default: build/mypyc in the repo)

Run it with the project's own interpreter (``.venv/bin/python``, as the Makefile does): mypyc comes with mypy,
a dev dependency, and the compiled modules only load in the CPython version that built them. It copies
``src/`` to ``OUT_DIR/src`` (no caches, no extension modules), compiles ``MODULES`` there (mypyc's C files
end up in ``OUT_DIR/c``), and writes ``OUT_DIR/stamp.json`` last: a hash of every source file under
``src/`` and of this script, the module list, and the mypy and Python versions. When the stamp matches it
does nothing (``--force`` rebuilds); ``--check`` only says whether the build is present and up to date
(exit status 0) or not (1).

Compiled modules never land in ``src/``: an extension module is imported before the ``.py`` beside it, so
a stale one would silently shadow the sources. The script refuses to run when ``src/`` holds one, and
refuses an OUT_DIR inside ``src/`` (tests/conftest.py refuses a tree with a stray one, too).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DEFAULT_OUT = ROOT / "build" / "mypyc"
STAMP = "stamp.json"

# The hot path, relative to src/. Left out: sim/lor.py (numba compiles it), model/dist.py (a compiled frozen
# dataclass cannot be unpickled, and scenarios travel to process pools and Dask; its draws are in
# model/draws.py, compiled), and the pydantic models (not compilable as native classes; validated once a run).
MODULES = (
    "rollsafe/control/__init__.py",
    "rollsafe/control/api.py",
    "rollsafe/control/app.py",
    "rollsafe/control/cluster.py",
    "rollsafe/control/deployment.py",
    "rollsafe/control/endpointslice.py",
    "rollsafe/control/kube_proxy.py",
    "rollsafe/control/kubelet.py",
    "rollsafe/control/lb_controller.py",
    "rollsafe/control/replicaset.py",
    "rollsafe/control/routing.py",
    "rollsafe/control/scheduler.py",
    "rollsafe/control/target_group.py",
    "rollsafe/sim/scheduler.py",
    "rollsafe/sim/rng.py",
    "rollsafe/sim/simulate.py",
    "rollsafe/sim/dataplane.py",
    "rollsafe/model/timeline.py",
    "rollsafe/model/draws.py",
)

_SKIP = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.c", "*.egg-info")


def _is_artifact(path: Path) -> bool:
    return path.suffix in (".so", ".pyd", ".c") or any(
        part == "__pycache__" or part.endswith(".egg-info") for part in path.parts
    )


def stray_extensions(src: Path = SRC) -> list[Path]:
    """Extension modules under ``src``: none belong there."""
    return sorted(p for pattern in ("*.so", "*.pyd") for p in src.rglob(pattern))


def expected_stamp(src: Path = SRC) -> dict[str, object]:
    """What a build of ``src`` as it is now records in its stamp."""
    import mypy.version

    digest = hashlib.sha256()
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not _is_artifact(p.relative_to(src))):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return {
        "sources_sha256": digest.hexdigest(),
        "tool_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "modules": list(MODULES),
        "mypy": mypy.version.__version__,
        "python": sys.version,
    }


def status(out: Path) -> str | None:
    """None when ``out`` holds a build of the current sources; else why not."""
    stamp = out / STAMP
    if not stamp.is_file():
        return f"no compiled build in {out}"
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except ValueError:
        return f"{stamp} is unreadable"
    if recorded != expected_stamp():
        return f"the compiled build in {out} is stale (the sources, module list or toolchain changed)"
    return None


def _refuse(out: Path) -> str | None:
    strays = stray_extensions()
    if strays:
        return f"compiled modules in {SRC} (remove them first): {', '.join(map(str, strays[:5]))}"
    if out == SRC or SRC in out.parents:
        return f"OUT_DIR must be outside {SRC}: {out}"
    if out in (ROOT, Path(out.anchor)) or out in ROOT.parents:
        return f"refusing OUT_DIR={out}"
    return None


def build(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(SRC, out / "src", ignore=_SKIP)
    # an explicit, empty mypy configuration: the build must not depend on which config mypy would discover
    (out / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
    start = time.perf_counter()
    with open(out / "build.log", "w", encoding="utf-8") as log:
        cmd = [sys.executable, "-m", "mypyc", "--config-file", str(out / "mypy.ini"), *MODULES]
        done = subprocess.run(cmd, cwd=out / "src", stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        lines = (out / "build.log").read_text(encoding="utf-8").splitlines()
        sys.exit(
            "\n".join([*lines[-40:], f"mypyc failed (exit {done.returncode}); log: {out / 'build.log'}"])
        )
    # mypyc's C sources and objects: kept for reading, but not on the import path (as a package named build)
    shutil.move(out / "src" / "build", out / "c")
    # the stamp goes last: an interrupted or failed build is never taken for a fresh one
    (out / STAMP).write_text(json.dumps(expected_stamp(), indent=1) + "\n", encoding="utf-8")
    print(f"compiled {len(MODULES)} modules in {time.perf_counter() - start:.1f} s -> {out / 'src'}")


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("--")}
    if flags - {"--force", "--check"}:
        sys.exit(__doc__)
    args = [a for a in argv if not a.startswith("--")]
    out = Path(args[0]).resolve() if args else DEFAULT_OUT
    if "--check" in flags:
        why = status(out)
        print(why or f"the compiled build in {out} is up to date")
        return 1 if why else 0
    refused = _refuse(out)
    if refused:
        sys.exit(refused)
    if "--force" not in flags and status(out) is None:
        print(f"the compiled build in {out} is up to date (--force rebuilds)")
        return 0
    build(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
