"""Routing views: piecewise-constant lists of the pods that may receive new requests, and from when.

One view per ALB node for ``ip`` targets, one per worker node's kube-proxy for ``instance`` targets. The
data plane joins requests against these with ``searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RoutingView:
    name: str
    policy: str  # round_robin | weighted_random | least_outstanding_requests | random
    times: list[float] = field(default_factory=list)
    targets: list[tuple[int, ...]] = field(default_factory=list)
    fail_open: list[bool] = field(default_factory=list)

    def set(self, t: float, targets: list[int] | tuple[int, ...], *, fail_open: bool = False) -> bool:
        """Record that from ``t`` on the view routes to ``targets``; False when nothing changed."""
        new = tuple(targets)
        if self.targets and self.targets[-1] == new and self.fail_open[-1] == fail_open:
            return False
        if self.times and self.times[-1] == t:
            self.targets[-1] = new
            self.fail_open[-1] = fail_open
        else:
            self.times.append(t)
            self.targets.append(new)
            self.fail_open.append(fail_open)
        return True

    @property
    def current(self) -> tuple[int, ...]:
        return self.targets[-1] if self.targets else ()
