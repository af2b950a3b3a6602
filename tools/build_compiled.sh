#!/bin/bash
# Build a mypyc-compiled copy of rollsafe OUT OF TREE (nothing compiled lands in the worktree's src).
# usage: tools/build_compiled.sh [OUT_DIR]   (default /tmp/mypyc-build); then PYTHONPATH=OUT_DIR/src
# MODULES (env) overrides the list of compiled modules (paths relative to src/).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/mypyc-build}
PY=${PY:-/work/main/.venv/bin/python}
MYPYC=$(dirname "$PY")/mypyc
# the hot path. Left out: sim/lor.py (numba's), model/dist.py (a compiled frozen dataclass cannot be
# unpickled, and scenarios travel to process pools and Dask; its work is numpy's anyway), the pydantic
# models (not compilable as native classes; validated once).
DEFAULT_MODULES="rollsafe/control/*.py rollsafe/sim/scheduler.py rollsafe/sim/rng.py rollsafe/model/timeline.py rollsafe/sim/simulate.py rollsafe/sim/dataplane.py"
MODULES=${MODULES:-$DEFAULT_MODULES}
# compiled modules must never land in the worktree: an editable install would import a stale .so first
if find "$HERE/src" -name '*.so' | grep -q .; then
    echo "compiled modules in $HERE/src: remove them first" >&2; exit 1
fi
case "$OUT" in "$HERE"/src*) echo "OUT_DIR must be outside src/" >&2; exit 1;; esac
case "$OUT" in /|"$HERE"|"") echo "refusing OUT_DIR=$OUT" >&2; exit 1;; esac
rm -rf "$OUT"
mkdir -p "$OUT"
# a clean copy of the sources only: no caches, no stale extension modules
cp -r "$HERE/src" "$OUT/src"
find "$OUT/src" \( -name '__pycache__' -o -name '*.so' -o -name '*.c' -o -name '*.egg-info' \) -prune -exec rm -rf {} +
cd "$OUT/src"
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$MYPYC" $MODULES > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
end=$(date +%s.%N)
printf 'compiled %s modules in %.1f s -> %s/src\n' "$(ls $MODULES | wc -l)" "$(python3 -c "print($end - $start)")" "$OUT"
ls "$OUT"/src/*.so "$OUT"/src/rollsafe/*/*.so 2>/dev/null | sed 's/^/  /' | head -40
