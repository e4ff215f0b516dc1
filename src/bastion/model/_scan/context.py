"""Per-file scan state: the findings so far, the time budget and the safety limits.

One context travels through every reader (zip, pickle, npy, ...) for a file, so a
nested member shares its parent's deadline and byte budget: a zip of a gzip of a
pickle cannot multiply the limits by nesting them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bastion.core.types import Finding, Location, Rule, Severity
from bastion.model._scan.rules import RESOURCE_LIMIT, SCANNER_NAME, TIMEOUT


@dataclass(frozen=True, slots=True)
class Limits:
    """Safety limits. Defaults fit multi-GiB checkpoints while bounding hostile input."""

    time_budget_s: float = 60.0
    max_decompressed: int = 2 * 1024**3  # total bytes inflated across all members of a file
    max_member_read: int = 1024**3  # largest single member read into memory to analyse
    max_depth: int = 6  # container nesting (zip in tar in 7z ...)
    max_members: int = 100_000
    max_pickle_stack: int = 5_000_000
    max_memo: int = 1_000_000
    max_kept_items: int = 2_000_000  # container items the symbolic model keeps in total
    max_nested_pickles: int = 64
    max_findings_per_rule: int = 200
    # Expansion ratio of one compressed stream, enforced once its output passes `ratio_floor`:
    # deflate tops out near 1032:1, so only bzip2/xz/lzma bombs reach it, and small outputs never do.
    max_ratio: int = 10_000
    ratio_floor: int = 16 * 1024**2


class ScanTimeout(Exception):
    """Raised when the file's time budget is spent; turned into a finding at the top."""


class LimitReached(Exception):
    """Raised when a safety limit stops a reader; turned into a finding where caught."""


@dataclass(slots=True)
class ScanContext:
    uri: str
    limits: Limits = field(default_factory=Limits)
    findings: list[Finding] = field(default_factory=list)
    deadline: float = 0.0
    decompressed: int = 0
    nested_pickles: int = 0
    strict: bool = True  # explicit model scan: unrecognised inner content is a finding
    # The clock is injectable so budget behaviour is tested deterministically (a fake clock
    # that advances per check), never with wall-clock thresholds.
    clock: Callable[[], float] = time.monotonic
    _seen: set[tuple[str, str, str]] = field(default_factory=set)
    _per_rule: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = self.clock() + self.limits.time_budget_s

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            raise ScanTimeout

    def child(self) -> ScanContext:
        """A scratch context with its own findings but this one's deadline, clock and limits.

        Used for speculative parses (is this a pickle? what would plain `pickle.load`
        do here?) whose findings are merged only when they matter; sharing the clock
        keeps an injected test clock and the real deadline consistent.
        """
        return ScanContext(self.uri, self.limits, deadline=self.deadline, strict=self.strict, clock=self.clock)

    def charge_decompressed(self, n: int) -> None:
        self.decompressed += n
        if self.decompressed > self.limits.max_decompressed:
            raise LimitReached(f"more than {self.limits.max_decompressed} bytes decompressed")

    def add(
        self,
        rule: Rule,
        pointer: str,
        evidence: str,
        *,
        confidence: float = 1.0,
        severity: Severity | None = None,
        title: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Record a finding once per (rule, pointer, evidence), capped per rule.

        The cap keeps a hostile file from turning the report itself into a
        resource attack (a million distinct bogus globals).
        """
        key = (rule.id, pointer, evidence)
        if key in self._seen:
            return
        count = self._per_rule.get(rule.id, 0)
        if count >= self.limits.max_findings_per_rule:
            return
        self._per_rule[rule.id] = count + 1
        self._seen.add(key)
        self.findings.append(
            rule.finding(
                asset_uri=self.uri,
                location=Location(path=self.uri, pointer=pointer or None),
                scanner=SCANNER_NAME,
                evidence=evidence,
                confidence=confidence,
                severity=severity,
                title=title,
                properties=properties,
            )
        )

    def timeout(self, pointer: str) -> None:
        self.add(TIMEOUT, pointer, f"time budget of {self.limits.time_budget_s:g}s exceeded")

    def limit(self, pointer: str, what: str) -> None:
        self.add(RESOURCE_LIMIT, pointer, what)


def join_pointer(parent: str, child: str) -> str:
    """Archive member pointers read like paths: `outer.zip!/inner.pkl!offset:12`."""
    if not parent:
        return child
    if not child:
        return parent
    return f"{parent}!{child}"


def printable(text: str | bytes, limit: int = 120) -> str:
    """A short, single-line, printable rendering of a string from a hostile file."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out = "".join(ch if ch.isprintable() and ch not in "\r\n\t" else "?" for ch in text[:limit])
    return out + ("…" if len(text) > limit else "")
