"""Hostile input and output: every case issue 5 lists, each with its message and exit code (2 for bad
input), or its correct result. Through the CLI as a CI pipeline runs it; the closed pipe, the full disk
and SIGTERM also in a real process, where the interpreter's own last flush and the worker processes are
real too.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

import rollsafe.cli
from rollsafe.cli import _json_text, main
from rollsafe.errors import ScenarioError
from rollsafe.model.scenario import Scenario
from rollsafe.scenarios import load_text
from rollsafe.yamlload import MAX_BYTES, YamlError, load_document, load_documents, read_limited, scan

LINUX = sys.platform.startswith("linux")
ROLLSAFE = [sys.executable, "-c", "from rollsafe.cli import main; main()"]


def _cli(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def _bad(result: Result, *needles: str) -> None:
    """Exit 2, a message on stderr containing every needle, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# -- once exit 3 with a traceback ------------------------------------------------------------------
def test_uniform_up_to_infinity_is_refused() -> None:
    r = _cli("simulate", "-", stdin="app:\n  startupSeconds: {uniform: [0, .inf]}\n")
    _bad(r, "<stdin>:2: app.startupSeconds", "not a finite number")


@pytest.mark.parametrize(
    "dist",
    [
        "{uniform: [0, 1e308]}",
        "{exponential: {mean: 1e308}}",
        "{lognormal: {median: 1e-300, p99: 1e300}}",
        "{lognormal: {median: 0.001, p99: 1e5}}",
        "2e6",
    ],
)
def test_durations_that_would_overflow_are_refused(dist: str) -> None:
    _bad(_cli("simulate", "-", stdin=f"app:\n  startupSeconds: {dist}\n"), "<stdin>:2: app.startupSeconds")


@pytest.mark.parametrize(
    "text",
    [
        "name: !foo bar\n",
        "name: !!python/object/apply:os.system ['touch /tmp/rollsafe-pwned']\n",
        "app: !!python/object:os.stat {}\n",
        "workload:\n  replicas: !!int '5'\n",
        "workload: !!omap [{replicas: 3}]\n",
        "name: !!binary aGk=\n",
    ],
)
def test_yaml_tags_are_refused(text: str) -> None:
    _bad(_cli("simulate", "-", stdin=text), "<stdin>:", "YAML tags", "are not allowed")
    assert not Path("/tmp/rollsafe-pwned").exists()


# -- standard output closed or full, in every command ----------------------------------------------
MANIFESTS = Path(__file__).parent / "data" / "manifests" / "builtin-defaults"
DIAGNOSE_LOGS = Path(__file__).parent / "data" / "logs" / "alb-variations.log"
COMMANDS = [
    ["scenarios"],
    ["scenarios", "--show", "recreate"],
    ["simulate", "--builtin", "eks-alb-defaults"],
    ["simulate", "--builtin", "eks-alb-defaults", "--output", "json"],
    ["compare", "--builtin", "eks-alb-defaults", "--builtin", "recreate"],
    ["compare", "--builtin", "eks-alb-defaults", "--builtin", "recreate", "--output", "json"],
    ["--help"],
    ["simulate", "--help"],
    ["--version"],
    ["rules"],
    ["rules", "--show", "missing-prestop-delay"],
    ["rules", "--output", "json"],
    ["lint", str(MANIFESTS)],
    ["lint", str(MANIFESTS), "--output", "sarif"],
    ["simulate", "-f", str(MANIFESTS)],
    ["simulate", "-f", str(MANIFESTS), "--output", "json"],
    ["diagnose", str(DIAGNOSE_LOGS)],
    ["diagnose", str(DIAGNOSE_LOGS), "--output", "json"],
]


class _FailingStdout(io.RawIOBase):
    def __init__(self, code: int) -> None:
        self.code = code

    def writable(self) -> bool:
        return True

    def write(self, _b: Any) -> int:
        raise OSError(self.code, os.strerror(self.code))


