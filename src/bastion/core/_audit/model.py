"""Result types of the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ZERO_HASH = "0" * 64

ProblemKind = Literal["modified", "deleted", "inserted", "reordered", "truncated", "bad_signature"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "bad_signature",
)

# Keys that would carry raw values; audit data holds ids, counts and fingerprints only.
FORBIDDEN_KEYS = frozenset(
    {"evidence", "raw", "raw_value", "value_raw", "secret", "password", "plaintext", "sample", "samples"}
)


class AuditError(Exception):
    """The audit log cannot be written or read (not: the log was tampered with)."""


class AuditDataError(AuditError, ValueError):
    """Event data that must not enter the log (a raw value, a non-JSON value)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the chain head was `hash` at `seq`", made with a key outside the database."""

    id: int
    seq: int
    hash: str
    ts: datetime
    signature: str
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "hash": self.hash,
            "ts": self.ts.isoformat(),
            "signature": self.signature,
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """One way the stored log differs from what was written; `seq` names the event."""

    seq: int
    kind: ProblemKind
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass(slots=True)
class VerifyReport:
    events_checked: int = 0
    checkpoints_checked: int = 0
    head_seq: int | None = None
    head_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": [p.to_dict() for p in self.problems],
        }
