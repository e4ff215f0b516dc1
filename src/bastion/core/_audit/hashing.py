"""Canonical encoding and hashing of events and checkpoints.

The hash input is canonical JSON (sorted keys, no whitespace, UTF-8, no NaN) so
that any other tool can recompute it: ``sha256(canonical({seq, ts, project, kind,
actor, subject, data, prev_hash}))`` with `ts` as ISO-8601 UTC with microseconds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

CHECKPOINT_DOMAIN = b"bastion-audit-checkpoint-v1\n"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    ts: datetime,
    project: str,
    kind: str,
    actor: str,
    subject: str,
    data: Any,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "ts": iso(ts),
        "project": project,
        "kind": kind,
        "actor": actor,
        "subject": subject,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


def checkpoint_message(*, seq: int, hash: str, ts: datetime, key_id: str) -> bytes:
    """What a checkpoint signs; the domain prefix keeps the key from signing anything else by accident."""
    return CHECKPOINT_DOMAIN + canonical({"seq": seq, "hash": hash, "ts": iso(ts), "key_id": key_id})
