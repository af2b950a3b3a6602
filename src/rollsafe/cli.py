"""The ``rollsafe`` command: argument parsing, exit codes, printing. Nothing else.

Exit codes (EXIT_CODES below, printed by --help): 0 ok; 1 a threshold given on the command line was
crossed, or the output could not be written (a full disk); 2 bad usage or input, always with a message
naming the file, line or key, never a traceback; 3 a bug in rollsafe (with its traceback); 130 Ctrl-C;
141 standard output closed early (``| head``: quiet, as Unix tools are); 143 SIGTERM.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from rollsafe import __version__
from rollsafe.errors import OutputError, RollsafeError
from rollsafe.model.scenario import Scenario
from rollsafe.report.console import printable
from rollsafe.scenarios import builtin_descriptions, builtin_text, load_builtin, load_file, load_stream
from rollsafe.sim.budget import CLOSED_FACTOR, LOR_FACTOR
from rollsafe.sim.simulate import DEFAULT_SEED, RunResult, simulate

EXIT_CODES = """\b
Exit codes:
  0    done
  1    a gate crossed (--max-failures, --max-failures-p95, --max-p-any-failure), or the output
       could not be written (a full disk)
  2    bad usage or input: the message names the file, line and key
  3    a bug in rollsafe (with its traceback: please report it)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM); workers are stopped either way
  141  standard output closed early (| head): rollsafe stops quietly"""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds as Ctrl-C does: workers stopped, exit 143."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises Terminated while rollsafe runs (only the main thread may set a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _output_failed(exc: OSError, message: str | None = None) -> NoReturn:
    """Standard output could not be written. A closed pipe ends rollsafe quietly, as it ends Unix tools
    (141 = 128 + SIGPIPE); anything else (a full disk) is a message and exit 1. Either way standard output
    is pointed at /dev/null so the interpreter's last flush does not fail again ("Exception ignored")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (a test buffer; stdout closed)
        pass
    if exc.errno == errno.EPIPE:
        sys.exit(141)
    _say(message or f"cannot write the output: {exc.strerror or exc}")
    sys.exit(1)


def _say(message: str) -> None:
    """A message on standard error, user text escaped; never fails (stderr may be closed too)."""
    with suppress(OSError, ValueError, AttributeError):  # stderr closed (2>&-) too
        click.echo(f"rollsafe: {printable(message, newlines=True)}", err=True)


def _emit(text: str) -> None:
    """Everything rollsafe prints on standard output goes through here, so a write error is an
    OutputError, never a traceback."""
    if sys.stdout is None:  # started with standard output closed (>&-)
        raise OutputError(OSError(errno.EBADF, os.strerror(errno.EBADF)))
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise OutputError(exc) from None


