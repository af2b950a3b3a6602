"""TimelineEvent: one control-plane change. The timeline is the ground truth reports are built from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """A control-plane change at simulated (or wall) time ``t_s`` seconds after the rollout began.

    ``source`` is the component that made the change (``deployment-controller``, ``kubelet``, ``alb``...),
    ``kind`` what it did (``ScaledReplicaSet``, ``SIGTERM``, ``TargetHealthy``...), ``object`` what it did
    it to (``pod/web-new-3``, ``replicaset/web-new``, ``target/10.0.1.5:8080@node-a``), ``attrs`` the details.
    """

    t_s: float
    source: str
    kind: str
    object: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON line; keys in a fixed order so the same run gives the same bytes."""
        return json.dumps(
            {
                "t_s": round(self.t_s, 6),
                "source": self.source,
                "kind": self.kind,
                "object": self.object,
                "attrs": self.attrs,
            },
            sort_keys=False,
            separators=(",", ":"),
        )