def _run_with_stdout_failing(
    code: int, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr(
        sys, "stdout", io.TextIOWrapper(io.BufferedWriter(_FailingStdout(code)), encoding="utf-8")
    )
    with pytest.raises(SystemExit) as exc:
        main.main(args, prog_name="rollsafe")
    monkeypatch.undo()
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_closed_pipe_ends_quietly_in_every_command(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run_with_stdout_failing(errno.EPIPE, args, monkeypatch, capsys)
    assert (code, err) == (141, "")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_full_disk_is_a_message_and_exit_1_in_every_command(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run_with_stdout_failing(errno.ENOSPC, args, monkeypatch, capsys)
    assert code == 1
    assert err == "rollsafe: cannot write the output: No space left on device\n"


@pytest.mark.skipif(not LINUX, reason="/dev/full is Linux's")
def test_real_closed_pipe_and_real_full_disk() -> None:
    # a pipe whose reader is gone before rollsafe writes: what `rollsafe ... | head -1` meets
    read_end, write_end = os.pipe()
    os.close(read_end)
    args = ["simulate", "--builtin", "eks-alb-defaults", "--output", "json"]
    done = subprocess.run(
        [*ROLLSAFE, *args], stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False
    )
    os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")  # no traceback, no "Exception ignored"
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*ROLLSAFE, *args], stdout=full, stderr=subprocess.PIPE, timeout=60, check=False
        )
    assert done.returncode == 1
    assert done.stderr == b"rollsafe: cannot write the output: No space left on device\n"


@pytest.mark.skipif(not LINUX, reason="/dev/full is Linux's")
def test_timeline_on_a_full_disk_is_exit_1() -> None:
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--timeline", "/dev/full")
    assert r.exit_code == 1
    assert r.stderr == "rollsafe: /dev/full: cannot write the timeline: No space left on device\n"


# -- non-finite numbers and strict JSON ------------------------------------------------------------
@pytest.mark.parametrize(
    "key", ["workload.preStopSleepSeconds", "app.drainSeconds", "app.keepAliveTimeoutSeconds", "traffic.rps"]
)
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".Inf", "1e999"])
def test_non_finite_numbers_are_refused(key: str, value: str) -> None:
    section, name = key.split(".")
    r = _cli("simulate", "-", stdin=f"{section}:\n  {name}: {value}\n")
    _bad(r, f"<stdin>:2: {key}")
    _bad(_cli("simulate", "--builtin", "recreate", "--set", f"{key}={value}"), f"--set {key}")


def test_non_finite_numbers_are_refused_from_python_too() -> None:
    with pytest.raises(ValueError, match="finite"):
        Scenario.model_validate({"app": {"drainSeconds": float("inf")}})
    with pytest.raises(ValueError, match="finite"):
        Scenario.model_validate({"workload": {"preStopSleepSeconds": float("nan")}})


def test_json_is_strict() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        _json_text({"x": float("inf")})
    r = _cli(
        "compare", "--builtin", "eks-alb-defaults", "--builtin", "eks-alb-zero-downtime", "--output", "json"
    )
    assert r.exit_code == 0

    def refuse(token: str) -> None:
        raise AssertionError(token)

    assert len(json.loads(r.stdout, parse_constant=refuse)["scenarios"]) == 2


# -- limits: the same for files, stdin and --set ---------------------------------------------------
ALIAS_BOMB = (
    "{a: &a [x,x,x,x,x,x,x,x,x], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], "
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], "
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f], "
    "h: [*g,*g,*g,*g,*g,*g,*g,*g,*g]}"
)