class _Command(click.Command):
    """Refuses an option given twice that takes one value: click would silently keep the last."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # --help prints here
            return super().make_context(*args, **kwargs)
        except OSError as exc:
            _output_failed(exc)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        except click.UsageError:
            order = []  # super() reports it
        counts = collections.Counter(
            p for p in order if isinstance(p, click.Option) and not p.multiple and not p.is_flag
        )
        for option, n in counts.items():
            if n > 1:
                name = max(option.opts, key=len)
                hint = " (`rollsafe compare` runs several scenarios)" if name == "--builtin" else ""
                raise click.UsageError(f"{name} given {n} times; give it once{hint}", ctx=ctx)
        return super().parse_args(ctx, args)


class _Group(click.Group):
    """Exit codes beyond click's (EXIT_CODES): 130 on Ctrl-C, 143 on SIGTERM, 141 or 1 when standard output
    fails, 3 with the traceback for a bug in rollsafe itself (never for bad input, which gets a message
    and 2)."""

    command_class = _Command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with _sigterm_unwinds():
            return super().main(*args, **kwargs)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # --help and --version print here
            return super().make_context(*args, **kwargs)
        except OSError as exc:
            _output_failed(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutputError as exc:
            _output_failed(exc.cause, str(exc))
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            _say("terminated" if terminated else "interrupted")
            sys.exit(143 if terminated else 130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except OSError as exc:
            # output printed by click.echo rather than _emit (a subcommand's --help, a command that
            # does not use _emit yet): the errors only a write meets are still output failures
            if exc.errno in _WRITE_ERRNOS:
                _output_failed(exc)
            _internal_error()
        except Exception:
            _internal_error()


_WRITE_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _internal_error() -> NoReturn:
    traceback.print_exc()
    _say("internal error (a bug in rollsafe: please report it with the command)")
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
                default=None,
                envvar="ROLLSAFE_RUNS",
                show_envvar=True,
                help="Monte Carlo runs over seeds seed, seed+1, ... in parallel over the cores, with "
                "progress on a terminal. Default: up to 200, chosen from the scenario's size and stopped "
                "early once the 95 % interval of P(any failure) is 10 points wide (README: How many "
                "runs); --runs 1 for a single run's report. Counts are per-run means, stop_routing_lag_s "
                "the max (README lists each field's aggregate).",
            ),
            click.option(
                "--set",
                "overrides",
                multiple=True,
                metavar="KEY.PATH=VALUE",
                help="Override any scenario key, e.g. --set workload.preStopSleepSeconds=20 (repeatable). "
                "The value is YAML, read with a file's rules and limits.",
            ),
            click.option(
                "--output",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="text for people; json for scripts (strict JSON, the schema in README).",
            ),
            click.option(
                "--force",
                is_flag=True,
                help="Run even beyond the size limit (10⁹ requests, or 10¹¹ requests × replicas, over all "
                f"runs; {LOR_FACTOR} times lower with least_outstanding_requests, {CLOSED_FACTOR} with "
                "closed-model traffic).",
            ),
            *_executor_options(),
        ]
    ):
        f = option(f)
    return f


def _executor_options() -> list[Any]:
    """--executor and --scheduler: where Monte Carlo runs happen (simulate, compare and advise)."""
    return [
        click.option(
            "--executor",
            type=click.Choice(["local", "dask"]),
            default="local",
            show_default=True,
            help="Where Monte Carlo runs happen: a local process pool, or Dask (docs/dask.md).",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="With --executor dask: the scheduler (tcp://host:8786); without it a LocalCluster starts.",
        ),
    ]


@contextmanager
def _runs_executor(kind: str, scheduler: str | None, runs: int | None) -> Iterator[Any]:
    """The executor for simulate's and compare's Monte Carlo: None (the local pool, as before) or a Dask
    one, closed at the end. --runs 1 is one run here: no cluster is started for it."""
    if scheduler is not None and kind != "dask":
        _fail("--scheduler applies to --executor dask")
    if kind != "dask" or runs == 1:
        yield None
        return
    from rollsafe.runs.dask import DaskExecutor

    try:
        ex = DaskExecutor(scheduler)
    except RollsafeError as exc:
        _fail(str(exc))
    try:
        yield ex
    finally:
        ex.close()


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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="rollsafe")
def main() -> None:
    """Will a Kubernetes rolling update drop requests behind an AWS ALB, why, and what fixes it.

    A scenario is a YAML file (docs/scenario.md), - for standard input (read once), or a built-in.
    Files and standard input are read up to 1 MiB; --set values follow the same YAML rules.
    """


@main.command("scenarios")
@click.option(
    "--show", "show", metavar="NAME", help="Print a built-in scenario's YAML (a starting template)."
)
def scenarios_cmd(show: str | None) -> None:
    """List the built-in scenarios, a line each."""
    if show is not None:
        try:
            text = builtin_text(show)
        except RollsafeError as exc:
            _fail(str(exc))
        _emit(text)
        return
    rows = builtin_descriptions()
    width = max(len(n) for n, _ in rows)
    _emit("".join(f"{name:<{width}}  {desc.split('. ')[0].rstrip('.')}.\n" for name, desc in rows))


@main.command("simulate", epilog=EXIT_CODES)
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
    help="Write every control-plane event of the reported run (reported_run.seed; the only run with "
    "--runs 1) as JSON lines (docs/timeline.md).",
)
@click.option(
    "--emit-logs",
    "emit_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the reported run (the only one with --runs 1) as the four log sources (ALB access logs as "
    "S3 delivers them, LB controller log, CloudTrail, kube-apiserver audit) into DIR; `rollsafe diagnose "
    "DIR` reads them back.",
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
    help="Exit 1 when more than N requests fail (the per-run mean over the runs).",
)
@click.option(
    "--max-failures-p95",
    type=click.FloatRange(min=0),
    default=None,
    metavar="N",
    help="Exit 1 when the 95th percentile of failed requests per run exceeds N (over all runs, those "
    "that failed nothing included).",
)
@click.option(
    "--max-p-any-failure",
    type=click.FloatRange(min=0, max=1),
    default=None,
    metavar="P",
    help="Exit 1 unless the data show P(any failure) <= P: gates on the UPPER end of the 95 % Wilson "
    "interval, not the point estimate. No failure in n runs bounds P at about 3.84/(n+3.84), so a small P "
    "needs many runs (P 0.01: --runs 400 or more).",
)
@click.option(
    "--sensitivity",
    is_flag=True,
    help="Rerun with each assumed setting (not one given in the file or by --set) at the low and high end "
    "of its range (docs/assumptions.md) and show which move the failures most.",
)
def simulate_cmd(
    scenario_file: Path | None,
    builtin: str | None,
    seed: int,
    runs: int | None,
    overrides: tuple[str, ...],
    output: str,
    force: bool,
    timeline_path: Path | None,
    emit_dir: Path | None,
    start: str | None,
    max_failures: float | None,
    max_failures_p95: float | None = None,
    max_p_any_failure: float | None = None,
    sensitivity: bool = False,
    manifest_paths: tuple[str, ...] = (),
    app: str | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> None:
    """Simulate a rolling update described by SCENARIO_FILE (- for standard input), --builtin NAME or the
    manifests given with -f: the probability that it drops requests, how many when it does, each cause
    with the setting that fixes it, and the assumptions the answer rests on."""
    from rollsafe.model.assumptions import assumed_settings
    from rollsafe.model.timeline import DEFAULT_START
    from rollsafe.report.summary import summarize_runs
    from rollsafe.report.text import render

    if manifest_paths and (max_failures_p95 is not None or max_p_any_failure is not None or sensitivity):
        _fail("--max-failures-p95, --max-p-any-failure and --sensitivity apply to one scenario, not to -f")
    if manifest_paths:
        if (
            scenario_file is not None
            or builtin is not None
            or timeline_path is not None
            or emit_dir is not None
        ):
            _fail("-f reads manifests; give no SCENARIO_FILE, --builtin, --timeline or --emit-logs with it")
        with _runs_executor(executor, scheduler, runs) as ex:
            _simulate_manifests(
                manifest_paths, app, seed, runs, list(overrides), output, max_failures, force, executor=ex
            )
        return
    if app is not None:
        _fail("--app applies to manifests read with -f")
    start_at = DEFAULT_START if start is None else _instant("--start", start)
    try:
        scenario = _load(scenario_file, builtin, list(overrides))
        if timeline_path is not None:
            _check_timeline_path(timeline_path, scenario_file)
        _check_size([scenario], seed, runs, force=force)
        with _runs_executor(executor, scheduler, runs) as ex:
            stats, detail, rule = _run(scenario, seed, runs, keep=emit_dir is not None, executor=ex)
        if timeline_path is not None:
            _write_timeline(timeline_path, detail, scenario, start_at)
        if emit_dir is not None:
            from rollsafe.logs.emitters import emit_logs

            emitted = emit_logs(detail, scenario, emit_dir, start=start_at)
            detail.control = None
            detail.traffic.requests = None
            click.echo(
                f"rollsafe: wrote {emitted.lines.get('alb', 0):,} ALB log lines, "
                f"{emitted.lines.get('controller', 0):,} controller lines, "
                f"{emitted.lines.get('cloudtrail', 0):,} CloudTrail records and "
                f"{emitted.lines.get('audit', 0):,} audit events under {emit_dir}"
                + (f" (seed {detail.seed}, the reported run)" if len(stats) > 1 else ""),
                err=True,
            )
        sens = None
        if sensitivity:
            sens = _sensitivity(
                scenario,
                seed,
                assumed_settings(scenario, overrides=list(overrides), builtin=builtin is not None),
            )
    except OutputError:
        raise
    except RollsafeError as exc:
        _fail(str(exc))
    doc = summarize_runs(
        stats,
        detail,
        seed=seed,
        scenario=scenario,
        overrides=list(overrides),
        rule=rule,
        builtin=builtin is not None,
        sensitivity=sens,
    )
    if output == "json":
        _emit(_json_text(doc))
    else:
        width, color = _screen()
        _emit(render(doc, width=width, color=color))
    problems = _gates(doc, max_failures, max_failures_p95, max_p_any_failure)
    if problems:
        _say("; ".join(problems))
        sys.exit(1)


def _gates(
    doc: dict[str, Any], max_failures: float | None, max_p95: float | None, max_p: float | None
) -> list[str]:
    """The CI gates: each one the user gave, checked against the document as printed."""
    problems = []
    runs = doc["runs"]
    if max_failures is not None and doc["requests"]["failed"] > max_failures:
        problems.append(f"{doc['requests']['failed']} failed requests exceed --max-failures {max_failures:g}")
    p95 = doc["runs_summary"]["failed"]["p95"] if runs > 1 else doc["requests"]["failed"]
    if max_p95 is not None and p95 > max_p95:
        problems.append(f"p95 of {p95:g} failed requests per run exceeds --max-failures-p95 {max_p95:g}")
    if max_p is not None:
        prob = doc["probability"]
        upper = prob["ci95"][1]
        if upper > max_p:
            problems.append(
                f"P(any failure) is {prob['p_any_failure']:.1%} with a 95 % interval up to {upper:.1%} over "
                f"{runs} runs, above --max-p-any-failure {max_p:g}"
                + (" (more runs narrow the interval)" if prob["p_any_failure"] <= max_p else "")
            )
    gated = max_failures is not None or max_p95 is not None or max_p is not None
    if gated and doc["load_balancer"]["settled_runs"] < runs:
        problems.append("the rollout did not settle within the simulation, so the count may be incomplete")
    return problems


def _sensitivity(scenario: Scenario, seed: int, assumptions: list[dict[str, Any]]) -> dict[str, Any]:
    from rollsafe.runs import sensitivity as sens

    runs = sens.SENSITIVITY_RUNS
    total = sens.variants(assumptions) * runs
    with _progress(f"sensitivity: {total} runs", total) as advance:
        return sens.sensitivity(scenario, seed, assumptions, runs=runs, progress=advance)


@main.command("compare", epilog=EXIT_CODES)
@click.argument("scenario_files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--builtin", "builtins", multiple=True, metavar="NAME", help="A built-in scenario (repeatable)."
)
@_manifest_options
@_run_options
@click.option(
    "--set-col",
    "column_overrides",
    multiple=True,
    type=(click.IntRange(min=1), str),
    metavar="N KEY.PATH=VALUE",
    help="Override a key in column N only (1 = the first scenario: files, then --builtin, then -f "
    "workloads, in the order given), e.g. --set-col 2 workload.preStopSleepSeconds=20 (repeatable; "
    "after --set). The same --builtin twice with different --set-col compares two settings.",
)
def compare_cmd(
    scenario_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    seed: int,
    runs: int | None,
    overrides: tuple[str, ...],
    output: str,
    force: bool,
    column_overrides: tuple[tuple[int, str], ...] = (),
    manifest_paths: tuple[str, ...] = (),
    app: str | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> None:
    """Simulate several scenarios (files, - for standard input, --builtin NAME, and every workload of the
    manifests given with -f) with the same seeds and show them side by side: P(any failure) with its
    interval, failures, each column's overrides, notes and warnings."""
    from rollsafe.report.compare import render_comparison
    from rollsafe.report.summary import summarize_runs

    if sum(str(f) == "-" for f in (*scenario_files, *manifest_paths)) > 1:
        _fail("standard input (-) can be read only once; give - for one scenario and files for the others")
    from_manifests: list[Scenario] = []
    if manifest_paths:
        from_manifests = _manifest_scenarios(manifest_paths, app, list(overrides))
    elif app is not None:
        _fail("--app applies to manifests read with -f")
    if len(scenario_files) + len(builtins) + len(from_manifests) < 2:
        _fail("compare needs at least two scenarios (files, --builtin NAME and/or workloads read with -f)")
    columns = len(scenario_files) + len(builtins) + len(from_manifests)
    per_col: dict[int, list[str]] = {}
    for n, item in column_overrides:
        if n > columns:
            _fail(f"--set-col {n} {item}: there are only {columns} columns")
        if n > len(scenario_files) + len(builtins):
            _fail(f"--set-col {n} {item}: column {n} comes from -f manifests; use --set for those")
        per_col.setdefault(n, []).append(item)
    try:
        col_overrides = [list(overrides) + per_col.get(i + 1, []) for i in range(columns)]
        scenarios = [_load_path(f, col_overrides[i]) for i, f in enumerate(scenario_files)]
        scenarios += [load_builtin(b, col_overrides[len(scenario_files) + i]) for i, b in enumerate(builtins)]
        scenarios += from_manifests
        _check_size(scenarios, seed, runs, force=force)
        docs = []
        with _runs_executor(executor, scheduler, runs) as ex:
            runs_of = [_run(sc, seed, runs, executor=ex) for sc in scenarios]
        for i, (sc, (stats, detail, rule)) in enumerate(zip(scenarios, runs_of, strict=True)):
            is_builtin = len(scenario_files) <= i < len(scenario_files) + len(builtins)
            docs.append(
                summarize_runs(
                    stats,
                    detail,
                    seed=seed,
                    scenario=sc,
                    overrides=col_overrides[i],
                    rule=rule,
                    builtin=is_builtin,
                )
            )
    except RollsafeError as exc:
        _fail(str(exc))
    if output == "json":
        _emit(_json_text({"scenarios": docs}))
    else:
        width, color = _screen()
        _emit(render_comparison(docs, width=width, color=color))


