"""Sensitive-data detection: PII and secrets in text, with spans, scores and reasons.

`detect(text)` is the one call most code needs; it uses a process-wide
`Detector` built on first use (the gateway calls it on every prompt, so the
compiled engine is shared). Build your own `Detector` to add custom recognizers
from YAML, deny lists, allow lists, or to pick the backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bastion.core.plugins import Recognizer
from bastion.data._detect.allowlist import DOCUMENTED_EXAMPLES
from bastion.data._detect.catalog_pii import PII_PATTERNS
from bastion.data._detect.catalog_secrets import SECRET_PATTERNS
from bastion.data._detect.custom import RecognizerConfigError, parse_custom
from bastion.data._detect.engine import Backend, Engine, PatternError, available_backends, resolve_overlaps
from bastion.data._detect.model import Entity, Pattern
from bastion.data._detect.stream import Located, detect_stream
from bastion.data._detect.textio import CountingDecoder, iter_text

__all__ = [
    "DEFAULT_MIN_SCORE",
    "Detector",
    "Entity",
    "Located",
    "Pattern",
    "PatternError",
    "RecognizerConfigError",
    "TextScan",
    "available_backends",
    "catalog",
    "default_detector",
    "detect",
    "detect_stream",
    "parse_custom",
    "scan_text_file",
]

DEFAULT_MIN_SCORE = 0.5


def catalog() -> tuple[Pattern, ...]:
    """Every built-in pattern recognizer (PII first, then secrets)."""
    return PII_PATTERNS + SECRET_PATTERNS


class Detector:
    """A configured detection pipeline: patterns, then the optional names/places layer.

    `entities` restricts the output to those types; `names` turns the offline
    gazetteer layer for PERSON/LOCATION on or off (on by default where its data
    ships, which is always for the built-in package).
    """

    def __init__(
        self,
        *,
        patterns: Sequence[Pattern] | None = None,
        extra_patterns: Sequence[Pattern] = (),
        allow: Iterable[str] = (),
        deny: dict[str, Sequence[str]] | None = None,
        backend: Backend = "auto",
        names: bool = True,
        min_score: float = DEFAULT_MIN_SCORE,
        recognizers: Sequence[Recognizer] | None = None,
    ) -> None:
        from bastion.data._detect.custom import deny_list_patterns

        pats = list(catalog() if patterns is None else patterns) + list(extra_patterns)
        pats += deny_list_patterns(deny or {})
        self.engine = Engine(pats, backend=backend, allow=DOCUMENTED_EXAMPLES | frozenset(allow))
        self.min_score = min_score
        self._names = None
        if names:
            from bastion.data._detect.names import NamesLayer

            self._names = NamesLayer.load()
        self.recognizers: list[Recognizer] = list(_plugin_recognizers() if recognizers is None else recognizers)

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: object) -> Detector:
        """A detector with the custom recognizers, deny and allow lists of a YAML file."""
        from bastion.data._detect.custom import load_custom

        custom = load_custom(Path(path))
        return cls(extra_patterns=custom.patterns, allow=custom.allow, deny=custom.deny, **kwargs)  # type: ignore[arg-type]

    @property
    def backend(self) -> str:
        return self.engine.backend

    @property
    def entity_types(self) -> list[str]:
        types = {p.entity_type for p in self.engine.patterns}
        if self._names is not None:
            types |= {"PERSON", "LOCATION"}
        return sorted(types)

    def detect(
        self,
        text: str,
        *,
        entities: Iterable[str] | None = None,
        min_score: float | None = None,
        names: bool | None = None,
    ) -> list[Entity]:
        """Entities in `text`, non-overlapping, sorted by position."""
        if not isinstance(text, str):
            raise TypeError(f"detect() needs str, got {type(text).__name__}")
        threshold = self.min_score if min_score is None else min_score
        found = self.engine.find(text, min_score=threshold)
        use_names = self._names is not None if names is None else (names and self._names is not None)
        if use_names and self._names is not None:
            found.extend(e for e in self._names.find(text) if e.score >= threshold)
        for rec in self.recognizers:
            found.extend(e for e in rec.find(text) if e.score >= threshold and 0 <= e.start < e.end <= len(text))
        if entities is not None:
            wanted = set(entities)
            found = [e for e in found if e.entity_type in wanted]
        return resolve_overlaps(found)


def _plugin_recognizers() -> list[Recognizer]:
    """Third-party recognizers registered under the `bastion.recognizers` entry-point group."""
    from bastion.core.plugins import RECOGNIZERS, plugins

    return [r for r in plugins(RECOGNIZERS).values() if isinstance(r, Recognizer)]


_default: Detector | None = None
_lock = threading.Lock()


def default_detector() -> Detector:
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Detector()
    return _default


def detect(
    text: str,
    *,
    entities: Iterable[str] | None = None,
    min_score: float | None = None,
    names: bool | None = None,
) -> list[Entity]:
    """Find PII and secrets in `text` with the built-in catalog.

    Each `Entity` has `start`/`end` character offsets, `entity_type`, `score`
    and an `explanation` naming the pattern, validator and context that fired.
    """
    return default_detector().detect(text, entities=entities, min_score=min_score, names=names)


@dataclass
class TextScan:
    """Entities of a byte stream plus the warnings about its encoding."""

    located: list[Located] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def scan_text_file(
    fh: BinaryIO, detector: Detector | None = None, *, entities: Iterable[str] | None = None
) -> TextScan:
    """Detect in a binary stream of any size: invalid UTF-8 and NUL bytes become warnings, not errors."""
    dec = CountingDecoder()
    out = TextScan()
    wanted = None if entities is None else list(entities)
    for loc in detect_stream(iter_text(fh, dec), detector or default_detector(), entities=wanted):
        out.located.append(loc)
    if dec.invalid:
        out.warnings.append(
            f"{dec.invalid} invalid UTF-8 sequence(s), first at byte {dec.first_invalid}; replaced with U+FFFD"
        )
    if dec.nul:
        out.warnings.append(f"{dec.nul} NUL byte(s) in input: binary content scanned as text")
    return out
