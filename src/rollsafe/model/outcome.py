"""The one cause-precedence rule: when several things went wrong for one request, which cause it gets.

A request's fate is described by facts, each a yes/no question about what the request met (was it routed
at all, was the pod's IP gone, did it arrive before the server listened, ...). The first fact that holds,
in the fixed order of ``FACTS``, decides the cause; none holding means success. The simulator's vectorized
evaluator, its per-request reference and ``diagnose`` all decide causes through ``Precedence.decide``, so
the order is written once. Pure: no I/O, no clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from rollsafe.model.causes import CODE, SUCCESS

BoolArray = npt.NDArray[np.bool_]
CodeArray = npt.NDArray[np.int64]

# The facts, in precedence order. What each one means:
#   unrouted            the LB (or kube-proxy) had no target to send the request to
#   ip_gone             the pod's IP no longer existed when the request was sent
#   not_listening_yet   the pod's server was not accepting connections yet
#   closing_idle        the server had just stopped accepting and was closing its idle pooled connections
#   stopped_listening   the server had stopped accepting connections
#   idle_race           the request went out on a pooled connection the server was closing on keep-alive
#   killed_first        accepted, and the process exited before the response (before anything below)
#   drain_first         accepted, and the deregistration delay ended before the response
#   idle_timeout_first  accepted, and the LB idle timeout fired before the response
FACTS: tuple[str, ...] = (
    "unrouted",
    "ip_gone",
    "not_listening_yet",
    "closing_idle",
    "stopped_listening",
    "idle_race",
    "killed_first",
    "drain_first",
    "idle_timeout_first",
)


def no_target_cause(target_type: str) -> str:
    """With ip targets, a request the ALB has no target for is a 503. With instance targets the ALB's node
    targets stay healthy; kube-proxy on the node has no endpoint and rejects the connection (iptables
    REJECT), which the ALB answers with a 502: counted as stopped-listening, the nearest cause in the list
    (docs/model.md)."""
    return "no-healthy-targets" if target_type == "ip" else "stopped-listening"


def vanished_ip_cause(vanished_pod_ip: str) -> str:
    """A connection to a vanished pod IP: dropped SYNs end in the connect timeout (504); an immediate
    reset or ICMP unreachable is a 502 like a closed listener."""
    return "target-unreachable" if vanished_pod_ip == "timeout" else "stopped-listening"


@dataclass(frozen=True, slots=True)
class Precedence:
    """The cause of each fact, in ``FACTS`` order, for one setup (two causes depend on it)."""

    causes: tuple[str, ...]
    # the code of each cause, made once: ``decide`` runs per request in the closed model and the reference
    codes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(CODE[c] for c in self.causes))

    @staticmethod
    def for_setup(*, target_type: str, vanished_pod_ip: str) -> Precedence:
        return Precedence(
            (
                no_target_cause(target_type),
                vanished_ip_cause(vanished_pod_ip),
                "not-yet-listening",
                "keepalive-race",
                "stopped-listening",
                "keepalive-race",
                "in-flight-killed",
                "drain-timeout",
                "response-timeout",
            )
        )

    @overload
    def decide(self, facts: tuple[bool, ...]) -> int: ...

    @overload
    def decide(self, facts: tuple[BoolArray, ...]) -> CodeArray: ...

    def decide(self, facts: tuple[Any, ...]) -> Any:
        """The outcome code (0 success, else ``CODE[cause]``) of the first fact that holds.

        ``facts`` holds one value per entry of ``FACTS``, in that order: plain bools for one request, or
        boolean arrays of equal length for many (then an int64 array of codes comes back)."""
        if len(facts) != len(FACTS):
            raise ValueError(f"expected {len(FACTS)} facts ({', '.join(FACTS)}), got {len(facts)}")
        codes = self.codes
        if isinstance(facts[0], np.ndarray):
            # what np.select gives, without its broadcasting and type checks: the last fact's code first,
            # each earlier fact's written over it where that fact holds
            out = np.full(facts[0].shape, SUCCESS, dtype=np.int64)
            for holds, code in zip(reversed(facts), reversed(codes), strict=True):
                np.copyto(out, code, where=holds)
            return out
        for holds, code in zip(facts, codes, strict=True):
            if holds:
                return code
        return SUCCESS

    def cause(self, facts: tuple[bool, ...]) -> str | None:
        """The cause id for one request's facts, or None when it succeeded."""
        code = self.decide(facts)
        return None if code == SUCCESS else self.causes[list(self.codes).index(code)]


@overload
def accepted_fate(
    *, end: float, exit_t: float, drain_t: float, timeout_t: float
) -> tuple[bool, bool, bool]: ...


@overload
def accepted_fate(
    *, end: npt.NDArray[Any], exit_t: npt.NDArray[Any], drain_t: npt.NDArray[Any], timeout_t: npt.NDArray[Any]
) -> tuple[BoolArray, BoolArray, BoolArray]: ...


def accepted_fate(*, end: Any, exit_t: Any, drain_t: Any, timeout_t: Any) -> tuple[Any, Any, Any]:
    """For an accepted request that would complete at ``end``: whether the process exit, the end of the
    deregistration delay or the LB idle timeout came first and before ``end`` (the facts killed_first,
    drain_first, idle_timeout_first). At most one holds; ties go to the exit, then the drain deadline."""
    if isinstance(end, np.ndarray):
        first = np.minimum(np.minimum(exit_t, drain_t), timeout_t)
        fails = first < end
        killed = fails & (exit_t == first)
        not_killed = fails & (exit_t != first)  # fails & ~killed
        at_drain = drain_t == first
        return killed, not_killed & at_drain, not_killed & ~at_drain
    first = min(exit_t, drain_t, timeout_t)
    if not first < end:
        return False, False, False
    if exit_t == first:
        return True, False, False
    if drain_t == first:
        return False, True, False
    return False, False, True
