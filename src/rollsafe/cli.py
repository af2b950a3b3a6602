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
from datetime import datetime
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
@_run_options
@click.option(
    "--timeline",
    "timeline_path",
    type=click.Path(path_type=Path),
    help="Write every control-plane event of the first run as JSON lines (docs/timeline.md).",
)
@click.option(
    "--emit-logs",
    "emit_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the first run as the four log sources (ALB access logs as S3 delivers them, LB controller "
    "log, CloudTrail, kube-apiserver audit) into DIR; `rollsafe diagnose DIR` reads them back.",
)
@click.option(
    "--start",
    "start",
    metavar="TIME",
    help="The instant the simulated rollout starts, RFC 3339 (default 2026-03-04T10:15:00Z): the "
    "timeline's and the emitted logs' clock.",
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
    emit_dir: Path | None,
    start: str | None,
    max_failures: float | None,
) -> None:
    """Simulate a rolling update described by SCENARIO_FILE (or --builtin NAME) and report every failed
    request with its cause."""
    from rollsafe.model.timeline import DEFAULT_START
    from rollsafe.report.summary import summarize
    from rollsafe.report.text import render

    start_at = DEFAULT_START if start is None else _instant("--start", start)
    try:
        scenario = _load(scenario_file, builtin, list(overrides))
        if timeline_path is not None:
            _check_timeline_path(timeline_path, scenario_file)
        results = _run(
            scenario,
            seed,
            runs,
            timeline=timeline_path is not None or emit_dir is not None,
            keep=emit_dir is not None,
        )
        if timeline_path is not None:
            _write_timeline(timeline_path, results[0], scenario, start_at)
        if emit_dir is not None:
            from rollsafe.logs.emitters import emit_logs

            emitted = emit_logs(results[0], scenario, emit_dir, start=start_at)
            results[0].control = None
            results[0].traffic.requests = None
            click.echo(
                f"rollsafe: wrote {emitted.lines.get('alb', 0):,} ALB log lines, "
                f"{emitted.lines.get('controller', 0):,} controller lines, "
                f"{emitted.lines.get('cloudtrail', 0):,} CloudTrail records and "
                f"{emitted.lines.get('audit', 0):,} audit events under {emit_dir}",
                err=True,
            )
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
@_run_options
def compare_cmd(
    scenario_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    seed: int,
    runs: int,
    overrides: tuple[str, ...],
    output: str,
) -> None:
    """Simulate several scenarios with the same seeds and show them side by side."""
    from rollsafe.report.compare import render_comparison
    from rollsafe.report.summary import summarize

    if len(scenario_files) + len(builtins) < 2:
        _fail("compare needs at least two scenarios (files and/or --builtin NAME)")
    try:
        scenarios = [_load_path(f, list(overrides)) for f in scenario_files]
        scenarios += [load_builtin(b, list(overrides)) for b in builtins]
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


def _run(scenario: Scenario, seed: int, runs: int, *, timeline: bool, keep: bool = False) -> list[RunResult]:
    if runs == 1:
        return [simulate(scenario, seed, keep_requests=keep)]
    seeds = list(range(seed, seed + runs))
    first = simulate(scenario, seed, keep_requests=keep) if timeline else None
    rest = seeds[1:] if first is not None else seeds
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("simulating", total=len(rest))
            results = simulate_many(scenario, rest, progress=lambda n: progress.advance(task, n))
    else:
        results = simulate_many(scenario, rest)
    return ([first] if first is not None else []) + results


def _write_timeline(path: Path, result: RunResult, scenario: Scenario, start: datetime) -> None:
    from rollsafe.model.timeline import Names, absolute

    try:
        with path.open("w", encoding="utf-8") as fh:
            for event in absolute(result.timeline, start=start, names=Names(scenario.workload.name)):
                fh.write(event.to_json(start=start))
                fh.write("\n")
    except OSError as exc:
        raise RollsafeError(f"{path}: cannot write the timeline: {exc.strerror or exc}") from None


def _instant(option: str, value: str) -> datetime:
    """An RFC 3339 instant with a zone (``Z`` or an offset), as UTC; anything else is a usage error."""
    from rollsafe.logs.parsers.common import parse_time

    at = parse_time(value)
    if at is None:
        _fail(f"{option} {value!r}: give an RFC 3339 time with a zone, e.g. 2026-03-04T10:15:00Z")
    return at


@main.command("diagnose")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--since", metavar="TIME", help="Only requests at or after TIME (RFC 3339 with a zone).")
@click.option("--until", metavar="TIME", help="Only requests before TIME (RFC 3339 with a zone).")
@click.option(
    "--target-group", "target_group", metavar="ARN", help="Only this target group's requests and calls."
)
@click.option(
    "--format",
    "force",
    type=click.Choice(["alb", "controller", "cloudtrail", "audit"]),
    help="Read every PATH as this source instead of recognising each file by its content.",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the DuckDB database in FILE for later SQL (schema: docs/diagnose.md); replaced if it exists.",
)
@click.option(
    "--timeline",
    "timeline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write what the logs say happened as timeline JSON lines, as `simulate --timeline` does.",
)
def diagnose_cmd(
    paths: tuple[Path, ...],
    since: str | None,
    until: str | None,
    target_group: str | None,
    force: str | None,
    output: str,
    db: Path | None,
    timeline_path: Path | None,
) -> None:
    """Diagnose a real rollout from its logs: ALB access logs, the AWS Load Balancer Controller's log,
    CloudTrail and the kube-apiserver audit log (files and directories, any mix; each file is
    recognised by its content). Every LB-generated 5xx gets a cause and its evidence."""
    from rollsafe.diagnose.render import render as render_diagnosis
    from rollsafe.diagnose.report import Options, run

    since_at = _instant("--since", since) if since else None
    until_at = _instant("--until", until) if until else None
    if since_at and until_at and until_at <= since_at:
        _fail("--until must be after --since")
    if db is not None and (db.is_dir() or not db.parent.is_dir()):
        _fail(f"--db {db}: give a file path in an existing directory")
    if timeline_path is not None and not timeline_path.parent.is_dir():
        _fail(f"--timeline {timeline_path}: no such directory {timeline_path.parent}")
    options = Options(
        since=since_at, until=until_at, target_group=target_group, force=force, db=db, timeline=timeline_path
    )
    try:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

            total = sum(_size(p) for p in paths)
            with Progress(
                TextColumn("loading {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("logs", total=total or None)
                doc = run(
                    list(paths),
                    options,
                    progress=lambda what, n: bar.update(task, advance=n, description=what),
                )
        else:
            doc = run(list(paths), options)
    except RollsafeError as exc:
        _fail(str(exc))
    if not doc["usable"]:
        for f in doc["inputs"]["files"]:
            reasons = f["fault"] or ", ".join(f"{n} lines: {r}" for r, n in f["bad"].items()) or "no records"
            click.echo(f"rollsafe: {f['path']}: {reasons}", err=True)
        _fail("no usable input: none of the files held records of the four log sources")
    if output == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        width, color = _screen()
        click.echo(render_diagnosis(doc, width=width, color=color), nl=False)


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _fail(message: str) -> NoReturn:
    click.echo(f"rollsafe: {message}", err=True)
    sys.exit(2)