# JSON strings may carry what a terminal would obey: DEL, the C1 controls (\x9b is CSI on some terminals),
# bidirectional overrides and line separators. json.dumps escapes only C0; these get \uXXXX too (the same
# string to any JSON parser).
_JSON_UNSAFE = {
    c: f"\\u{c:04x}"
    for c in [
        *range(0x7F, 0xA0),
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x2028,
        0x2029,
    ]
}


def _json_text(doc: Any) -> str:
    """Strict JSON (a NaN or an infinity is a bug, never bare NaN/Infinity in the output), safe on a
    terminal."""
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False).translate(_JSON_UNSAFE) + "\n"


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
    """A scenario file, or standard input for ``-`` (read up to the same size limit as a file)."""
    if str(path) == "-":
        if sys.stdin is None:  # started with standard input closed (<&-)
            raise RollsafeError("<stdin>: standard input is closed")
        return load_stream(sys.stdin.buffer, source="<stdin>", overrides=overrides)
    return load_file(path, overrides)


def _interactive() -> bool:
    """Progress and estimates go to standard error only when a person watches it."""
    return sys.stderr is not None and sys.stderr.isatty()


def _check_size(scenarios: list[Scenario], seed: int, runs: int | None, *, force: bool) -> None:
    """Refuses, before it starts, a simulation beyond the documented size (sim/budget.py) unless --force.
    When the traffic duration is not fixed, its bound (simulation.maxSeconds) decides first; only when
    that is too big does a control-plane run of the first seed tell the real duration."""
    from rollsafe.runs.montecarlo import MIN_RUNS
    from rollsafe.sim.budget import MAX_REQUESTS, MAX_WORK, budget, estimate_seconds, human_seconds
    from rollsafe.sim.simulate import run_control_plane

    for sc in scenarios:
        # the default plans at least MIN_RUNS runs, and never more than its own budget allows
        runs = runs if runs is not None else MIN_RUNS
        b = budget(sc, runs)
        if b.too_big() and b.bound:
            b = budget(sc, runs, run_control_plane(sc, seed).duration_s)
        if not b.too_big() or force:
            continue
        raise RollsafeError(
            f"{sc.name}: about {b.requests:.3g} requests × {b.replicas} replicas"
            + (f" over {runs} runs" if runs > 1 else "")
            + f" (traffic.rps {sc.traffic.rps:g} × {b.traffic_seconds:g} s)"
            + f" is beyond the limit ({MAX_REQUESTS:,} requests, {MAX_WORK:,} requests × replicas"
            + (f", {CLOSED_FACTOR} times lower with closed-model traffic" if b.closed else "")
            + (
                f", {LOR_FACTOR} times lower with least_outstanding_requests"
                if b.slow_path and not b.closed
                else ""
            )
            + f"); it would take about {human_seconds(estimate_seconds(b))}. Lower traffic.rps, "
            "traffic.durationSeconds or --runs, or pass --force"
        )


