"""The tamper-evident audit log: every state change, hash-chained, with signed checkpoints.

Each event's hash covers its content and its predecessor's hash, so editing,
deleting, inserting or reordering events breaks the chain; checkpoints signed
with an Ed25519 key kept outside the database (``state_dir/keys``) catch what a
hash chain alone cannot: a rewritten chain or a truncated tail.

Get the log from a store (``Store.open(...).audit``). Callers record ids, counts
and fingerprints only, never raw values: `append` refuses data keys such as
``evidence`` or ``password`` and long strings.

    report = store.audit.verify()
    if not report.ok:
        for p in report.problems:
            print(p.seq, p.kind, p.message)
"""

from __future__ import annotations

from bastion.core._audit.hashing import canonical, event_hash
from bastion.core._audit.log import CHECKPOINT_EVERY, AuditLog
from bastion.core._audit.model import (
    PROBLEM_KINDS,
    ZERO_HASH,
    AuditDataError,
    AuditError,
    Checkpoint,
    Problem,
    ProblemKind,
    VerifyReport,
)
from bastion.core.types import Event

__all__ = [
    "CHECKPOINT_EVERY",
    "PROBLEM_KINDS",
    "ZERO_HASH",
    "AuditDataError",
    "AuditError",
    "AuditLog",
    "Checkpoint",
    "Event",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "canonical",
    "event_hash",
]
