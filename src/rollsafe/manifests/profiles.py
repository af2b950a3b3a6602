"""App profiles: what manifests cannot say about the program in the container (how fast it listens, what it
does on SIGTERM, its keep-alive timeout). Chosen with ``--app NAME`` or per Deployment with the annotation
``rollsafe.io/app: NAME``; any key can still be set with ``--set app.KEY=VALUE``. docs/lint.md lists them.

Each profile is a MODEL ASSUMPTION about a kind of server, named so in every report that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollsafe.errors import RollsafeError


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    app: dict[str, Any]  # scenario ``app`` keys, manifest spellings


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        # The scenario model's own App defaults: nginx fast shutdown on SIGTERM, keepalive_timeout 75 s
        # (nginx docs, ngx_http_core_module).
        Profile(
            "nginx",
            "listens about 1 s after start, exits at once on SIGTERM (fast shutdown), keep-alive 75 s",
            {"startupSeconds": 1.0, "onSigterm": "exit", "keepAliveTimeoutSeconds": 75},
        ),
        Profile(
            "graceful",
            "listens about 1 s after start; on SIGTERM stops accepting and finishes in-flight requests "
            "(up to 15 s), keep-alive 75 s",
            {"startupSeconds": 1.0, "onSigterm": "drain", "drainSeconds": 15, "keepAliveTimeoutSeconds": 75},
        ),
        # Node.js http.Server: no SIGTERM handler means the process exits at once; server.keepAliveTimeout
        # has long defaulted to 5 s (Node.js http docs; very recent releases raise it).
        Profile(
            "node",
            "a Node.js server without a SIGTERM handler: listens about 1 s after start, exits at once on "
            "SIGTERM, keep-alive 5 s (Node's long-standing default)",
            {"startupSeconds": 1.0, "onSigterm": "exit", "keepAliveTimeoutSeconds": 5},
        ),
        Profile(
            "jvm",
            "a JVM service with graceful shutdown (e.g. Spring Boot server.shutdown=graceful): listens "
            "15–25 s after start, drains up to 30 s on SIGTERM, keep-alive 75 s",
            {
                "startupSeconds": {"uniform": [15, 25]},
                "onSigterm": "drain",
                "drainSeconds": 30,
                "keepAliveTimeoutSeconds": 75,
            },
        ),
        Profile(
            "ignore-sigterm",
            "a process that ignores SIGTERM (e.g. a shell as PID 1 that does not forward it): serves until "
            "SIGKILL at the end of the grace period",
            {"startupSeconds": 1.0, "onSigterm": "ignore", "keepAliveTimeoutSeconds": 75},
        ),
    )
}
DEFAULT_PROFILE = "nginx"


def profile(name: str) -> Profile:
    got = PROFILES.get(name)
    if got is None:
        raise RollsafeError(f"no app profile {name!r}; choose one of {', '.join(PROFILES)} (docs/lint.md)")
    return got
