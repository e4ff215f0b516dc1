"""The records the detection engine works with: what a recognizer declares and what it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.core.redact import mask

Kind = Literal["pii", "secret"]


@dataclass(frozen=True, slots=True)
class Entity:
    """One detected value, with the character span into the text it came from.

    `value` lives only in this in-memory record (it is excluded from `repr` and
    from `to_dict`, which carries a masked form), so a result can be logged or
    serialised without leaking what it points at.
    """

    entity_type: str
    start: int
    end: int
    score: float
    explanation: str
    kind: Kind = "pii"
    recognizer: str = ""
    value: str = field(default="", repr=False, compare=False)

    @property
    def masked(self) -> str:
        keep = 4 if self.kind == "secret" or len(self.value) >= 12 else 2
        return mask(self.value, keep_end=keep)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "kind": self.kind,
            "recognizer": self.recognizer,
            "explanation": self.explanation,
            "masked": self.masked,
        }


@dataclass(frozen=True, slots=True)
class Pattern:
    """A declared pattern recognizer.

    `regex` must be valid for both RE2 and Hyperscan (no look-around, no
    back-references), which is what rules out catastrophic backtracking. When it
    has a capturing group, group 1 is the value and the rest is anchoring context
    (``password\\s*=\\s*(...)``). `context` words near the hit raise the score to
    `context_score`; `requires_context` drops the hit without them. `entropy` is a
    minimum Shannon entropy (bits per char) of the value, for secrets that have no
    fixed prefix.
    """

    name: str
    entity_type: str
    regex: str
    score: float
    kind: Kind = "pii"
    validator: str | None = None
    context: tuple[str, ...] = ()
    context_score: float | None = None
    requires_context: bool = False
    entropy: float | None = None
    case_insensitive: bool = False
    invalid_score: float | None = None  # score when the validator fails (None: drop)
    description: str = ""

    @property
    def full_regex(self) -> str:
        return f"(?i){self.regex}" if self.case_insensitive else self.regex
