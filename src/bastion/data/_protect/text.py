"""De-identify free text (LLM prompts, notes) and restore values in responses.

Entities come from the detection engine (or the caller). Overlaps are resolved
deterministically before anything is replaced: earlier start first, then the
longer span, then the higher score, then the type name; adjacent entities are
each replaced on their own. The `ProtectedText` keeps, in memory only, the map from
each replacement to its original, so `restore` can put values back into an LLM's
answer; numbered placeholders (``<EMAIL_ADDRESS_1>``) keep that map unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bastion.data._protect.errors import ProtectError
from bastion.data._protect.operators import Keyring, OpSpec, apply


class Span(Protocol):
    @property
    def entity_type(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def score(self) -> float: ...


def resolve_overlaps(entities: Sequence[Span]) -> list[Span]:
    """Non-overlapping entities in text order, chosen by a total (hence deterministic) order."""
    ordered = sorted(entities, key=lambda e: (e.start, -(e.end - e.start), -e.score, e.entity_type))
    kept: list[Span] = []
    last_end = -1
    for e in ordered:
        if e.end <= e.start:
            continue
        if e.start >= last_end:
            kept.append(e)
            last_end = e.end
    return kept


@dataclass
class Change:
    entity_type: str
    op: str
    start: int
    end: int
    new_start: int
    new_end: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "op": self.op,
            "start": self.start,
            "end": self.end,
            "new_start": self.new_start,
            "new_end": self.new_end,
        }


@dataclass
class ProtectedText:
    text: str
    changes: list[Change]
    mapping: dict[str, str] = field(default_factory=dict, repr=False)

    def restore(self, text: str) -> str:
        """Put the originals back wherever a replacement appears in `text` (e.g. an LLM's answer)."""
        return restore_text(text, self.mapping)


def restore_text(text: str, mapping: Mapping[str, str]) -> str:
    usable = {k: v for k, v in mapping.items() if k}
    if not usable:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(usable, key=len, reverse=True)))
    return pattern.sub(lambda m: usable[m.group(0)], text)


class TextPolicy:
    """Operator per entity type; ``"*"`` is the default (placeholder unless set)."""

    def __init__(self, rules: Mapping[str, Any] | None = None) -> None:
        rules = dict(rules or {})
        self.default = OpSpec.parse(rules.pop("*", "placeholder"), "text policy '*'")
        self.rules = {k.upper(): OpSpec.parse(v, f"text policy {k!r}") for k, v in rules.items()}

    def for_type(self, entity_type: str) -> OpSpec:
        return self.rules.get(entity_type.upper(), self.default)


def protect_text(
    text: str,
    policy: TextPolicy,
    ring: Keyring,
    *,
    entities: Sequence[Span] | None = None,
) -> ProtectedText:
    if entities is None:
        from bastion.data.detect import detect

        found: Sequence[Span] = detect(text)
    else:
        found = entities
    for e in found:
        if not 0 <= e.start <= e.end <= len(text):
            raise ProtectError(f"entity span {e.start}..{e.end} is outside the text")
    chosen = resolve_overlaps(found)
    # Group values per operator so keyed operators (vault, FF1) run as one batch.
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(chosen):
        groups.setdefault(e.entity_type, []).append(i)
    replacement: list[str] = [""] * len(chosen)
    mapping: dict[str, str] = {}
    numbering: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}
    for etype, idxs in groups.items():
        spec = policy.for_type(etype)
        originals = [text[chosen[i].start : chosen[i].end] for i in idxs]
        if spec.op == "placeholder":
            label = str(spec.params.get("label", etype)).upper()
            outs = []
            for v in originals:
                key = (label, v)
                if key not in numbering:
                    counters[label] = counters.get(label, 0) + 1
                    numbering[key] = f"<{label}_{counters[label]}>"
                outs.append(numbering[key])
        else:
            outs = apply(spec, originals, ring, entity_type=etype)
        for i, v, new in zip(idxs, originals, outs, strict=True):
            replacement[i] = new
            if spec.op not in ("keep", "redact", "mask") and new:
                mapping[new] = v
    parts: list[str] = []
    changes: list[Change] = []
    pos = 0
    out_len = 0
    for e, new in zip(chosen, replacement, strict=True):
        parts.append(text[pos : e.start])
        out_len += e.start - pos
        parts.append(new)
        spec = policy.for_type(e.entity_type)
        changes.append(Change(e.entity_type, spec.op, e.start, e.end, out_len, out_len + len(new)))
        out_len += len(new)
        pos = e.end
    parts.append(text[pos:])
    return ProtectedText("".join(parts), changes, mapping)