@contextmanager
def _progress(what: str, total: int) -> Iterator[Any]:
    """A progress bar on standard error when a person watches it; yields the advance callback (or None)."""
    if not _interactive():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(
        *Progress.get_default_columns(),
        console=Console(file=sys.stderr, force_terminal=True),
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _run(
    scenario: Scenario, seed: int, runs: int | None, *, keep: bool = False, executor: Any = None
) -> tuple[list[Any], RunResult, str]:
    """The runs' compact stats, the run reported in full (simulated again here, with its timeline), and
    how the number of runs was chosen. Only the reported run is ever simulated in full detail; ``keep``
    (--emit-logs) keeps its per-request arrays and control plane. ``executor`` runs the Monte Carlo
    (rollsafe.runs.executor.Executor; None: the local process pool)."""
    from rollsafe.runs import run_stats, stats_of
    from rollsafe.runs.montecarlo import cap_for, default_runs, reported_seed

    if runs == 1:
        if keep:
            result = simulate(scenario, seed, keep_requests=True)
        else:
            result = _simulate_watched(scenario, seed) if _interactive() else simulate(scenario, seed)
        return [stats_of(result)], result, "--runs 1"
    total = runs if runs is not None else cap_for(scenario)
    with _progress(f"simulating {total} runs", total) as advance:
        if runs is None:
            mc = default_runs(scenario, seed, executor=executor, progress=advance)
            stats, rule = mc.stats, mc.rule
        else:
            stats = run_stats(scenario, range(seed, seed + runs), executor=executor, progress=advance)
            rule = "--runs"
    return stats, simulate(scenario, reported_seed(stats), keep_requests=keep), rule


_WATCH_FROM_S = 2.0  # a run estimated shorter than this gets no spinner


def _simulate_watched(scenario: Scenario, seed: int) -> RunResult:
    """One run with a spinner and an estimate on standard error, when it may take a while. When the traffic
    runs until the rollout settles, a control-plane run (cheap next to the traffic) tells how long first."""
    from rich.console import Console

    from rollsafe.sim.budget import budget, estimate_seconds, human_seconds
    from rollsafe.sim.simulate import run_control_plane

    b = budget(scenario, 1)
    if estimate_seconds(b) < _WATCH_FROM_S:
        return simulate(scenario, seed)
    console = Console(file=sys.stderr, force_terminal=True)
    name = printable(scenario.name)
    if b.bound:
        with console.status(f"simulating {name}: the control plane first, to size the traffic"):
            b = budget(scenario, 1, run_control_plane(scenario, seed).duration_s)
    estimate = estimate_seconds(b)
    if estimate < _WATCH_FROM_S:
        return simulate(scenario, seed)
    with console.status(
        f"simulating {name}: {b.requests:.2g} requests, estimated ~{human_seconds(estimate)}"
    ):
        return simulate(scenario, seed)


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"the timeline holds {token}, which strict JSON cannot carry")


