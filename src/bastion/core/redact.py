"""Masking for anything that might reach a log, a finding or a report.

Engines call `mask` before building evidence, so a raw sensitive value never
leaves the engine that saw it. The masked form keeps just enough (a short tail)
for a person to recognise which value is meant, and at most `max_stars` stars so
that a long secret does not flood a report.
"""

from __future__ import annotations


def mask(value: str, *, keep_start: int = 0, keep_end: int = 4, min_hidden: int = 4, max_stars: int = 12) -> str:
    """Return `value` with all but a few edge characters replaced by `*`.

    At least `min_hidden` characters, and at least half the value, are always
    hidden, so the kept edges never reveal a short value.
    """
    n = len(value)
    must_hide = max(min_hidden, (n + 1) // 2)
    visible = max(0, n - must_hide)
    keep_end = min(keep_end, visible)
    keep_start = min(keep_start, visible - keep_end)
    hidden = n - keep_start - keep_end
    tail = value[n - keep_end :] if keep_end else ""
    return f"{value[:keep_start]}{'*' * min(hidden, max_stars)}{tail}"


def describe_secret(value: str, kind: str) -> str:
    """Evidence text for a secret: its kind, its length and a masked tail."""
    return f"{kind} ({len(value)} chars): {mask(value, keep_start=0, keep_end=4)}"