def test_alias_bomb_is_refused_quickly_from_file_stdin_and_set(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 410  # the bomb was 405 bytes
    path = tmp_path / "bomb.yaml"
    path.write_text(f"description: {ALIAS_BOMB}\n", encoding="utf-8")
    start = time.monotonic()
    _bad(_cli("simulate", str(path)), "more than 100,000 values")
    _bad(_cli("simulate", "-", stdin=f"description: {ALIAS_BOMB}\n"), "more than 100,000 values")
    _bad(_cli("simulate", "--builtin", "recreate", "--set", f"description={ALIAS_BOMB}"), "more than 100,000")
    assert time.monotonic() - start < 5


def test_size_cap_for_file_stdin_and_set(tmp_path: Path) -> None:
    big = "description: " + "x" * MAX_BYTES + "\n"
    path = tmp_path / "big.yaml"
    path.write_text(big, encoding="utf-8")
    _bad(_cli("simulate", str(path)), f"longer than {MAX_BYTES:,} bytes")
    _bad(_cli("simulate", "-", stdin=big), "<stdin>: longer than")
    set_big = "description=" + "x" * (MAX_BYTES + 1)
    _bad(_cli("simulate", "--builtin", "recreate", "--set", set_big), "--set description: longer than")
    # under the cap, the text is read, and the description meets its own cap
    under = "description: " + "x" * (MAX_BYTES - 100) + "\n"
    with pytest.raises(ScenarioError, match=r"s\.yaml:1: description: String should have at most 20000"):
        load_text(under, source="s.yaml")


def test_a_50_mb_description_is_not_read_in_full() -> None:
    class Endless(io.RawIOBase):
        read_bytes = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf: Any) -> int:
            n = len(buf)
            buf[:n] = b"x" * n
            self.read_bytes += n
            return n

    stream = Endless()
    with pytest.raises(YamlError, match="longer than"):
        read_limited(io.BufferedReader(stream), source="<stdin>")
    assert stream.read_bytes < 2 * MAX_BYTES + 65536  # never the 50 MB


