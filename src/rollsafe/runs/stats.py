"""RunStats: the compact aggregate of one run that crosses a process (or, later, a network) boundary.

A few dozen numbers: never the timeline, the routing views or per-request data. It must not hold
anything a seed does not determine, so the same seeds give the same stats, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rollsafe.model.causes import CAUSES, STATUS_BY_CODE
from rollsafe.sim.simulate import RunResult

FAILING_AT_END_S = 5  # a run "ends failing" when requests failed in its last seconds of traffic


@dataclass(frozen=True, slots=True)
class RunStats:
    seed: int
    total: int
    failed: int
    by_code: tuple[int, ...]  # requests per outcome code (0 = ok, then one per cause, CAUSES order)
    duration_s: float
    rollout_s: float | None
    settled_s: float | None
    steps: int
    registrations: int
    deregistrations: int
    no_healthy_target_s: float
    stop_routing_lag_s: float | None
    failing_at_end: bool
    worst_window_failed: int  # failures in the run's worst WORST_WINDOW_S window
    # per new target: RegisterTargets returned -> first traffic (a float per replica: still compact)
    registration_to_first_traffic_s: tuple[float, ...] = ()
    client_timeouts: int = 0  # closed model: requests whose client gave up waiting

    def causes(self) -> dict[str, int]:
        return {c.id: self.by_code[i + 1] for i, c in enumerate(CAUSES)}

    def status_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code, status in enumerate(STATUS_BY_CODE):
            out[str(status)] = out.get(str(status), 0) + self.by_code[code]
        return dict(sorted(out.items()))


def stats_of(result: RunResult) -> RunStats:
    per_s = result.traffic.per_second[:, 1:].sum(axis=1)
    last = int(result.duration_s)
    return RunStats(
        seed=result.seed,
        total=int(result.traffic.total),
        failed=result.failed,
        by_code=tuple(int(x) for x in np.asarray(result.traffic.by_code)),
        duration_s=float(result.duration_s),
        rollout_s=result.rollout_s,
        settled_s=result.settled_s,
        steps=int(result.steps),
        registrations=int(result.registrations),
        deregistrations=int(result.deregistrations),
        no_healthy_target_s=float(result.no_healthy_target_s),
        stop_routing_lag_s=result.stop_routing_lag_s,
        failing_at_end=bool(per_s[max(0, last - FAILING_AT_END_S) : last + 1].sum() > 0),
        worst_window_failed=result.worst_window()[2],
        registration_to_first_traffic_s=tuple(result.registration_to_first_traffic_s),
        client_timeouts=int(result.traffic.client_timeouts),
    )
