"""Manifests in, findings out: read, link, read the facts, build each workload's scenario, run the rules.

Shared by ``rollsafe lint`` and ``rollsafe simulate -f``. Must not run the simulator (the CLI does, for
``--simulate`` and ``simulate -f``) and must not decide exit codes.
"""

from __future__ import annotations

import copy
import functools
import gc
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rollsafe.errors import RollsafeError
from rollsafe.lint.engine import BY_ID, Config, run_rules
from rollsafe.lint.model import Finding
from rollsafe.manifests.build import Built, build
from rollsafe.manifests.facts import APP_ANNOTATION, IGNORE_ANNOTATION, Source, WorkloadFacts, from_manifests
from rollsafe.manifests.link import LinkResult, link
from rollsafe.manifests.profiles import DEFAULT_PROFILE, PROFILES, profile
from rollsafe.manifests.reader import Problem, ReadResult, read_paths
from rollsafe.model.scenario import App
from rollsafe.scenarios import _apply_override, load_text


@dataclass
class WorkloadReport:
    facts: WorkloadFacts
    built: Built
    findings: list[Finding] = field(default_factory=list)


@dataclass
class LintReport:
    read: ReadResult
    linked: LinkResult
    workloads: list[WorkloadReport]
    problems: list[Problem]

    @property
    def usable(self) -> bool:
        """Something was read: at least one object, or documents that were simply of other kinds."""
        return bool(self.read.objects) or bool(self.read.skipped)

    @property
    def findings(self) -> list[Finding]:
        return [f for w in self.workloads for f in w.findings]


def app_for(name: str, overrides: list[str]) -> App:
    """An app profile with ``--set app.KEY=VALUE`` applied; RollsafeError names a bad key or value."""
    return _app_for(name, tuple(overrides))


@functools.lru_cache(maxsize=64)
def _app_for(name: str, overrides: tuple[str, ...]) -> App:  # App is frozen: one per profile is enough
    data: dict[str, Any] = {"app": copy.deepcopy(profile(name).app)}
    for item in overrides:
        if item.strip().startswith("app."):
            _apply_override(data, item)
    try:
        return App.model_validate(data["app"])
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise RollsafeError(f"--set app.{where}: {err['msg']}") from None


def analyse(
    paths: list[str],
    *,
    stdin: str | None = None,
    config: Config | None = None,
    app: str | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
    rps: float | None = None,
    workers: int | None = None,
    scenarios: bool = True,
) -> LintReport:
    """``workers``: processes for parsing large input (see read_paths; None: this process only).
    ``scenarios``: validate each workload's Scenario (simulate -f needs it; lint alone does not)."""
    # Reading builds millions of small acyclic objects that all stay alive; the cyclic garbage collector
    # would rescan them again and again (a third of the time on 50 MB). Nothing here makes cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _analyse(
            paths,
            stdin=stdin,
            config=config,
            app=app,
            overrides=overrides,
            rps=rps,
            workers=workers,
            scenarios=scenarios,
        )
    finally:
        if enabled:
            gc.enable()


def _analyse(
    paths: list[str],
    *,
    stdin: str | None,
    config: Config | None,
    app: str | None,
    overrides: list[str],
    rps: float | None,
    workers: int | None,
    scenarios: bool,
) -> LintReport:
    cfg = config or Config()
    default_app = app or cfg.app or DEFAULT_PROFILE
    profile(default_app)  # a bad --app is a usage error before anything is read
    if overrides:
        # a misspelt or ill-typed --set is a usage error too, not a silent no-op: check it on the defaults
        load_text("{}", source="command line", overrides=list(overrides))
    app_overrides = [o for o in overrides if o.strip().startswith("app.")]
    read = read_paths(paths, stdin=stdin, workers=workers)
    linked = link(read.objects)
    problems = list(read.problems) + list(linked.problems)
    reports = []
    for lw in linked.workloads:
        d = lw.deployment
        chosen, how = default_app, ("--app" if app else ("config app" if cfg.app else "the default profile"))
        wanted = d.annotations.get(APP_ANNOTATION)
        if isinstance(wanted, str):
            if wanted in PROFILES:
                chosen, how = wanted, f"annotation {APP_ANNOTATION} on {d.ref}"
            else:
                problems.append(
                    Problem(
                        d.file,
                        d.line("metadata", "annotations", APP_ANNOTATION),
                        f"{d.ref}: {APP_ANNOTATION}: no app profile {wanted!r} ({', '.join(PROFILES)}); "
                        f"{default_app} is used",
                        fatal=False,
                    )
                )
        src = Source(
            "profile",
            f"app profile {chosen} ({how}"
            + (f"; {', '.join('--set ' + o for o in app_overrides)}" if app_overrides else "")
            + ")",
        )
        facts = from_manifests(
            lw,
            app=app_for(chosen, app_overrides),
            app_source=src,
            gate_namespaces=cfg.readiness_gate_namespaces,
        )
        facts.app_summary = f"{profile(chosen).summary} (MODEL ASSUMPTION)"
        problems.extend(facts.problems)
        for rid in sorted(facts.ignored - set(BY_ID)):
            problems.append(
                Problem(
                    d.file,
                    d.line("metadata", "annotations", IGNORE_ANNOTATION),
                    f"{IGNORE_ANNOTATION}: no rule {rid!r} (`rollsafe rules` lists them)",
                    fatal=False,
                )
            )
        built = build(
            facts, rps=rps, overrides=[o for o in overrides if o not in app_overrides], validate=scenarios
        )
        reports.append(WorkloadReport(facts=facts, built=built, findings=run_rules(facts, cfg)))
    problems.sort(key=lambda p: (p.file, p.line or 0, p.message))
    return LintReport(read=read, linked=linked, workloads=reports, problems=problems)
