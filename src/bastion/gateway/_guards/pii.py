"""The PII/secret redaction guard, with reversible placeholders.

Input: each detected value is replaced by a placeholder such as
``[REDACTED_EMAIL_ADDRESS_1]`` (the same value always gets the same placeholder
within one request, so the model can still refer to "the same e-mail"), and the
mapping travels back to the gateway in the verdict's `details["restore"]`,
which the chain keeps in memory for this request only and never logs. Output:
values the model produced itself (leaked from training data or context) are
redacted the same way, and the gateway then puts the caller's own values back
(`restore`, or `StreamRestorer` for SSE, where a placeholder can be split
across chunks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bastion.core.plugins import GuardInput, GuardVerdict

PLACEHOLDER = re.compile(r"\[REDACTED_[A-Z0-9_]+?_\d+\]")
_MAX_PLACEHOLDER = 64


class PIIGuard:
    """Detects PII and secrets with `bastion.data.detect` and sanitises them."""

    name = "pii"
    directions = frozenset({"input", "output"})
    inline_safe = True  # hyperscan/RE2 over a prompt: well under a millisecond per KB

    def __init__(self, *, entities: Iterable[str] | None = None, min_score: float | None = None) -> None:
        self.entities = None if entities is None else tuple(entities)
        self.min_score = min_score

    OPTIONS = frozenset({"entities", "min_score"})

    def with_options(self, **options: Any) -> PIIGuard:
        """A configured copy; an unknown option is an error, not silently ignored (a typo would disable it)."""
        unknown = sorted(set(options) - self.OPTIONS)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(self.OPTIONS))})")
        return PIIGuard(entities=options.get("entities"), min_score=options.get("min_score"))

    def check(self, item: GuardInput) -> GuardVerdict:
        from bastion.data.detect import detect

        text = item.text
        if not text:
            return GuardVerdict(allowed=True)
        found = detect(text, entities=self.entities, min_score=self.min_score)
        # Never re-redact our own placeholders (the output still holds them).
        found = [e for e in found if not PLACEHOLDER.fullmatch(text[e.start : e.end])]
        if not found:
            return GuardVerdict(allowed=True)
        known: dict[str, str] = dict(item.metadata.get("pii_vault") or {})  # placeholder -> value
        by_value = {v: k for k, v in known.items()}
        counters: dict[str, int] = {}
        for ph in known:
            etype, _, n = ph[len("[REDACTED_") : -1].rpartition("_")
            counters[etype] = max(counters.get(etype, 0), int(n))
        restore: dict[str, str] = {}
        out: list[str] = []
        pos = 0
        types: dict[str, int] = {}
        for ent in sorted(found, key=lambda e: e.start):
            if ent.start < pos:
                continue
            value = text[ent.start : ent.end]
            etype = re.sub(r"[^A-Z0-9_]", "_", ent.entity_type.upper())[:40]
            known_ph = by_value.get(value)
            if known_ph is None:
                counters[etype] = counters.get(etype, 0) + 1
                ph = f"[REDACTED_{etype}_{counters[etype]}]"
                by_value[value] = ph
            else:
                ph = known_ph
            restore[ph] = value
            out.append(text[pos : ent.start])
            out.append(ph)
            pos = ent.end
            types[etype] = types.get(etype, 0) + 1
        out.append(text[pos:])
        score = max(e.score for e in found)
        reasons = [f"{t}x{n}" for t, n in sorted(types.items())]
        return GuardVerdict(
            allowed=False,
            score=float(score),
            text="".join(out),
            reasons=reasons,
            details={"restore": restore, "entity_counts": types},
        )


def restore(text: str, mapping: dict[str, str]) -> str:
    if not mapping or "[REDACTED_" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


class StreamRestorer:
    """Restores placeholders in a stream of text deltas, holding back a possible partial placeholder."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self._pending = ""

    def feed(self, delta: str) -> str:
        if not self.mapping:
            return delta
        buf = self._pending + delta
        cut = len(buf)
        start = buf.rfind("[", max(0, len(buf) - _MAX_PLACEHOLDER))
        if start != -1 and "]" not in buf[start:]:
            tail = buf[start:]
            if any(ph.startswith(tail) for ph in self.mapping) or (
                len(tail) < _MAX_PLACEHOLDER and "[REDACTED_".startswith(tail[:10])
            ):
                cut = start
        self._pending = buf[cut:]
        return restore(buf[:cut], self.mapping)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return restore(rest, self.mapping)
