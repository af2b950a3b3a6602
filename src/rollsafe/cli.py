"""The ``rollsafe`` command: argument parsing, exit codes, printing. Nothing else.

Exit codes: 0 ok; 1 a threshold given on the command line was crossed; 2 bad usage or input, always
with a message naming the file, line or key, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from rollsafe import __version__
from rollsafe.errors import RollsafeError
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import builtin_descriptions, builtin_text, load_builtin, load_file, load_text
from rollsafe.sim.simulate import DEFAULT_SEED, RunResult, simulate, simulate_many


class _Group(click.Group):
    """Exit codes beyond click's: 130 on Ctrl-C; 3, with the traceback, for a bug in rollsafe itself
    (never for bad input, which gets a message and 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("rollsafe: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception:
            traceback.print_exc()
            click.echo(
                "rollsafe: internal error (a bug in rollsafe: please report it with the command)", err=True
            )
            sys.exit(3)


def _run_options(f: Any) -> Any:
    """The options simulate and compare share."""
    for option in reversed(
        [
            click.option(
                "--seed",
                type=click.IntRange(min=0),
                default=DEFAULT_SEED,
                show_default=True,
                help="Seed of the first run; the same seed gives the same output, byte for byte.",
            ),
            click.option(
                "--runs",
                type=click.IntRange(min=1, max=100_000),
                default=1,
                show_default=True,
                help="Monte Carlo runs over seeds seed, seed+1, ...; in parallel over the cores.",
            ),
            click.option(
                "--set",
                "overrides",
                multiple=True,
                metavar="KEY.PATH=VALUE",
                help="Override any scenario key, e.g. --set workload.preStopSleepSeconds=20 (repeatable).",
            ),
            click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True),
        ]
    ):
        f = option(f)
    return f


def _manifest_options(f: Any) -> Any:
    """-f and --app: simulate and compare read Kubernetes manifests too (docs/lint.md)."""
    f = click.option(
        "--app",
        "app",
        metavar="PROFILE",
        default=None,
        help="With -f: the app profile for what manifests cannot say (nginx, graceful, node, jvm, "
        "ignore-sigterm; default nginx); the annotation rollsafe.io/app overrides it per Deployment.",
    )(f)
    return click.option(
        "-f",
        "--filename",
        "manifest_paths",
        multiple=True,
        metavar="PATH",
        help="Manifests: a file, a directory (recursively) or - for stdin (repeatable); every Deployment "
        "behind an ALB is simulated.",
    )(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollsafe")
def main() -> None:
    """Will a Kubernetes rolling update drop requests behind an AWS ALB, why, and what fixes it."""


@main.command("scenarios")
@click.option(
    "--show", "show", metavar="NAME", help="Print a built-in scenario's YAML (a starting template)."
)
def scenarios_cmd(show: str | None) -> None:
    """List the built-in scenarios, a line each."""
    if show is not None:
        try:
            click.echo(builtin_text(show), nl=False)
        except RollsafeError as exc:
            _fail(str(exc))
        return
    rows = builtin_descriptions()
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        first = desc.split(". ")[0].rstrip(".")
        click.echo(f"{name:<{width}}  {first}.")


@main.command("simulate")
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--builtin", "builtin", metavar="NAME", help="Run a built-in scenario (see `rollsafe scenarios`)."
)
@_manifest_options
@_run_options
@click.option(
    "--timeline",
    "timeline_path",
    type=click.Path(path_type=Path),
    help="Write every control-plane event of the first run as JSON lines (docs/timeline.md).",
)
@click.option(
    "--max-failures",
    type=click.FloatRange(min=0),
    default=None,
    metavar="N",
    help="Exit 1 when more than N requests fail (the per-run mean with --runs).",
)
def simulate_cmd(
    scenario_file: Path | None,
    builtin: str | None,
    seed: int,
    runs: int,
    overrides: tuple[str, ...],
    output: str,
    timeline_path: Path | None,
    max_failures: float | None,
    manifest_paths: tuple[str, ...] = (),
    app: str | None = None,
) -> None:
    """Simulate a rolling update described by SCENARIO_FILE (or --builtin NAME, or the manifests given
    with -f) and report every failed request with its cause."""
    from rollsafe.report.summary import summarize
    from rollsafe.report.text import render

    if manifest_paths:
        if scenario_file is not None or builtin is not None or timeline_path is not None:
            _fail("-f reads manifests; give no SCENARIO_FILE, --builtin or --timeline with it")
        _simulate_manifests(manifest_paths, app, seed, runs, list(overrides), output, max_failures)
        return
    if app is not None:
        _fail("--app applies to manifests read with -f")
    try:
        scenario = _load(scenario_file, builtin, list(overrides))
        if timeline_path is not None:
            _check_timeline_path(timeline_path, scenario_file)
        results = _run(scenario, seed, runs, timeline=timeline_path is not None)
        if timeline_path is not None:
            _write_timeline(timeline_path, results[0])
    except RollsafeError as exc:
        _fail(str(exc))
    doc = summarize(results, seed=seed, scenario=scenario, overrides=list(overrides))
    if output == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        width, color = _screen()
        click.echo(render(doc, width=width, color=color), nl=False)
    if max_failures is not None:
        problems = []
        if doc["requests"]["failed"] > max_failures:
            problems.append(
                f"{doc['requests']['failed']} failed requests exceed --max-failures {max_failures:g}"
            )
        if doc["load_balancer"]["settled_runs"] < runs:
            problems.append(
                "the rollout did not settle within the simulation, so the count may be incomplete"
            )
        if problems:
            click.echo("rollsafe: " + "; ".join(problems), err=True)
            sys.exit(1)


@main.command("compare")
@click.argument("scenario_files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--builtin", "builtins", multiple=True, metavar="NAME", help="A built-in scenario (repeatable)."
)
@_manifest_options
@_run_options
def compare_cmd(
    scenario_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    seed: int,
    runs: int,
    overrides: tuple[str, ...],
    output: str,
    manifest_paths: tuple[str, ...] = (),
    app: str | None = None,
) -> None:
    """Simulate several scenarios (files, --builtin NAME, and every workload of the manifests given
    with -f) with the same seeds and show them side by side."""
    from rollsafe.report.compare import render_comparison
    from rollsafe.report.summary import summarize

    from_manifests: list[Scenario] = []
    if manifest_paths:
        from_manifests = _manifest_scenarios(manifest_paths, app, list(overrides))
    elif app is not None:
        _fail("--app applies to manifests read with -f")
    if len(scenario_files) + len(builtins) + len(from_manifests) < 2:
        _fail("compare needs at least two scenarios (files, --builtin NAME and/or workloads read with -f)")
    try:
        scenarios = [_load_path(f, list(overrides)) for f in scenario_files]
        scenarios += [load_builtin(b, list(overrides)) for b in builtins]
        scenarios += from_manifests
        docs = [
            summarize(_run(sc, seed, runs, timeline=False), seed=seed, scenario=sc, overrides=list(overrides))
            for sc in scenarios
        ]
    except RollsafeError as exc:
        _fail(str(exc))
    if output == "json":
        click.echo(json.dumps({"scenarios": docs}, indent=2, ensure_ascii=False))
    else:
        width, color = _screen()
        click.echo(render_comparison(docs, width=width, color=color), nl=False)


def _screen() -> tuple[int, bool | None]:
    """Width and colour: a terminal's own (rich honours NO_COLOR and TERM=dumb); otherwise plain text,
    $COLUMNS wide if set, else 100."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns, None
    try:
        width = int(os.environ.get("COLUMNS", "100"))
    except ValueError:
        width = 100
    return max(width, 40), False


def _check_timeline_path(path: Path, scenario_file: Path | None) -> None:
    if str(path) == "-" or path.is_dir() or str(path).endswith(os.sep):
        raise RollsafeError(f"--timeline {path}: give a file path for the JSON lines")
    if scenario_file is not None and path.resolve() == scenario_file.resolve():
        raise RollsafeError(f"--timeline {path}: that is the scenario file; choose another path")
    if not path.parent.is_dir():
        raise RollsafeError(f"--timeline {path}: no such directory {path.parent}")


def _load(scenario_file: Path | None, builtin: str | None, overrides: list[str]) -> Scenario:
    if scenario_file is not None and builtin is not None:
        _fail("give either SCENARIO_FILE or --builtin NAME, not both")
    if scenario_file is None and builtin is None:
        _fail("give a SCENARIO_FILE or --builtin NAME (`rollsafe scenarios` lists the built-ins)")
    if builtin is not None:
        return load_builtin(builtin, overrides)
    assert scenario_file is not None
    return _load_path(scenario_file, overrides)


def _load_path(path: Path, overrides: list[str]) -> Scenario:
    """A scenario file, or standard input for ``-``."""
    if str(path) == "-":
        return load_text(sys.stdin.read(), source="<stdin>", overrides=overrides)
    return load_file(path, overrides)


def _run(scenario: Scenario, seed: int, runs: int, *, timeline: bool) -> list[RunResult]:
    if runs == 1:
        return [simulate(scenario, seed)]
    seeds = list(range(seed, seed + runs))
    first = simulate(scenario, seed) if timeline else None
    rest = seeds[1:] if first is not None else seeds
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("simulating", total=len(rest))
            results = simulate_many(scenario, rest, progress=lambda n: progress.advance(task, n))
    else:
        results = simulate_many(scenario, rest)
    return ([first] if first is not None else []) + results


def _write_timeline(path: Path, result: RunResult) -> None:
    try:
        with path.open("w", encoding="utf-8") as fh:
            for event in result.timeline:
                fh.write(event.to_json())
                fh.write("\n")
    except OSError as exc:
        raise RollsafeError(f"{path}: cannot write the timeline: {exc.strerror or exc}") from None


def _fail(message: str) -> NoReturn:
    click.echo(f"rollsafe: {message}", err=True)
    sys.exit(2)


# -- manifests: lint, rules, simulate -f ------------------------------------------------------------------


def _stdin_if(paths: tuple[str, ...] | list[str]) -> str | None:
    if "-" not in paths:
        return None
    try:
        return sys.stdin.read()
    except UnicodeDecodeError:
        _fail("<stdin>: not UTF-8 text")


def _report_problems(problems: list[Any]) -> None:
    for p in problems:
        click.echo(f"rollsafe: {p}", err=True)


def _analyse_or_fail(
    paths: tuple[str, ...] | list[str],
    *,
    app: str | None,
    overrides: list[str],
    config: Any = None,
    rps: float | None = None,
    scenarios: bool = True,
    workers: int | None = None,
) -> Any:
    from rollsafe.lint.pipeline import analyse

    try:
        report = analyse(
            list(paths),
            stdin=_stdin_if(paths),
            config=config,
            app=app,
            overrides=overrides,
            rps=rps,
            scenarios=scenarios,
            workers=workers,
        )
    except RollsafeError as exc:
        _fail(str(exc))
    if not report.usable:
        _report_problems(report.problems)
        _fail("nothing usable was read (no Kubernetes objects)")
    return report


def _manifest_scenarios(paths: tuple[str, ...], app: str | None, overrides: list[str]) -> list[Scenario]:
    report = _analyse_or_fail(paths, app=app, overrides=overrides)
    _report_problems([p for p in report.problems if p.fatal])
    out = []
    for w in report.workloads:
        if w.built.scenario is None:
            click.echo(f"rollsafe: {w.facts.key} ({w.facts.file}:{w.facts.line}): {w.built.error}", err=True)
        else:
            out.append(w.built.scenario)
    return out


def _simulate_manifests(
    paths: tuple[str, ...],
    app: str | None,
    seed: int,
    runs: int,
    overrides: list[str],
    output: str,
    max_failures: float | None,
) -> None:
    from rollsafe.report.summary import summarize
    from rollsafe.report.text import render

    report = _analyse_or_fail(paths, app=app, overrides=overrides)
    _report_problems(report.problems)
    docs = []
    for w in report.workloads:
        if w.built.scenario is None:
            click.echo(f"rollsafe: {w.facts.key} ({w.facts.file}:{w.facts.line}): {w.built.error}", err=True)
            continue
        try:
            results = _run(w.built.scenario, seed, runs, timeline=False)
        except RollsafeError as exc:
            _fail(str(exc))
        doc = summarize(results, seed=seed, scenario=w.built.scenario, overrides=overrides)
        doc.update(
            namespace=w.facts.namespace,
            name=w.facts.name,
            file=w.facts.file,
            line=w.facts.line,
            assumptions=w.built.assumptions,
        )
        docs.append(doc)
    if not docs:
        _fail("no Deployment behind an ALB could be simulated from the input")
    if output == "json":
        click.echo(json.dumps({"workloads": docs}, indent=2, ensure_ascii=False))
    else:
        width, color = _screen()
        for i, doc in enumerate(docs):
            if i:
                click.echo("")
            click.echo(f"== {doc['namespace']}/{doc['name']}  ({doc['file']}:{doc['line']})")
            for a in doc["assumptions"]:
                click.echo(f"assumption: {a}")
            click.echo(render(doc, width=width, color=color), nl=False)
    if max_failures is not None:
        over = [d for d in docs if d["requests"]["failed"] > max_failures]
        if over:
            click.echo(
                "rollsafe: "
                + "; ".join(
                    f"{d['namespace']}/{d['name']}: {d['requests']['failed']} failed requests" for d in over
                )
                + f" exceed --max-failures {max_failures:g}",
                err=True,
            )
            sys.exit(1)


@main.command("lint")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--output", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "never"]),
    default=None,
    help="Exit 1 when a finding is at or above this severity (default: error, or failOn in the config).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config file (default: ./.rollsafe.yaml if present).",
)
@click.option(
    "--app",
    "app",
    metavar="PROFILE",
    default=None,
    help="The app profile for what manifests cannot say (nginx, graceful, node, jvm, ignore-sigterm).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a scenario key of every workload's simulation (--simulate), e.g. --set "
    "workload.preStopSleepSeconds=20; app.* keys also change what the rules assume about the app, e.g. "
    "--set app.drainSeconds=20 (repeatable).",
)
@click.option("--simulate", "with_costs", is_flag=True, help="Add to each finding the requests it costs.")
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True, max=100_000),
    default=100,
    show_default=True,
    help="Traffic for --simulate.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True, help="Seed for --simulate."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=256),
    default=1,
    show_default=True,
    help="Processes for parsing input over 4 MB (a file, or a megabyte of stdin, each); for idle cores.",
)
def lint_cmd(
    paths: tuple[str, ...],
    output: str,
    fail_on: str | None,
    config_path: Path | None,
    app: str | None,
    overrides: tuple[str, ...],
    with_costs: bool,
    rps: float,
    seed: int,
    jobs: int,
) -> None:
    """Lint Kubernetes manifests (files, directories, or - for stdin) for the settings that drop requests
    during a rolling update behind an AWS ALB. Exit 0: nothing at or above --fail-on; 1: findings at or
    above it; 2: usage or input error (only when nothing usable was read)."""
    from rollsafe.lint.engine import at_or_above, load_config
    from rollsafe.report.lint import lint_document, render_lint
    from rollsafe.report.sarif import to_sarif

    try:
        config = load_config(config_path)
    except RollsafeError as exc:
        _fail(str(exc))
    threshold = fail_on or config.fail_on or "error"
    report = _analyse_or_fail(
        paths, app=app, overrides=list(overrides), config=config, rps=rps, scenarios=False, workers=jobs
    )
    costs = None
    if with_costs:
        from rollsafe.lint.costs import measure

        costs = measure(report, rps=rps, seed=seed, overrides=list(overrides))
    doc = lint_document(report, fail_on=threshold, costs=costs)
    if output == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif output == "sarif":
        click.echo(json.dumps(to_sarif(doc), indent=2, ensure_ascii=False))
    else:
        click.echo(render_lint(doc), nl=False)
    if output != "text":
        _report_problems(report.problems)
    if at_or_above(report.findings, threshold):
        sys.exit(1)


@main.command("rules")
@click.option("--show", "show", metavar="ID", help="Print one rule in full: why, how to fix, examples.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_cmd(show: str | None, output: str) -> None:
    """List the lint rules: id, default severity and what each finds."""
    from rollsafe.lint.engine import BY_ID, RULES

    if show is not None:
        rule = BY_ID.get(show)
        if rule is None:
            _fail(f"no rule {show!r}; `rollsafe rules` lists them")
        click.echo(f"{rule.id} ({rule.severity})\n\n{rule.doc}")
        return
    if output == "json":
        rows = [
            {"id": r.id, "severity": r.severity, "summary": r.summary, "why": r.why, "fix": r.how_to_fix}
            for r in RULES
        ]
        click.echo(json.dumps({"rules": rows}, indent=2, ensure_ascii=False))
        return
    width = max(len(r.id) for r in RULES)
    for r in RULES:
        click.echo(f"{r.id:<{width}}  {r.severity:<7}  {r.summary}")
