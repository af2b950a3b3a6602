"""The same control plane on a real asyncio event loop, at 1 simulated second = 2 ms of wall time.

asyncio does not keep FIFO order for equal deadlines and runs callbacks late when it is busy, so this is
the clock the lab will use and the one a tie-order or timing dependency would break. Every built-in runs
with the rollout invariants checked after every event. Wall time is bounded: each rollout gets at most
its simulated horizon at this scale.
"""

from __future__ import annotations

import asyncio

import pytest

from rollsafe.control.cluster import Cluster
from rollsafe.lab.clock import AsyncioScheduler
from rollsafe.scenarios import builtin_names, load_builtin
from rollsafe.sim.rng import SeededStreams
from tests.invariants import RolloutInvariants

SCALE = 0.002  # wall seconds per simulated second
UNTIL_S = 600.0  # at most 1.2 s of wall time per rollout


async def _rollout(name: str, seed: int) -> tuple[RolloutInvariants, AsyncioScheduler]:
    sched = AsyncioScheduler(asyncio.get_running_loop(), seconds_per_sim_second=SCALE)
    cluster = Cluster(sched, SeededStreams(seed), load_builtin(name))
    inv = RolloutInvariants(cluster, label=f"{name} seed={seed} asyncio")
    sched.after_each = inv.check
    sched.call_at(0.0, cluster.start_rollout)
    await sched.run_until(cluster.settled, until=UNTIL_S)
    return inv, sched


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("seed", [1, 2])
def test_invariants_hold_on_an_asyncio_loop(name: str, seed: int) -> None:
    inv, sched = asyncio.run(_rollout(name, seed))
    inv.assert_completed()
    assert sched.events > 500
    assert inv.max_active > inv.replicas or inv.max_surge == 0


def test_now_follows_the_loop_clock_at_the_scale() -> None:
    async def measure() -> tuple[float, float, list[float]]:
        loop = asyncio.get_running_loop()
        sched = AsyncioScheduler(loop, seconds_per_sim_second=0.001)
        ran: list[float] = []
        sched.call_at(20.0, lambda: ran.append(sched.now()))
        cancelled = sched.call_at(10.0, lambda: ran.append(-1.0))
        cancelled.cancel()
        before = sched.now()
        await asyncio.sleep(0.03)
        return before, sched.now(), ran

    before, after, ran = asyncio.run(measure())
    assert 0 <= before < 5
    assert after >= 30 - 1e-6  # 30 ms of wall time is 30 simulated seconds
    assert len(ran) == 1  # the cancelled call never ran
    assert ran[0] >= 20 - 1e-3


def test_a_failing_callback_is_raised_by_the_driver() -> None:
    async def fail() -> None:
        sched = AsyncioScheduler(asyncio.get_running_loop(), seconds_per_sim_second=0.001)
        later: list[int] = []

        def boom() -> None:
            raise ZeroDivisionError

        sched.call_at(1.0, boom)
        sched.call_at(2.0, lambda: later.append(1))
        with pytest.raises(ZeroDivisionError):
            await sched.run_until(lambda: False, until=100.0)
        await asyncio.sleep(0.005)
        assert later == [], "callbacks after a failure do not run"

    asyncio.run(fail())