def _write_timeline(path: Path, result: RunResult, scenario: Scenario, start: datetime) -> None:
    from rollsafe.model.timeline import Names, absolute

    try:
        fh = path.open("w", encoding="utf-8")
    except OSError as exc:  # a path that cannot be a file: usage (2)
        raise RollsafeError(f"--timeline {path}: cannot create it: {exc.strerror or exc}") from None
    try:
        with fh:
            for event in absolute(result.timeline, start=start, names=Names(scenario.workload.name)):
                line = event.to_json(start=start)
                json.loads(line, parse_constant=_refuse_constant)  # strict JSON, as the report: a bug if not
                fh.write(line)
                fh.write("\n")
    except OSError as exc:  # the disk filled up: an output failure (1)
        raise OutputError(exc, f"{path}: cannot write the timeline") from None


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
            _say(f"{f['path']}: {reasons}")
        _fail("no usable input: none of the files held records of the four log sources")
    if output == "json":
        _emit(_json_text(doc))
    else:
        width, color = _screen()
        _emit(render_diagnosis(doc, width=width, color=color))


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _fail(message: str) -> NoReturn:
    _say(message)
    sys.exit(2)


# -- manifests: lint, rules, simulate -f ------------------------------------------------------------------


def _stdin_if(paths: tuple[str, ...] | list[str]) -> str | None:
    if "-" not in paths:
        return None
    if sys.stdin is None:  # started with standard input closed (<&-)
        _fail("<stdin>: standard input is closed")
    try:
        return sys.stdin.read()
    except UnicodeDecodeError:
        _fail("<stdin>: not UTF-8 text")


