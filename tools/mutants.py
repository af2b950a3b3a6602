"""A small mutation check: does the test suite notice when a mechanism breaks?

Each mutant is one single-line breakage of the simulator (a control-plane rule, a data-plane join, the
cause precedence). For each, this script copies ``src/`` and ``tests/`` into a scratch folder, applies the
breakage there (the working tree is never touched), runs the test suite against the copy, and expects it
to fail. Run by ``make mutants``; not part of ``make test`` (it runs the suite once per mutant).

Exit status: 0 when every mutant is caught; 1 when one survives (the suite would miss that breakage) or
when a mutant no longer applies (its line changed: update the list below with the code).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "src/rollsafe"


@dataclass(frozen=True)
class Mutant:
    file: str  # under src/rollsafe
    original: str  # must occur exactly once in the file
    mutated: str
    why: str  # the mechanism it breaks


MUTANTS: tuple[Mutant, ...] = (
    # -- control plane ---------------------------------------------------------------------------------
    Mutant(
        "control/kube_proxy.py",
        "return sorted(ep.pod.index for ep in endpoints if ep.serving and ep.terminating)",
        "return []",
        "kube-proxy without its fallback to serving terminating endpoints (KEP-1669)",
    ),
    Mutant(
        "control/target_group.py",
        'if states == {"healthy"}:',
        'if "healthy" in states:',
        "DescribeTargetHealth healthy when any one LB node is healthy",
    ),
    Mutant(
        "control/deployment.py",
        "surge = resolve_int_or_percent(max_surge, replicas, round_up=True)",
        "surge = resolve_int_or_percent(max_surge, replicas, round_up=False)",
        "maxSurge percentages rounded down instead of up (ResolveFenceposts)",
    ),
    Mutant(
        "control/deployment.py",
        "max_total = replicas + max_surge",
        "max_total = replicas + max_surge + 1",
        "the new ReplicaSet may surge one pod too many (NewRSNewReplicas)",
    ),
    Mutant(
        "control/api.py",
        "return self.deletion_s is None and not self.terminal and not self.gone",
        "return not self.terminal and not self.gone",
        "terminating pods counted as active (FilterActivePods)",
    ),
    Mutant(
        "control/kubelet.py",
        "grace = max(grace, MINIMUM_GRACE_PERIOD_S)",
        "grace = grace",
        "no 2 s minimum between SIGTERM and SIGKILL (minimumGracePeriodInSeconds)",
    ),
    Mutant(
        "control/kubelet.py",
        "if ok and not pod.containers_ready and runs[1] >= self.probe.success_threshold:",
        "if ok and not pod.containers_ready and runs[1] >= 1:",
        "successThreshold ignored: Ready after one passing probe",
    ),
    Mutant(
        "control/endpointslice.py",
        "ready=serving and not terminating, serving=serving",
        "ready=serving, serving=serving",
        "terminating endpoints reported ready in the EndpointSlice",
    ),
    Mutant(
        "control/lb_controller.py",
        "return [ep.pod for ep in endpoints if ep.ready or (ep.pod.containers_ready and not ep.terminating)]",
        "return [ep.pod for ep in endpoints if ep.ready]",
        "the LB controller skips pods held back only by their readiness gate (endpoint_resolver.go)",
    ),
    Mutant(
        "control/replicaset.py",
        "self.queues[rs.name].add_after(self.min_ready_s + 1.0)",
        "pass",
        "no requeue at minReadySeconds + 1 after a pod turns Ready (updatePod)",
    ),
    Mutant(
        "control/replicaset.py",
        "if not self.expectations.satisfied(rs.name, now):",
        "if False:",
        "the ReplicaSet controller ignores its expectations and double-creates under tie reordering",
    ),
    Mutant(
        "control/deployment.py",
        "if rs.replicas != seen_spec:",
        "if False:",
        "a scaling write from a stale read is applied instead of rejected with 409 Conflict",
    ),
    Mutant(
        "control/app.py",
        "return listen_s <= t < stop_accept_s and t < ip_gone_s",
        "return listen_s <= t < stop_accept_s",
        "health checks and probes pass on a pod whose IP is gone",
    ),
    Mutant(
        "control/replicaset.py",
        "ready = 1 if p.ready else 0",
        "ready = 0",
        "the deletion ranking ignores readiness (ActivePodsWithRanks)",
    ),
    Mutant(
        "control/replicaset.py",
        "1 if ready else 0,",
        "0,",
        "the kept deletion ranking (large scale-downs) ignores readiness",
    ),
    Mutant(
        "control/routing.py",
        "if self.times and self.times[-1] == t:",
        "if False:",
        "a routing view appends a second change at the same instant instead of replacing it",
    ),
    Mutant(
        "control/scheduler.py",
        "            self._dirty = True\n            return\n        if self._queued:",
        "            return\n        if self._queued:",
        "an add while the key is processing is lost (client-go workqueue dirty set)",
    ),
    Mutant(
        "sim/scheduler.py",
        "if entry.cancelled:",
        "if False:",
        "cancelled timers still fire",
    ),
    # -- data plane -----------------------------------------------------------------------------------
    Mutant(
        "sim/lor.py",
        "                if c < least:",
        "                if c > least:",
        "least outstanding requests (compiled loop) picks the busiest target",
    ),
    Mutant(
        "sim/lor.py",
        "            if counts[p] == c:",
        "            if counts[p] >= c:",
        "least outstanding requests (Python loop) takes a target that has become busier since",
    ),
    Mutant(
        "sim/dataplane.py",
        "hit = (gap >= kat) & (gap < kat + window)",
        "hit = (gap > kat + window) & (gap < kat + 2 * window)",
        "keep-alive races counted at the wrong moment after the server's idle close",
    ),
    Mutant(
        "sim/dataplane.py",
        "pos = (self.rr_counter[v] + rank[idx]) % np.maximum(size, 1)",
        "pos = rank[idx] % np.maximum(size, 1)",
        "round robin restarts at the first target in every chunk",
    ),
    Mutant(
        "sim/dataplane.py",
        "target[mine] = fv.round_robin(ts[mine], int(self.rr_counter[v]) + k, rank)",
        "target[mine] = fv.round_robin(ts[mine], k, rank)",
        "round robin restarts at the first target in every chunk (busy requests read stretch by stretch)",
    ),
    Mutant(
        "sim/dataplane.py",
        "first = self.rr_counter.tolist()",
        "first = [0] * n_views",
        "round robin restarts at the first target in every chunk (a calm chunk's one busy stretch)",
    ),
    Mutant(
        "sim/dataplane.py",
        "until = np.minimum.reduce([w.stop, w.ip_gone, w.exit - idle, w.drain_deadline - idle]).tolist()",
        "until = np.minimum.reduce([w.stop, w.ip_gone, w.exit, w.drain_deadline - idle]).tolist()",
        "calm time extends up to the process exit, skipping in-flight kills",
    ),
    Mutant(
        "model/outcome.py",
        "        killed = fails & (exit_t == first)",
        "        killed = fails & (exit_t < first)",
        "requests in flight at the process exit are not killed (vectorized fate)",
    ),
    Mutant(
        "model/outcome.py",
        '                "drain-timeout",\n',
        '                "response-timeout",\n',
        "a request cut by the end of the deregistration delay blamed on the idle timeout",
    ),
    Mutant(
        "sim/rng.py",
        'return int.from_bytes(digest[:8], "little")',
        'return int.from_bytes(digest[8:16], "little")',
        "every stream seeded differently (determinism across versions)",
    ),
)


def _prepare(base: Path) -> None:
    shutil.copytree(ROOT / "src", base / "src")
    shutil.copytree(ROOT / "tests", base / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, base / name)
    for folder in ("docs", "tools"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, base / folder, ignore=shutil.ignore_patterns("__pycache__"))


def _pytest(base: Path, timeout_s: float) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(base / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ROLLSAFE_REGEN_GOLDEN", None)
    # the list's own consistency test would fail on every mutant: it must not count as catching one
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", "tests"]
    cmd += ["--ignore", "tests/test_mutants_list.py"]
    try:
        proc = subprocess.run(
            cmd, check=False, cwd=base, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    first = next((ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED")), "")
    return proc.returncode, first.removeprefix("FAILED ").split(" - ")[0]


def _check_imports_copy(base: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(base / "src")}
    out = subprocess.run(
        [sys.executable, "-c", "import rollsafe; print(rollsafe.__file__)"],
        cwd=base, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not out.startswith(str(base)):
        raise SystemExit(f"mutants: the copy's tests would import {out}, not the mutated copy")


def _run_one(mutant: Mutant, base: Path, timeout_s: float) -> tuple[str, str]:
    path = base / PKG / mutant.file
    original = (ROOT / PKG / mutant.file).read_text(encoding="utf-8")
    count = original.count(mutant.original)
    if count != 1:
        return "stale", f"the original line occurs {count} times in {mutant.file}"
    path.write_text(original.replace(mutant.original, mutant.mutated), encoding="utf-8")
    try:
        rc, first = _pytest(base, timeout_s)
    finally:
        path.write_text(original, encoding="utf-8")
    if rc == 0:
        return "SURVIVED", "the suite passed with this breakage"
    if rc == 124:
        return "caught", "the suite hung (timed out)"
    return "caught", first or f"pytest exit {rc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per suite run")
    parser.add_argument("--only", help="run the mutants whose file contains this text")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if args.only is None or args.only in m.file]
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rollsafe-mutants-") as tmp:
        bases = [Path(tmp) / f"w{i}" for i in range(max(1, args.jobs))]
        for base in bases:
            _prepare(base)
        _check_imports_copy(bases[0])
        rc, first = _pytest(bases[0], args.timeout)
        if rc != 0:
            print(f"mutants: the unmutated suite fails in the copy ({first}); fix that first")
            return 1
        results: list[tuple[str, str] | None] = [None] * len(mutants)

        def work(worker: int) -> None:
            for i in range(worker, len(mutants), len(bases)):
                results[i] = _run_one(mutants[i], bases[worker], args.timeout)
                verdict, _ = results[i]  # type: ignore[misc]
                print(f"  {verdict:<8} {mutants[i].file}: {mutants[i].why}", flush=True)

        with ThreadPoolExecutor(len(bases)) as pool:
            list(pool.map(work, range(len(bases))))
    print()
    print(f"{'verdict':<9} {'where':<28} {'breakage':<78} first failing test")
    bad = 0
    for mutant, result in zip(mutants, results, strict=True):
        assert result is not None
        verdict, detail = result
        bad += verdict != "caught"
        print(f"{verdict:<9} {mutant.file:<28} {mutant.why[:78]:<78} {detail}")
    caught = len(mutants) - bad
    print(f"\n{caught} of {len(mutants)} breakages caught in {time.monotonic() - start:.0f} s")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