@pytest.mark.skipif(not LINUX, reason="reads /proc to find the workers")
@pytest.mark.parametrize(
    ("how", "code", "message"),
    [
        ("SIGTERM to rollsafe", 143, b"rollsafe: terminated\n"),  # a CI job's timeout, `kill PID`
        ("SIGINT to the group", 130, b"rollsafe: interrupted\n"),  # Ctrl-C
        ("SIGKILL to rollsafe", -signal.SIGKILL, b""),  # nothing can run in rollsafe: the workers die alone
    ],
)
def test_signals_during_runs_stop_the_workers(how: str, code: int, message: bytes) -> None:
    proc = subprocess.Popen(
        [*ROLLSAFE, "simulate", "--builtin", "eks-alb-defaults", "--runs", "2000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(0.3)  # let them get busy
        if how.endswith("to the group"):
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGKILL)
        # a worker left behind holds standard error open: communicate() would time out
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        for w in left:  # the test leaves nothing behind, whatever its outcome
            with contextlib.suppress(OSError):
                os.kill(w, signal.SIGKILL)
    assert left == []
    assert proc.returncode == code
    assert err == message  # one line, no traceback from any worker


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- long runs: refused up front beyond the size, progress and an estimate on a terminal -----------
def test_a_huge_run_is_refused_up_front() -> None:
    start = time.monotonic()
    r = _cli(
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--set",
        "traffic.rps=1e7",
        "--set",
        "traffic.durationSeconds=3600",
    )
    _bad(r, "3.6e+10 requests × 10 replicas", "beyond the limit", "--force")
    assert time.monotonic() - start < 3
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--runs", "100000", "--set", "traffic.rps=1000")
    _bad(r, "over 100000 runs", "--force")


def test_force_lets_a_huge_run_start(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    def fake_simulate(_scenario: Scenario, seed: int) -> Any:
        started.append(seed)
        raise KeyboardInterrupt  # stop there: the point is that it started

    monkeypatch.setattr(rollsafe.cli, "simulate", fake_simulate)
    args = [
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--set",
        "traffic.rps=1e7",
        "--set",
        "traffic.durationSeconds=3600",
    ]
    assert _cli(*args, "--force").exit_code == 130
    assert started == [1]


def test_the_bound_alone_does_not_refuse_a_run_whose_traffic_is_small() -> None:
    # 10⁵ rps × simulation.maxSeconds 86,400 would be 8.6e9 requests; the rollout settles in under a
    # minute, so the traffic is a few million requests, and the run goes ahead
    r = _cli(
        "simulate",
        "--builtin",
        "eks-alb-defaults",
        "--set",
        "traffic.rps=1e5",
        "--set",
        "simulation.maxSeconds=86400",
    )
    assert r.exit_code == 0, r.output


def test_progress_and_estimate_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollsafe.cli, "_interactive", lambda: True)
    monkeypatch.setattr(rollsafe.cli, "_WATCH_FROM_S", 0.0)  # show it even for a short run
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--set", "traffic.rps=5e4")
    assert r.exit_code == 0
    # the traffic lasts until the rollout settles: the control plane runs first to size it
    assert "the control plane first, to size the traffic" in r.stderr
    assert re.search(r"simulating eks-alb-defaults: \d\.\de\+06 requests, estimated ~\d+ s", r.stderr)
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--set", "traffic.durationSeconds=30")
    assert "to size the traffic" not in r.stderr  # a fixed duration needs no sizing
    assert "6e+03 requests, estimated ~1 s" in r.stderr  # 200 rps × 30 s
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--runs", "3")
    assert r.exit_code == 0
    assert "simulating 3 runs" in r.stderr
    monkeypatch.setattr(rollsafe.cli, "_interactive", lambda: False)
    assert _cli("simulate", "--builtin", "eks-alb-defaults", "--set", "traffic.rps=5e4").stderr == ""


# -- terminal escapes ------------------------------------------------------------------------------
HOSTILE_NAME = 'name: "\\e[2J\\e]0;pwned\\a\\x9b31m\\u202eevil\\nnext"\n'


def test_names_are_printed_with_control_characters_escaped() -> None:
    r = _cli("simulate", "-", stdin=HOSTILE_NAME)
    assert r.exit_code == 0
    head = r.stdout.splitlines()[0]
    assert head.startswith(r"rollsafe simulate: \x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\x0anext")
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in r.stdout
    r = _cli("compare", "-", "--builtin", "recreate", stdin=HOSTILE_NAME)
    assert r.exit_code == 0
    assert "\x1b" not in r.stdout
    assert "\\x1b[2J" in r.stdout


def test_json_keeps_the_name_but_escapes_what_a_terminal_obeys() -> None:
    r = _cli("simulate", "-", "--output", "json", stdin=HOSTILE_NAME)
    assert r.exit_code == 0
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in r.stdout
    assert json.loads(r.stdout)["scenario"] == "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\nnext"


def test_error_messages_escape_user_text() -> None:
    r = _cli("simulate", "-", stdin='workload:\n  "\\e[2Jx": 1\n')
    _bad(r, "<stdin>:2: workload.\\x1b[2Jx: unknown key")
    assert "\x1b" not in r.stderr
    r = _cli("simulate", "--builtin", "recreate", "--set", "\x1b[2J=1")
    assert r.exit_code == 2
    assert "\x1b" not in r.stderr


# -- YAML 1.1 surprises ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("yes", "write true for a boolean, or quote it ('yes')"),
        ("no", "write false for a boolean, or quote it ('no')"),
        ("on", "write true"),
        ("Off", "write false"),
        (
            "1:30",
            "base-60 (clock-style) number (90); write 90 as a plain decimal number, or quote it ('1:30')",
        ),
        ("010", "octal number (8); write 8"),
        ("0x10", "hexadecimal number (16); write 16"),
        ("0b101", "binary number (5); write 5"),
        ("1_000", "digit separators (1000); write 1000"),
    ],
)
def test_yaml_11_surprises_are_errors_that_suggest_the_fix(value: str, suggestion: str) -> None:
    text = f"name: demo\nworkload:\n  readinessGate: {value}\n"
    r = _cli("simulate", "-", stdin=text)
    _bad(r, f"<stdin>:3: workload.readinessGate: {value!r}", suggestion)
    _bad(_cli("simulate", "--builtin", "recreate", "--set", f"workload.readinessGate={value}"), suggestion)


