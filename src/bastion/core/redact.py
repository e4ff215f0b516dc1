"""Masking for anything that might reach a log, a finding or a report.

Engines call `mask` before building evidence, so a raw sensitive value never
leaves the engine that saw it. The masked form keeps just enough (a short tail
and the length) for a person to recognise which value is meant.
"""

from __future__ import annotations


def mask(value: str, *, keep_start: int = 0, keep_end: int = 4, min_hidden: int = 4) -> str:
    """Return `value` with all but a few edge characters replaced by `*`.

    At least `min_hidden` characters (and at least half the value) are always
    hidden, so short values are never fully revealed by the kept edges.
    """
    n = len(value)
    visible = keep_start + keep_end
    if n - visible < max(min_hidden, (n + 1) // 2):
        keep_end = max(0, min(keep_end, (n - max(min_hidden, (n + 1) // 2)) // 2))
        keep_start = max(0, min(keep_start, n - max(min_hidden, (n + 1) // 2) - keep_end))
    hidden = n - keep_start - keep_end
    return f"{value[:keep_start]}{'*' * hidden}{value[n - keep_end :] if keep_end else ''}"


def describe_secret(value: str, kind: str) -> str:
    """Evidence text for a secret: its kind, its length and a masked tail."""
    return f"{kind} ({len(value)} chars): {mask(value, keep_start=0, keep_end=4)}"
