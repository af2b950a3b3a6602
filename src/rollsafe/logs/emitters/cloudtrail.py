"""CloudTrail records for the controller's RegisterTargets and DeregisterTargets calls, as CloudTrail
delivers them to S3: ``{"Records":[...]}`` gzip files under
``AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`` (CloudTrail record contents reference).
``eventTime`` has whole seconds, as CloudTrail writes it. Renders only.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC
from pathlib import Path
from typing import Any

from rollsafe.model.timeline import Event, EventKind, Names


def _uuid(names: Names, key: str) -> str:
    h = names._hex(key, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def records(events: list[Event], names: Names, *, instance_mode: bool) -> list[dict[str, Any]]:
    out = []
    role = f"{names.workload[:20]}-eks-lbc-role"
    session = "1772619000123456789"
    port = names.node_port if instance_mode else names.target_port
    for i, e in enumerate(events):
        if e.kind not in (EventKind.REGISTER_TARGETS, EventKind.DEREGISTER_TARGETS):
            continue
        out.append(
            {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": f"AROAEXAMPLEEXAMPLE00:{session}",
                    "arn": f"arn:aws:sts::{names.account}:assumed-role/{role}/{session}",
                    "accountId": names.account,
                },
                "eventTime": e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "elasticloadbalancing.amazonaws.com",
                "eventName": str(e.kind),
                "awsRegion": names.region,
                "sourceIPAddress": "10.0.11.5",
                "userAgent": "elbv2.k8s.aws/v2.8.1 aws-sdk-go/1.44.0",
                "requestParameters": {
                    "targetGroupArn": names.target_group_arn,
                    "targets": [{"id": ip, "port": port} for ip in e.attrs.get("targets", [])],
                },
                "responseElements": None,
                "requestID": _uuid(names, f"req/{i}/{e.at.isoformat()}"),
                "eventID": _uuid(names, f"ev/{i}/{e.at.isoformat()}"),
                "readOnly": False,
                "eventType": "AwsApiCall",
                "apiVersion": "2015-12-01",
                "managementEvent": True,
                "recipientAccountId": names.account,
                "eventCategory": "Management",
            }
        )
    return out


def write(root: Path, events: list[Event], names: Names, *, instance_mode: bool) -> list[Path]:
    recs = records(events, names, instance_mode=instance_mode)
    if not recs:
        return []
    first = events[0].at
    folder = (
        root
        / "AWSLogs"
        / names.account
        / "CloudTrail"
        / names.region
        / f"{first:%Y}"
        / f"{first:%m}"
        / f"{first:%d}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = (
        folder
        / f"{names.account}_CloudTrail_{names.region}_{first:%Y%m%dT%H%MZ}_{names._hex('ct', 16)}.json.gz"
    )
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(json.dumps({"Records": recs}, separators=(",", ":")).encode())
    return [path]