def test_true_and_false_stay_booleans_and_1e7_is_a_number() -> None:
    sc = load_text("workload: {readinessGate: true}\ntraffic: {rps: 1e3}\n", source="s.yaml")
    assert sc.workload.readiness_gate is True
    assert sc.traffic.rps == 1000
    assert load_text("workload: {readinessGate: False}\n", source="s.yaml").workload.readiness_gate is False


def test_manifests_get_the_same_protection() -> None:
    # the loader knows nothing of scenarios: a manifest stream meets the same rules
    with pytest.raises(YamlError, match=r"m\.yaml:3: spec\.paused: 'on' is the boolean true"):
        load_documents("kind: Deployment\nspec:\n  paused: on\n", source="m.yaml")
    doc = load_document("metadata:\n  creationTimestamp: 2024-01-01\n", source="m.yaml")
    assert doc is not None
    assert doc.data["metadata"]["creationTimestamp"] == "2024-01-01"  # a string, as Kubernetes reads it


# -- two keys ----------------------------------------------------------------------------------------
def test_health_check_timeout_must_be_below_the_interval() -> None:
    text = (
        "loadBalancer:\n  healthCheck:\n    intervalSeconds: 10\n    healthyThresholdCount: 3\n"
        "    timeoutSeconds: 10\n"
    )
    _bad(
        _cli("simulate", "-", stdin=text),
        "<stdin>:5: loadBalancer.healthCheck: timeoutSeconds (10) must be smaller than intervalSeconds (10)",
    )
    text = "loadBalancer:\n  healthCheck:\n    timeoutSeconds: 6\n    intervalSeconds: 5\n"
    _bad(
        _cli("simulate", "-", stdin=text),
        "<stdin>:4: ",
        "timeoutSeconds (6) must be smaller than intervalSeconds (5)",
    )
    text = "loadBalancer:\n  healthCheck:\n    timeoutSeconds: 20\n    healthyThresholdCount: 3\n"
    _bad(
        _cli("simulate", "-", stdin=text),
        "<stdin>:3: ",
        "timeoutSeconds (20) must be smaller than intervalSeconds (15)",
    )
    assert load_text("loadBalancer: {healthCheck: {intervalSeconds: 10, timeoutSeconds: 9}}", source="s").name


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("simulation:\n  maxSeconds: 60\ntraffic:\n  durationSeconds: 120\n", 4, "longer than"),
        ("traffic:\n  durationSeconds: 120\nsimulation:\n  maxSeconds: 60\n", 4, "longer than"),
        ("workload:\n  readinessGate: true\nloadBalancer:\n  targetType: instance\n", 4, "readiness gates"),
        ("workload:\n  strategy:\n    maxSurge: 0\n    maxUnavailable: 0\n", 4, "may not be 0"),
        ("workload:\n  strategy:\n    maxUnavailable: 0\n    maxSurge: 0\n", 4, "may not be 0"),
        ("workload:\n  strategy:\n    maxSurge: 1\n\n    type: Recreate\n", 5, "may not be specified"),
    ],
)
def test_errors_about_two_keys_name_the_later_line(text: str, line: int, needle: str) -> None:
    _bad(_cli("simulate", "-", stdin=text), f"<stdin>:{line}: ", needle)


def test_a_set_among_the_two_keys_is_named() -> None:
    r = _cli("simulate", "-", "--set", "loadBalancer.healthCheck.timeoutSeconds=20", stdin="name: x\n")
    _bad(r, "<stdin> (--set): loadBalancer.healthCheck: timeoutSeconds (20)")


