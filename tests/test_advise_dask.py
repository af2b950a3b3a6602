"""--executor dask --scheduler ADDRESS on simulate --runs and compare (issue 10, item 4: every Monte Carlo
goes through one executor interface): against a LocalCluster on 127.0.0.1, the output is byte for byte
that of the local process pool for the same seeds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from rollsafe.cli import main


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster
    finally:
        cluster.close()


# instance mode drops requests in every run (so the comparison is not of zeros) and runs fast at 20 rps
SIM = ["--builtin", "eks-instance-mode", "--set", "traffic.rps=20", "--runs", "24", "--output", "json"]


def _tasks(cluster: Any) -> int:
    """run_chunk tasks the cluster's scheduler has seen: the runs did go there."""
    prefix = cluster.scheduler.task_prefixes.get("run_chunk")
    return 0 if prefix is None else int(prefix.state_counts["memory"])


def test_simulate_runs_on_dask_match_the_local_pool(cluster: Any) -> None:
    scheduler = str(cluster.scheduler_address)
    code, local, _ = run("simulate", *SIM)
    assert code == 0
    code, dask, err = run("simulate", *SIM, "--executor", "dask", "--scheduler", scheduler)
    assert code == 0, err
    assert dask == local
    assert '"failing_runs": 24' in local
    assert _tasks(cluster) >= 2
    # the default number of runs (stages until the interval is narrow) goes through the executor too
    default = [a for a in SIM if a not in ("--runs", "24")]
    code, local, _ = run("simulate", *default)
    code2, dask, _ = run("simulate", *default, "--executor", "dask", "--scheduler", scheduler)
    assert (code, code2) == (0, 0)
    assert dask == local


def test_compare_on_dask_matches_the_local_pool(cluster: Any) -> None:
    scheduler = str(cluster.scheduler_address)
    before = _tasks(cluster)
    args = [
        "compare",
        "--builtin",
        "eks-instance-mode",
        "--builtin",
        "eks-alb-prestop",
        "--set",
        "traffic.rps=20",
        "--runs",
        "16",
        "--output",
        "json",
    ]
    code, local, _ = run(*args)
    assert code == 0
    code, dask, err = run(*args, "--executor", "dask", "--scheduler", scheduler)
    assert code == 0, err
    assert dask == local
    assert _tasks(cluster) >= before + 2  # both columns ran there


def test_scheduler_without_dask_and_an_unreachable_scheduler_exit_2() -> None:
    code, _, err = run("simulate", *SIM, "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2
    assert "--executor dask" in err
    code, _, err = run("compare", "--builtin", "recreate", "--builtin", "recreate", "--scheduler", "x")
    assert code == 2
    assert "--executor dask" in err
