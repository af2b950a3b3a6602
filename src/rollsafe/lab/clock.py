"""A wall-clock Scheduler on an asyncio event loop (architecture.md, "The two clocks").

``AsyncioScheduler`` runs the unchanged control plane in real time: ``call_at`` wraps ``loop.call_at``,
``now()`` maps ``loop.time()`` to simulated seconds, and ``seconds_per_sim_second`` stretches or shrinks
time (1.0 for a real lab, a few milliseconds to run a rollout quickly in a test). asyncio does not keep
the order of callbacks due at the same time, and a busy loop runs them late, so nothing built on this
may rely on tie order or exact timing.

It must not be used for simulate or compare: their results are a pure function of the seed, and a wall
clock is not. It never blocks and never sleeps: the caller owns and runs the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence


class AsyncioScheduler:
    """Implements rollsafe.control.scheduler.Scheduler on an asyncio loop.

    Simulated time 0 is the moment the scheduler is made. A callback that raises is recorded in
    ``error`` (the first one) and stops every later callback, so a failure is never lost in the loop's
    exception log; ``after_each`` (if set) runs after every callback, as on the virtual scheduler.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, seconds_per_sim_second: float = 1.0) -> None:
        if not seconds_per_sim_second > 0:
            raise ValueError(f"seconds_per_sim_second must be positive, got {seconds_per_sim_second}")
        self._loop = loop
        self._scale = seconds_per_sim_second
        self._t0 = loop.time()
        self.events = 0
        self.error: BaseException | None = None
        self.after_each: Callable[[], None] | None = None

    def now(self) -> float:
        return (self._loop.time() - self._t0) / self._scale

    def call_at(self, t: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return self._loop.call_at(self._t0 + t * self._scale, self._run, fn)

    def call_each_at(self, t: float, fns: Sequence[Callable[[], None]]) -> None:
        for fn in fns:  # separate callbacks: the loop keeps no order among equal deadlines anyway
            self.call_at(t, fn)

    def _run(self, fn: Callable[[], None]) -> None:
        if self.error is not None:
            return
        try:
            self.events += 1
            fn()
            if self.after_each is not None:
                self.after_each()
        except Exception as exc:  # kept for the caller, who re-raises it
            self.error = exc

    async def run_until(self, done: Callable[[], bool], *, until: float, poll: float = 0.25) -> None:
        """Wait (in the loop) until ``done()`` holds or simulated time reaches ``until``, checking every
        ``poll`` simulated seconds; re-raises the first error a callback raised."""
        while not done() and self.now() < until and self.error is None:
            await asyncio.sleep(poll * self._scale)
        if self.error is not None:
            raise self.error
