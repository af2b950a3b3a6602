"""The search: Optuna over the knobs of a Space, each candidate judged by Monte Carlo runs.

Objectives (issue 10): a candidate is acceptable when the one-sided 95 % upper bound on P(any failed
request during the rollout) is at or below the target. Among acceptable candidates the best is the one
that settles soonest (to the second), then the one with fewer extra pod-seconds, then fewer changed
settings. The Pareto front of P(any failure) against time to settle is kept for teams that trade risk for
speed.

How simulations are saved:
- Common random numbers: every candidate runs the same seeds (seed, seed+1, ...), so differences between
  candidates are differences in settings, not in luck.
- Stages: a candidate runs in growing stages; it is stopped (pruned) as soon as its failed rollouts make
  the bound unreachable within ``runs`` (with the default 300 runs and target 1 %, the first failed
  rollout), or when, once something acceptable is known, it settles clearly later than that.
  Optuna's own pruners need single-objective studies; this study has two objectives, so the stopping
  rule lives here and a stopped candidate reports the runs it got.
- Monotone in preStop (MODEL ASSUMPTION, stated in docs/advise.md): with everything else equal, a longer
  preStop sleep never adds failures (the old pod only serves longer; under the same seed the lags are
  the same draws). So a candidate is known to fail without running it when the same settings with a
  longer preStop already failed, and the winner's preStop is cut down by bisection.
- Simplification: each change of the winner is undone in turn and kept undone when the result is still
  acceptable and not slower, so the recommendation changes only what matters.
- Structural remedies (space.Remedy: drain on SIGTERM, the server's keep-alive, RollingUpdate, ip
  targets, the ALB idle timeout) are not searched. When the knobs alone find nothing acceptable, the
  remedy that removes a cause seen in the closest candidates of that phase (the lowest P(any failure);
  failing that, any candidate), least invasive first, becomes a required change; the space is rebuilt on
  top of it and searched again. Required changes made before the last one are undone in turn afterwards
  when the winner stays acceptable and not slower without them.

This module must not print: progress goes through a callback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollsafe.advise.executor import Executor, RunSummary
from rollsafe.advise.space import PRESTOP, Remedy, Space
from rollsafe.advise.stats import lower_bound, max_failures_allowed, upper_bound
from rollsafe.model.causes import CAUSES

STAGES = (2, 6, 20, 60, 150, 300, 1000, 3000, 10_000, 30_000, 100_000)
BASELINE_MIN_RUNS = 30  # the current settings get at least this many runs: the report quotes their P
LOOKS = (1, 2, 4)  # multiples of --runs at which a promising candidate's bound is judged
SLOWER_TOLERANCE_S = 1.0  # "not slower": within a second of the best (settle times are noisy)


@dataclass
class Candidate:
    """One evaluated setting of every knob, with what its runs showed."""

    index: int
    origin: str  # current, search, simplify, refine
    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    runs: int = 0
    failed_runs: int = 0
    failed_requests: int = 0
    settled_sum: float = 0.0
    settled_runs: int = 0
    rollout_sum: float = 0.0
    rollout_runs: int = 0
    pod_s_sum: float = 0.0
    causes: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why it got fewer than the full runs, or why it never ran
    invalid: str | None = None
    trial: int | None = None
    failed: bool = False  # shown to fail the target: too many failed rollouts for the bound to get there

    @property
    def p(self) -> float:
        return self.failed_runs / self.runs if self.runs else math.nan

    @property
    def upper(self) -> float:
        return upper_bound(self.failed_runs, self.runs) if self.runs else 1.0

    @property
    def lower(self) -> float:
        return lower_bound(self.failed_runs, self.runs) if self.runs else 0.0

    @property
    def settled_s(self) -> float | None:
        """Mean time to settle, over runs that settled; None if some run did not settle."""
        if not self.runs or self.settled_runs < self.runs:
            return None
        return self.settled_sum / self.settled_runs

    @property
    def rollout_s(self) -> float | None:
        return self.rollout_sum / self.rollout_runs if self.rollout_runs else None

    @property
    def pod_s(self) -> float | None:
        return self.pod_s_sum / self.runs if self.runs else None

    @property
    def expected_failures(self) -> float | None:
        return self.failed_requests / self.runs if self.runs else None

    def acceptable(self, target: float) -> bool:
        return self.invalid is None and self.runs > 0 and self.upper <= target and self.settled_s is not None

    def rank(self) -> tuple[float, float, int]:
        settled = self.settled_s if self.settled_s is not None else math.inf
        return (round(settled), round(self.pod_s or 0.0), len(self.changes))

    def add(self, runs: list[RunSummary]) -> None:
        for r in runs:
            self.runs += 1
            self.failed_runs += r.failed > 0
            self.failed_requests += r.failed
            if r.settled_s is not None:
                self.settled_sum += r.settled_s
                self.settled_runs += 1
            if r.rollout_s is not None:
                self.rollout_sum += r.rollout_s
                self.rollout_runs += 1
            self.pod_s_sum += r.extra_pod_s
            for c, n in zip(CAUSES, r.causes, strict=True):
                if n:
                    self.causes[c.id] = self.causes.get(c.id, 0) + n


@dataclass
class Result:
    space: Space
    target: float
    runs: int
    seed: int
    current: Candidate
    best: Candidate | None
    candidates: list[Candidate]
    front: list[Candidate]
    simulations: int
    trials: int
    executor: str
    # one per search phase: the required changes it ran on (keys), its trials and simulations, and
    # whether it found something acceptable
    phases: list[dict[str, Any]] = field(default_factory=list)


Progress = Callable[[int, str], Any]  # (simulations just done, what is running)


class Search:
    def __init__(
        self,
        space: Space,
        executor: Executor,
        *,
        target: float,
        runs: int,
        seed: int,
        trials: int,
        progress: Progress | None = None,
    ) -> None:
        self.space = space
        self.executor = executor
        self.target = target
        self.runs = runs
        self.seed = seed
        self.trials = trials
        self.progress = progress
        # near the boundary a candidate gets more runs: looks at runs, 2 x runs and 4 x runs
        self.max_runs = runs * LOOKS[-1]
        self.k_max = max_failures_allowed(self.max_runs, target)
        self.candidates: list[Candidate] = []
        self._cache: dict[tuple[Any, ...], Candidate] = {}
        self.simulations = 0
        self.best: Candidate | None = None
        # the search screens candidates with a third of the runs; only leaders are run in full
        self.screen = min(runs, max(30, runs // 3))

    # -- evaluation ------------------------------------------------------------------------------------
    def _key(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((k, v if isinstance(v, bool | str) else float(v)) for k, v in values.items()))

    def evaluate(
        self, values: Mapping[str, Any], origin: str, *, min_runs: int = 0, limit: int | None = None
    ) -> Candidate:
        """The candidate for ``values`` (cached), run in stages up to ``limit`` (default: all the runs)
        unless a stopping rule ends it first. A cached candidate that was only screened runs on."""
        limit = min(limit or self.runs, self.runs)
        full = self.space.full(values)
        key = self._key(full)
        c = self._cache.get(key)
        if c is None:
            c = Candidate(len(self.candidates), origin, full, self.space.changes(full))
            self._cache[key] = c
            self.candidates.append(c)
            c.invalid = self.space.valid(full)
            if c.invalid is not None:
                c.stopped = "not applied: " + c.invalid
                return c
            known = self._known_to_fail(full)
            if known is not None and min_runs == 0:
                c.stopped = (
                    f"not run: the same settings with a longer preStop ({known.values[PRESTOP]} s, "
                    f"candidate #{known.index}) already failed, and a shorter sleep never fails less"
                )
                return c
        if c.stopped is None and c.invalid is None and c.runs < limit:
            self._extend(c, limit, min_runs)
        if c.acceptable(self.target) and (self.best is None or c.rank() < self.best.rank()):
            self.best = c
        return c

    def _extend(self, c: Candidate, limit: int, min_runs: int) -> None:
        scenario = self.space.scenario(c.values)
        label = _label(c)
        schedule = [s for s in STAGES if s < limit] + [limit]
        if limit >= self.runs:
            schedule += [self.runs * m for m in LOOKS[1:]]
        for n in schedule:
            if n <= c.runs:
                continue
            # a look beyond --runs only for a candidate whose estimate is below the target but whose
            # bound is not yet: more runs near the boundary, none for the clear cases
            if c.runs >= self.runs and (c.acceptable(self.target) or not c.p < self.target):
                break
            seeds = list(range(self.seed + c.runs, self.seed + n))
            got = self.executor.run(scenario, seeds, self._tick(label))
            self.simulations += len(got)
            c.add(got)
            if c.runs < min_runs:
                continue
            if c.failed_runs > self.k_max or c.lower > self.target:
                c.failed = True
                c.stopped = (
                    f"stopped after {c.runs} runs: {c.failed_runs} failed rollout"
                    f"{'s' if c.failed_runs != 1 else ''}; "
                    + (
                        f"P(any failure) is above the target (95 % lower bound {100 * c.lower:.2g} %)"
                        if c.lower > self.target
                        else f"even with no more failures the 95 % bound over {self.max_runs} runs would "
                        "be above the target"
                    )
                )
                return
            if c.runs >= self.runs and c.acceptable(self.target):
                return
            best = self._leader()
            if (
                best is not None
                and best is not c
                and c.settled_s is not None
                and best.settled_s is not None
                and c.settled_s > best.settled_s + max(SLOWER_TOLERANCE_S, 0.05 * best.settled_s)
            ):
                c.stopped = (
                    f"stopped after {c.runs} runs: settles in {c.settled_s:.0f} s, later than the best "
                    f"acceptable so far ({best.settled_s:.0f} s, #{best.index})"
                )
                return
            if c.settled_runs < c.runs:
                c.stopped = f"stopped after {c.runs} runs: the rollout did not settle within the simulation"
                return
            if c.runs >= limit and limit < self.runs:
                return
        if c.runs >= self.runs and not c.acceptable(self.target) and c.stopped is None:
            c.failed = True
            c.stopped = f"the 95 % bound after {c.runs} runs ({100 * c.upper:.2g} %) is above the target"

    def _passes_screen(self, c: Candidate) -> bool:
        return (
            c.invalid is None
            and c.stopped is None
            and c.runs >= min(self.screen, self.runs)
            and c.failed_runs <= self.k_max
            and c.p < self.target
            and c.settled_s is not None
        )

    def _leader(self) -> Candidate | None:
        """The best acceptable candidate so far, or the best that passed its screening."""
        pool = [c for c in self.candidates if c.acceptable(self.target) or self._passes_screen(c)]
        return min(pool, key=lambda c: c.rank()) if pool else None

    def _confirm_leader(self) -> None:
        """Runs the screened leaders in full, best first, until one is acceptable (at most three)."""
        for _ in range(3):
            pool = [
                c
                for c in self.candidates
                if self._passes_screen(c) and c.runs < self.runs and c.origin != "current"
            ]
            if not pool or self.best is not None:
                return
            leader = min(pool, key=lambda c: c.rank())
            self.evaluate({k: v for k, v in leader.values.items() if k != _GRACE_KEY}, leader.origin)

    def _known_to_fail(self, full: Mapping[str, Any]) -> Candidate | None:
        for c in self.candidates:
            if (
                c.failed
                and float(c.values[PRESTOP]) >= float(full[PRESTOP])
                and all(_eq(c.values[k], v) for k, v in full.items() if k not in (PRESTOP, _GRACE_KEY))
            ):
                return c
        return None

    def _tick(self, label: str) -> Callable[[int], Any] | None:
        if self.progress is None:
            return None
        progress = self.progress
        return lambda n: progress(n, label)

    # -- the search ------------------------------------------------------------------------------------
    def run(self) -> Result:
        current = self.evaluate({}, "current", min_runs=min(BASELINE_MIN_RUNS, self.runs))
        trials = 0
        phases: list[dict[str, Any]] = []
        if not current.acceptable(self.target):
            start, sims, alone = 0, 0, False
            while True:
                # a required change that meets the target with everything else as it is needs no search
                # (the simplification and the preStop bisection below still run)
                t = self._optuna() if self.space.free and not alone else 0
                trials += t
                self._confirm_leader()
                phases.append(
                    {
                        "required": list(self.space.required),
                        "trials": t,
                        "simulations": self.simulations - sims,
                        "found": self.best is not None,
                    }
                )
                if self.best is not None:
                    self._simplify()
                    self._refine_prestop()
                    self._drop_required()
                    phases[-1]["simulations"] = self.simulations - sims  # with the refinement
                    break
                remedy = self._next_remedy(self.candidates[start:])
                if remedy is None:
                    break
                start, sims = len(self.candidates), self.simulations
                self.space = self.space.require(remedy)
                # the required change alone, everything else as it is: the first candidate of the phase
                c = self.evaluate({}, "required", limit=self.screen)
                if self._passes_screen(c):
                    c = self.evaluate({}, "required")
                alone = c.acceptable(self.target)
        best = self.best if not current.acceptable(self.target) else current
        return Result(
            space=self.space,
            target=self.target,
            runs=self.runs,
            seed=self.seed,
            current=current,
            best=best,
            candidates=self.candidates,
            front=pareto_front(self.candidates),
            simulations=self.simulations,
            trials=trials,
            executor=self.executor.description,
            phases=phases,
        )

    def _next_remedy(self, phase: list[Candidate]) -> Remedy | None:
        """The least invasive structural remedy not yet required (one per group of alternatives) that
        removes a cause the closest candidates of the last phase showed; failing that, one that removes
        a cause any of its candidates showed."""
        used = {r.group for r in self.space.remedies if r.key in self.space.required}
        options = [r for r in self.space.remedies if r.group not in used and r.key not in self.space.required]
        ran = [c for c in phase if c.runs and c.invalid is None]
        if not options or not ran:
            return None
        lowest = min(c.p for c in ran)
        closest = {k for c in ran if c.p == lowest for k in c.causes}
        anywhere = {k for c in ran for k in c.causes}
        for seen in (closest, anywhere):
            hit = next((r for r in options if set(r.causes) & seen), None)
            if hit is not None:
                return hit
        return None

    def _drop_required(self) -> None:
        """Undoes each required change but the last (the phase before it found nothing), most invasive
        first, keeping it undone when the winner stays acceptable and not slower without it."""
        assert self.best is not None
        for key in reversed(list(self.space.required)[:-1]):
            if key in self.best.changes:
                self._try_undo(key)

    def _optuna(self) -> int:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        free = self.space.free

        # the constraint (bound - target <= 0) rides on each trial; Optuna 5 reads it from there
        sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=8, multivariate=True)
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        for params in self._starting_points():
            study.enqueue_trial(params, skip_if_exists=True)

        def objective(trial: optuna.trial.Trial) -> tuple[float, float]:
            values: dict[str, Any] = {}
            for k in free:
                if k.kind == "bool":
                    values[k.key] = trial.suggest_categorical(k.key, [False, True])
                else:
                    values[k.key] = trial.suggest_int(k.key, k.low, k.high)
            c = self.evaluate(values, "search", limit=self.screen)
            if c.trial is None:
                c.trial = trial.number
            trial.set_user_attr("candidate", c.index)
            trial.set_constraint("bound-above-target", (c.upper - self.target) if c.invalid is None else 1.0)
            settled = c.settled_s if c.settled_s is not None else self.space.base.simulation.max_seconds
            return (c.p if c.runs else 1.0, settled)

        study.optimize(objective, n_trials=self.trials, gc_after_trial=False, show_progress_bar=False)
        return len(study.trials)

    def _starting_points(self) -> list[dict[str, Any]]:
        """Where a practitioner would start: the usual fixes at a few sleep lengths (sleep 15, 30, 60,
        120: the folklore values), everything else as it is."""
        free = {k.key: k for k in self.space.free}
        cur = self.space.full({})
        base = {k: cur[k] for k in free}
        points = []
        gate = "workload.readinessGate"
        sleeps = [15, 30, 60, 120] if PRESTOP in free else [cur[PRESTOP]]
        for s in sleeps:
            p = dict(base)
            if PRESTOP in free:
                p[PRESTOP] = s
            if gate in free:
                p[gate] = True
            points.append(p)
        return points

    def _simplify(self) -> None:
        assert self.best is not None
        for key in list(self.best.changes):
            if key in {k.key for k in self.space.free}:
                self._try_undo(key)

    def _try_undo(self, key: str) -> None:
        """Put ``key`` back as the scenario has it, and keep that when the result stays acceptable and
        not slower: screened with fewer runs first, then the full runs."""
        best = self.best
        assert best is not None
        trial = {k: v for k, v in best.values.items() if k != _GRACE_KEY}
        trial[key] = self.space.current[key]
        c = self.evaluate(trial, "simplify", limit=self.screen)
        if self._passes_screen(c) and c.runs < self.runs:
            c = self.evaluate({k: v for k, v in c.values.items() if k != _GRACE_KEY}, "simplify")
        if (
            c.acceptable(self.target)
            and best.settled_s is not None
            and c.settled_s is not None
            and c.settled_s <= best.settled_s + SLOWER_TOLERANCE_S
        ):
            self.best = c

    def _refine_prestop(self) -> None:
        """Bisection on the preStop sleep (monotone): the shortest sleep still acceptable, to 2 s or 10 %.
        Probes are screened with a third of the runs; only the shortest that passes is run in full (and
        if it then fails, the longer sleep already confirmed stays the answer)."""
        if PRESTOP not in {k.key for k in self.space.free}:
            return
        assert self.best is not None
        confirmed = self.best
        hi = float(confirmed.values[PRESTOP])
        lo = -1.0
        for c in self.candidates:
            same = all(
                _eq(c.values[k], v) for k, v in confirmed.values.items() if k not in (PRESTOP, _GRACE_KEY)
            )
            if same and c.failed and float(c.values[PRESTOP]) < hi:
                lo = max(lo, float(c.values[PRESTOP]))
        screen = self.screen
        for _ in range(2):  # at most two full confirmations
            passed: Candidate | None = None
            while hi - lo > max(2.0, 0.1 * hi):
                mid = math.floor((lo + hi) / 2)
                trial = {k: v for k, v in confirmed.values.items() if k != _GRACE_KEY}
                trial[PRESTOP] = mid
                c = self.evaluate(trial, "refine", limit=screen)
                if self._passes_screen(c):
                    hi, passed = mid, c
                else:
                    lo = mid
            if passed is None:
                return
            c = self.evaluate({k: v for k, v in passed.values.items() if k != _GRACE_KEY}, "refine")
            if c.acceptable(self.target):
                return
            # failed in full: the boundary lies between it and the last confirmed sleep
            lo, hi = float(c.values[PRESTOP]), float(confirmed.values[PRESTOP])


_GRACE_KEY = "workload.terminationGracePeriodSeconds"


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool | str) or isinstance(b, bool | str):
        return bool(a == b)
    return float(a) == float(b)


def _label(c: Candidate) -> str:
    if not c.changes:
        return "the current settings"
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v[1]}" for k, v in c.changes.items())


def pareto_front(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on both P(any failure) and time to settle, fastest first."""
    pts = [c for c in candidates if c.runs and c.invalid is None and c.settled_s is not None]
    front = []
    for c in pts:
        assert c.settled_s is not None
        dominated = False
        for o in pts:
            assert o.settled_s is not None
            if o is c:
                continue
            if (o.p <= c.p and o.settled_s <= c.settled_s) and (o.p < c.p or o.settled_s < c.settled_s):
                dominated = True
                break
        if not dominated:
            front.append(c)
    front.sort(key=lambda c: (c.settled_s, c.p))
    return front
