"""The AWS Load Balancer Controller's log lines for a run: zap JSON lines (``level``, ``ts``, ``msg``, then
the message's keys) as ``kubectl logs deploy/aws-load-balancer-controller`` prints them.

The shape follows an older build on purpose (controller v2.4-v2.8): ``ts`` as an epoch float (sub-second,
so lags stay measurable), targets in aws-sdk-go v1 order ``{"AvailabilityZone":null,"Id":...,"Port":...}``,
and past-tense lines without ``targets`` (added in v2.13.0), so a diagnosis must pair them with the
present-tense line (pkg/targetgroupbinding/targets_manager.go). Renders only.
"""

from __future__ import annotations

import json
from typing import Any

from rollsafe.model.timeline import Event, EventKind, Names

BANNER = '{"level":"info","ts":%s,"logger":"setup","msg":"version","GitVersion":"v2.8.1"}'


def _line(ts: float, msg: str, **keys: Any) -> str:
    body: dict[str, Any] = {"level": "info", "ts": round(ts, 6), "msg": msg}
    body |= keys
    return json.dumps(body, separators=(",", ":"))


def render(events: list[Event], names: Names, *, instance_mode: bool) -> list[str]:
    """The controller's lines for the (de)registrations on the timeline, with the reconcile chatter that
    surrounds them in a real log."""
    out: list[str] = []
    tgb = {"name": names.target_group_name, "namespace": names.namespace}
    if events:
        out.append(BANNER % round(events[0].at.timestamp() - 60, 6))
    for e in events:
        if e.kind not in (EventKind.REGISTER_TARGETS, EventKind.DEREGISTER_TARGETS):
            continue
        ts = e.at.timestamp()
        targets = [
            {
                "AvailabilityZone": None,
                "Id": ip,
                "Port": names.node_port if instance_mode else names.target_port,
            }
            for ip in e.attrs.get("targets", [])
        ]
        verb = "registering" if e.kind == EventKind.REGISTER_TARGETS else "deRegistering"
        past = "registered" if e.kind == EventKind.REGISTER_TARGETS else "deRegistered"
        out.append(_line(ts, f"{verb} targets", arn=names.target_group_arn, targets=targets))
        out.append(_line(ts, f"{past} targets", arn=names.target_group_arn))
        out.append(_line(ts, "Successful reconcile", tgb=tgb, checkpoint=names._hex(f"cp{ts}", 16)))
    return out
