#!/bin/bash
# Build a mypyc-compiled copy of rollsafe OUT OF TREE (nothing compiled lands in the worktree's src).
# usage: tools/build_compiled.sh [OUT_DIR]   (default /tmp/mypyc-build); then PYTHONPATH=OUT_DIR/src
# MODULES (env) overrides the list of compiled modules (paths relative to src/).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/mypyc-build}
PY=${PY:-/work/main/.venv/bin/python}
MYPYC=$(dirname "$PY")/mypyc
DEFAULT_MODULES="rollsafe/control/*.py rollsafe/sim/scheduler.py"
MODULES=${MODULES:-$DEFAULT_MODULES}
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