def _report_problems(problems: list[Any]) -> None:
    for p in problems:
        _say(str(p))


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
            _say(f"{w.facts.key} ({w.facts.file}:{w.facts.line}): {w.built.error}")
        else:
            out.append(w.built.scenario)
    return out


def _simulate_manifests(
    paths: tuple[str, ...],
    app: str | None,
    seed: int,
    runs: int | None,
    overrides: list[str],
    output: str,
    max_failures: float | None,
    force: bool = False,
    *,
    executor: Any = None,
) -> None:
    from rollsafe.report.summary import summarize_runs
    from rollsafe.report.text import render

    report = _analyse_or_fail(paths, app=app, overrides=overrides)
    _report_problems(report.problems)
    try:
        _check_size([w.built.scenario for w in report.workloads if w.built.scenario], seed, runs, force=force)
    except RollsafeError as exc:
        _fail(str(exc))
    docs = []
    for w in report.workloads:
        if w.built.scenario is None:
            _say(f"{w.facts.key} ({w.facts.file}:{w.facts.line}): {w.built.error}")
            continue
        try:
            stats, detail, rule = _run(w.built.scenario, seed, runs, executor=executor)
        except RollsafeError as exc:
            _fail(str(exc))
        doc = summarize_runs(
            stats, detail, seed=seed, scenario=w.built.scenario, overrides=overrides, rule=rule
        )
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
        _emit(_json_text({"workloads": docs}))
    else:
        width, color = _screen()
        for i, doc in enumerate(docs):
            if i:
                _emit("\n")
            _emit(printable(f"== {doc['namespace']}/{doc['name']}  ({doc['file']}:{doc['line']})") + "\n")
            for a in doc["assumptions"]:
                _emit(printable(f"assumption: {a}") + "\n")
            _emit(render(doc, width=width, color=color))
    if max_failures is not None:
        over = [d for d in docs if d["requests"]["failed"] > max_failures]
        if over:
            _say(
                "; ".join(
                    f"{d['namespace']}/{d['name']}: {d['requests']['failed']} failed requests" for d in over
                )
                + f" exceed --max-failures {max_failures:g}"
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
        _emit(_json_text(doc))
    elif output == "sarif":
        _emit(_json_text(to_sarif(doc)))
    else:
        _emit(printable(render_lint(doc), newlines=True))  # plain text: every user string escaped at once
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
        _emit(f"{rule.id} ({rule.severity})\n\n{rule.doc}\n")
        return
    if output == "json":
        rows = [
            {"id": r.id, "severity": r.severity, "summary": r.summary, "why": r.why, "fix": r.how_to_fix}
            for r in RULES
        ]
        _emit(_json_text({"rules": rows}))
        return
    width = max(len(r.id) for r in RULES)
    _emit("".join(f"{r.id:<{width}}  {r.severity:<7}  {r.summary}\n" for r in RULES))


# -- advise ---------------------------------------------------------------------------------------------


@main.command("advise", epilog=EXIT_CODES)
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--builtin", "builtin", metavar="NAME", help="Advise on a built-in scenario (see `rollsafe scenarios`)."
)
@_manifest_options
@click.option(
    "--target",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="Acceptable P(a rollout drops any request), judged by its one-sided 95 % upper bound.",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1, max=100_000),
    default=None,
    help="Monte Carlo runs per candidate (clearly bad ones stop early); default: the fewest whose "
    "zero-failure bound meets --target (300 for 0.01).",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1, max=10_000),
    default=24,
    show_default=True,
    help="Candidates the optimiser proposes (Optuna TPE), besides the refinement of the winner.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override any scenario key before advising (repeatable), as in simulate.",
)
@click.option(
    "--fix", "fixes", multiple=True, metavar="KEY=VALUE", help="Pin a setting the search would change."
)
@click.option("--only", "only", metavar="KEY,...", help="Search only these settings (the rest stay).")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=DEFAULT_SEED,
    show_default=True,
    help="Seed of the first run; every candidate runs the same seeds.",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json", "patch"]),
    default="text",
    show_default=True,
    help="text for people; json with every candidate; patch: a manifests patch with -f, else --set lines.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where runs happen: a local process pool, or Dask (docs/dask.md).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --executor dask: the scheduler (tcp://host:8786); without it a LocalCluster starts.",
)
def advise_cmd(
    scenario_file: Path | None,
    builtin: str | None,
    target: float,
    runs: int | None,
    trials: int,
    overrides: tuple[str, ...],
    fixes: tuple[str, ...],
    only: str | None,
    seed: int,
    output: str,
    executor: str,
    scheduler: str | None,
    manifest_paths: tuple[str, ...] = (),
    app: str | None = None,
) -> None:
    """Find the cheapest change to the settings a team controls (preStop and grace period, readiness gate,
    rollout pace, minReadySeconds, ALB health checks and deregistration delay) that brings P(any failed
    request during a rollout) to --target, with its cost and a patch. When none can, the structural change
    that removes the cause (drain on SIGTERM, the server's keep-alive, RollingUpdate, ip targets) is added
    as required and the search runs again on top of it. Exit 1 when nothing found meets it."""
    from rollsafe.advise.stats import runs_needed

    if scheduler is not None and executor != "dask":
        _fail("--scheduler applies to --executor dask")
    need = runs_needed(target)
    if runs is None:
        runs = -(-need // 10) * 10
    elif runs < need:
        _fail(
            f"--runs {runs}: even with no failed rollout the 95 % bound would stay above --target "
            f"{target:g}; give at least {need} runs or a larger --target"
        )
    fix: dict[str, str] = {}
    for item in fixes:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            _fail(f"--fix {item!r}: expected KEY=VALUE, e.g. --fix workload.readinessGate=false")
        if key.strip() in fix:
            _fail(f"--fix {key.strip()} given twice")
        fix[key.strip()] = value
    only_keys = [k.strip() for k in only.split(",") if k.strip()] if only is not None else None
    if only is not None and not only_keys:
        _fail("--only: give one or more setting keys, separated by commas")
    targets: list[tuple[Scenario, Any]] = []
    if manifest_paths:
        if scenario_file is not None or builtin is not None:
            _fail("-f reads manifests; give no SCENARIO_FILE or --builtin with it")
        report = _analyse_or_fail(manifest_paths, app=app, overrides=list(overrides))
        _report_problems(report.problems)
        for w in report.workloads:
            if w.built.scenario is None:
                _say(f"{w.facts.key} ({w.facts.file}:{w.facts.line}): {w.built.error}")
            else:
                targets.append((w.built.scenario, (report, w)))
        if not targets:
            _fail("no Deployment behind an ALB could be simulated from the input")
    else:
        if app is not None:
            _fail("--app applies to manifests read with -f")
        try:
            targets.append((_load(scenario_file, builtin, list(overrides)), None))
        except RollsafeError as exc:
            _fail(str(exc))
    results = _advise_all(targets, target, runs, trials, seed, fix, only_keys, executor, scheduler)
    from rollsafe.advise.patch import manifest_patch, overrides_text
    from rollsafe.advise.report import advise_doc, render_text

    docs = []
    for (_, where), result in zip(targets, results, strict=True):
        doc = advise_doc(result)
        if where is not None:
            _, w = where
            doc.update(namespace=w.facts.namespace, name=w.facts.name, file=w.facts.file, line=w.facts.line)
        docs.append(doc)
    if output == "json":
        _emit(_json_text({"workloads": docs} if manifest_paths else docs[0]))
    elif output == "patch":
        if manifest_paths:
            parts = [
                manifest_patch(r, where[0], where[1]) for (_, where), r in zip(targets, results, strict=True)
            ]
            _emit("---\n".join(parts))  # one YAML stream: workloads apart, as their documents are
        else:
            _emit(overrides_text(results[0]))
    else:
        for i, doc in enumerate(docs):
            if i:
                _emit("\n")
            if "namespace" in doc:
                _emit(printable(f"== {doc['namespace']}/{doc['name']}  ({doc['file']}:{doc['line']})") + "\n")
            _emit(render_text(doc))
    if not all(d["found"] for d in docs):
        sys.exit(1)


def _advise_all(
    targets: list[tuple[Scenario, Any]],
    target: float,
    runs: int,
    trials: int,
    seed: int,
    fix: dict[str, str],
    only: list[str] | None,
    executor: str,
    scheduler: str | None,
) -> list[Any]:
    from rollsafe.advise.executor import make_executor
    from rollsafe.advise.search import Search
    from rollsafe.advise.space import build_space

    try:
        spaces = [build_space(sc, fix=fix, only=only) for sc, _ in targets]
        _check_size([sc for sc, _ in targets], seed, runs, force=False)
        ex = make_executor(executor, scheduler)
    except RollsafeError as exc:
        _fail(str(exc))
    out = []
    try:
        for space in spaces:
            name = printable(space.base.name)
            if _interactive():
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(
                    TextColumn("advise {task.fields[name]}"),
                    BarColumn(),
                    TextColumn("{task.completed:.0f} simulations"),
                    TextColumn("{task.fields[what]}"),
                    TimeElapsedColumn(),
                    console=Console(file=sys.stderr, force_terminal=True),
                    transient=True,
                ) as progress:
                    task = progress.add_task("advise", total=None, name=name, what="")

                    def tick(n: int, what: str, progress: Progress = progress, task: Any = task) -> None:
                        progress.update(task, advance=n, what=printable(what)[:60])

                    search = Search(
                        space,
                        ex,
                        target=target,
                        runs=runs,
                        seed=seed,
                        trials=trials,
                        progress=tick,
                    )
                    out.append(search.run())
            else:
                out.append(Search(space, ex, target=target, runs=runs, seed=seed, trials=trials).run())
    except RollsafeError as exc:
        _fail(str(exc))
    finally:
        ex.close()
    return out
