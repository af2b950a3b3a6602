"""The shared list of why a request fails (shared/design/causes.md). Ids are stable contracts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cause:
    id: str
    status: int
    meaning: str
    fix: str


CAUSES: tuple[Cause, ...] = (
    Cause(
        "not-yet-listening",
        502,
        "the LB sent a request to a pod whose server was not accepting connections yet",
        "a readiness probe that tests the app; readiness gates",
    ),
    Cause(
        "stopped-listening",
        502,
        "the LB still routed new requests to a pod whose server had closed its listener",
        "preStop delay longer than the deregistration lag; keep accepting until the LB stops sending",
    ),
    Cause(
        "in-flight-killed",
        502,
        "a request was being served when the process exited or was SIGKILLed",
        "graceful drain on SIGTERM; terminationGracePeriodSeconds >= preStop + drain",
    ),
    Cause(
        "drain-timeout",
        502,
        "a request was still running on a deregistered target when the deregistration delay ran out",
        "a deregistration delay longer than the slowest request",
    ),
    Cause(
        "keepalive-race",
        502,
        "the LB sent a request on a pooled backend connection that the server was closing",
        "server keep-alive timeout > LB idle timeout; send Connection: close while draining",
    ),
    Cause(
        "no-healthy-targets",
        503,
        "no registered target could take the request (none, or only initial/draining/unused ones)",
        "readiness gates so old pods outlive the new ones' registration; maxUnavailable: 0",
    ),
    Cause(
        "target-unreachable",
        504,
        "the LB tried to connect to a pod IP that no longer exists and hit the 10 s connect timeout",
        "the same as stopped-listening: stop routing before the pod goes",
    ),
    Cause(
        "response-timeout",
        504,
        "the target accepted but sent no response within the LB idle timeout",
        "fix the hung server; drain with a bound",
    ),
)

CAUSE_IDS: tuple[str, ...] = tuple(c.id for c in CAUSES)
BY_ID: dict[str, Cause] = {c.id: c for c in CAUSES}

# Outcome codes used in the data-plane arrays: 0 is success, k >= 1 is CAUSES[k - 1].
SUCCESS = 0
CODE: dict[str, int] = {c.id: i + 1 for i, c in enumerate(CAUSES)}
STATUS_BY_CODE: tuple[int, ...] = (200, *(c.status for c in CAUSES))