# -- repeated options and standard input ------------------------------------------------------------
def test_builtin_given_twice_to_simulate_is_refused() -> None:
    r = _cli("simulate", "--builtin", "eks-alb-defaults", "--builtin", "recreate")
    _bad(r, "--builtin given 2 times", "rollsafe compare")
    _bad(_cli("simulate", "--builtin", "recreate", "--seed", "1", "--seed", "2"), "--seed given 2 times")
    _bad(
        _cli("compare", "--builtin", "recreate", "--builtin", "recreate", "--runs", "2", "--runs=3"),
        "--runs given",
    )


def test_standard_input_can_be_read_once() -> None:
    r = _cli("compare", "-", "-", stdin="name: a\n")
    _bad(r, "standard input (-) can be read only once")
    r = _cli("compare", "-", "-f", "-", stdin="name: a\n")  # a scenario and manifests, both from stdin
    _bad(r, "standard input (-) can be read only once")


def test_stdin_must_be_utf8() -> None:
    _bad(_cli("simulate", "-", stdin=b"name: \xff\xfe\n"), "<stdin>:1: not UTF-8 text")


def test_closed_stdout_and_stdin_are_messages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # started with >&- or <&-: Python has no sys.stdout / sys.stdin at all
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(SystemExit) as exc:
        main.main(["scenarios"], prog_name="rollsafe")
    assert exc.value.code == 1
    assert capsys.readouterr().err == "rollsafe: cannot write the output: Bad file descriptor\n"
    monkeypatch.undo()
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(SystemExit) as exc:
        main.main(["simulate", "-"], prog_name="rollsafe")
    assert exc.value.code == 2
    assert capsys.readouterr().err == "rollsafe: <stdin>: standard input is closed\n"


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_scan_takes_nodes_from_pyyamls_own_loaders(loader: type[yaml.SafeLoader]) -> None:
    # the manifests reader composes with (C)SafeLoader and hands the nodes to scan: PyYAML's own readings
    # (a timestamp, the string 1e7) are no tags of the user's; libyaml marks plain scalars with style ""
    ok = yaml.compose("a: 2024-01-01\nb: 1e7\nc: true\nd: 'yes'\ne: 8\nf: [x, 1.5]\n", Loader=loader)
    assert ok is not None
    assert scan(ok, "m.yaml")[("f", 1)] == 6
    for text, problem in [
        ("a:\n  b: on\n", "m.yaml:2: a.b: 'on' is the boolean true"),
        ("a: !!str 010\n", "m.yaml:1: a: YAML tags (!!str) are not allowed"),
        ("a: 0x1F\n", "m.yaml:1: a: '0x1F' is read by YAML 1.1 as a hexadecimal number (31)"),
    ]:
        node = yaml.compose(text, Loader=loader)
        assert node is not None
        with pytest.raises(YamlError, match=re.escape(problem)):
            scan(node, "m.yaml")


def test_a_command_printing_with_click_echo_still_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a command added later that prints with click.echo instead of _emit gets the same exit codes
    @main.command("echo-test")
    def _echo_test() -> None:
        import click

        click.echo("x" * 100_000)

    try:
        assert _run_with_stdout_failing(errno.EPIPE, ["echo-test"], monkeypatch, capsys) == (141, "")
        code, err = _run_with_stdout_failing(errno.ENOSPC, ["echo-test"], monkeypatch, capsys)
        assert (code, err) == (1, "rollsafe: cannot write the output: No space left on device\n")
    finally:
        main.commands.pop("echo-test")


def test_lint_text_escapes_what_the_manifests_hold(tmp_path: Path) -> None:
    # a document's problem names its key path, which holds whatever the file spelt
    (tmp_path / "bad.yaml").write_text('"\\e[2J\\e]0;owned\\a": {a: yes}\n', encoding="utf-8")
    r = _cli("lint", str(tmp_path), str(MANIFESTS))
    assert r.exit_code in {0, 1}, r.output
    assert "\\x1b[2J\\x1b]0;owned\\x07" in r.stdout + r.stderr
    assert "\x1b" not in r.stdout + r.stderr
