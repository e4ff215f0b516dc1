"""The matching engine: one multi-pattern prefilter pass, then exact RE2 matches.

Why two stages: a multi-pattern automaton (Hyperscan, or an RE2 set) answers
"which of these ~250 patterns occur anywhere in this text?" in one linear pass,
and on ordinary text almost none do. Only those patterns then run as RE2
regexes to get exact spans and groups. Both stages are automata with linear-time
guarantees, so no input can trigger catastrophic backtracking; that is also why
patterns may not use look-around or back-references.

The text is matched as UTF-8 bytes (encoded once) and spans are mapped back to
character offsets only for the hits.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from bastion.data._detect.model import Entity, Pattern
from bastion.data._detect.validators import REGISTRY as VALIDATORS

Backend = Literal["auto", "hyperscan", "re2", "python"]

LARGE_INPUT = 64 << 10
CONTEXT_BEFORE = 64
CONTEXT_AFTER = 24
NEGATIVE_CONTEXT = ("example", "sample", "dummy", "placeholder", "fake", "test key", "redacted", "version")
_NEGATIVE = re.compile(r"(?:^|[\s(\[,;])(" + "|".join(NEGATIVE_CONTEXT) + r")(?:[\s:=,]|$)")


class PatternError(ValueError):
    """A pattern that the engine cannot compile (a syntax error or a backtracking-only feature)."""


class _Prefilter(Protocol):
    def candidates(self, data: bytes) -> list[int]: ...


class _HyperscanPrefilter:
    def __init__(self, patterns: Sequence[Pattern]) -> None:
        import hyperscan

        self._hs = hyperscan
        exprs = [p.full_regex.encode() for p in patterns]
        flags = [hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER] * len(exprs)
        self.db = _load_cached_db(exprs) if patterns else None
        if self.db is None and patterns:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            try:
                db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
            except hyperscan.error as exc:
                raise PatternError(f"hyperscan cannot compile the pattern set: {exc}") from exc
            _store_cached_db(exprs, db)
            self.db = db
        self._local = threading.local()

    def candidates(self, data: bytes) -> list[int]:
        if self.db is None or not data:
            return []
        hits: list[int] = []

        def on_match(pid: int, _f: int, _t: int, _fl: int, _ctx: Any) -> None:
            hits.append(pid)

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._hs.Scratch(self.db)
            self._local.scratch = scratch
        self.db.scan(data, match_event_handler=on_match, scratch=scratch)
        return hits


def _cache_path(exprs: Sequence[bytes]) -> Path | None:
    """Compiling ~250 patterns takes seconds; the serialized database loads in milliseconds."""
    root = os.environ.get("BASTION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bastion"
    )
    try:
        import hyperscan

        version = getattr(hyperscan, "__version__", "?")
    except ImportError:  # pragma: no cover
        return None
    h = hashlib.sha256(version.encode())
    for e in exprs:
        h.update(len(e).to_bytes(4, "big") + e)
    return Path(root) / f"hs-{h.hexdigest()[:32]}.db"


def _load_cached_db(exprs: Sequence[bytes]) -> Any:
    path = _cache_path(exprs)
    if path is None or not path.is_file():
        return None
    try:
        import hyperscan

        # A serialized Hyperscan database is plain data (no code), validated by the library on load.
        return hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
    except Exception:
        return None


def _store_cached_db(exprs: Sequence[bytes], db: Any) -> None:
    path = _cache_path(exprs)
    if path is None:
        return
    try:
        import hyperscan

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(hyperscan.dumpb(db))
        os.replace(tmp, path)
    except Exception:  # a cache is an optimisation; a read-only home must not break detection
        return


class _RE2SetPrefilter:
    def __init__(self, patterns: Sequence[Pattern]) -> None:
        import re2

        opts = re2.Options()
        opts.max_mem = 64 << 20  # a larger DFA budget so long inputs do not exhaust it
        self._set = re2.Set.SearchSet(opts)
        for p in patterns:
            try:
                self._set.Add(p.full_regex.encode())
            except re2.error as exc:
                raise PatternError(f"pattern {p.name!r}: {exc}") from exc
        self._set.Compile()
        self._empty = not patterns

    def candidates(self, data: bytes) -> list[int]:
        if self._empty or not data:
            return []
        return list(self._set.Match(data) or ())


class _AllPrefilter:
    """No prefilter: every pattern runs (the pure-Python fallback)."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self._ids = list(range(len(patterns)))

    def candidates(self, data: bytes) -> list[int]:
        return self._ids if data else []


def _compile(pattern: Pattern, backend: str) -> Any:
    if backend == "python":
        import re

        return re.compile(pattern.full_regex.encode())
    import re2

    try:
        return re2.compile(pattern.full_regex.encode())
    except re2.error as exc:
        raise PatternError(f"pattern {pattern.name!r} is not valid RE2 syntax: {exc}") from exc


def available_backends() -> list[str]:
    found = []
    for name, module in (("hyperscan", "hyperscan"), ("re2", "re2")):
        try:
            __import__(module)
        except ImportError:
            continue
        found.append(name)
    return [*found, "python"]


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class _Offsets:
    """Maps UTF-8 byte offsets back to character offsets, lazily and only for hits."""

    def __init__(self, text: str, data: bytes) -> None:
        self.identity = len(text) == len(data)
        self.data = data
        self._cache: dict[int, int] = {}

    def char(self, byte_off: int) -> int:
        if self.identity:
            return byte_off
        got = self._cache.get(byte_off)
        if got is None:
            got = len(self.data[:byte_off].decode("utf-8", "surrogatepass"))
            self._cache[byte_off] = got
        return got


class Engine:
    """A compiled set of patterns plus allow/deny lists; thread-safe after construction."""

    def __init__(
        self,
        patterns: Sequence[Pattern],
        *,
        backend: Backend = "auto",
        allow: Iterable[str] = (),
    ) -> None:
        hybrid = False
        if backend == "auto":
            have = available_backends()
            backend = "hyperscan" if "hyperscan" in have else "re2" if "re2" in have else "python"
            # measured (benchmarks/detect_bench.py): Hyperscan wins on prompt-sized inputs, the RE2 set
            # on megabyte chunks, so "auto" keeps both and picks by input size
            hybrid = backend == "hyperscan" and "re2" in have
        self.backend = backend
        self.patterns = tuple(patterns)
        for p in self.patterns:
            if p.validator is not None and p.validator not in VALIDATORS:
                raise PatternError(f"pattern {p.name!r}: unknown validator {p.validator!r}")
        self._regexes = [_compile(p, backend) for p in self.patterns]
        self._groups = [rx.groups for rx in self._regexes]
        prefilter: _Prefilter
        if backend == "hyperscan":
            prefilter = _HyperscanPrefilter(self.patterns)
        elif backend == "re2":
            prefilter = _RE2SetPrefilter(self.patterns)
        else:
            prefilter = _AllPrefilter(self.patterns)
        self._prefilter = prefilter
        self._prefilter_large: _Prefilter = _RE2SetPrefilter(self.patterns) if hybrid else prefilter
        self.allow = frozenset(allow)

    def candidates(self, data: bytes) -> list[int]:
        pre = self._prefilter if len(data) < LARGE_INPUT else self._prefilter_large
        return pre.candidates(data)

    def find(self, text: str, *, min_score: float = 0.0) -> list[Entity]:
        data = text.encode("utf-8", "surrogatepass")
        ids = self.candidates(data)
        if not ids:
            return []
        offsets = _Offsets(text, data)
        lower: list[str | None] = [None]
        out: list[Entity] = []
        for pid in ids:
            pattern = self.patterns[pid]
            rx = self._regexes[pid]
            grouped = self._groups[pid] > 0
            for m in rx.finditer(data):
                bs, be = m.span(1) if grouped else m.span()
                if bs < 0 or be <= bs:
                    continue
                ent = self._judge(pattern, text, offsets, bs, be, lower)
                if ent is not None and ent.score >= min_score:
                    out.append(ent)
        return out

    def _judge(
        self, p: Pattern, text: str, offsets: _Offsets, bs: int, be: int, lower: list[str | None]
    ) -> Entity | None:
        start, end = offsets.char(bs), offsets.char(be)
        value = text[start:end]
        if p.entity_type == "URL":
            trimmed = value.rstrip(".,;:!?)]}'\"")
            end -= len(value) - len(trimmed)
            value = trimmed
        if value in self.allow:
            return None
        why = [f"pattern={p.name}"]
        score = p.score
        if p.validator is not None:
            if VALIDATORS[p.validator](value):
                why.append(f"validator={p.validator}:ok")
            elif p.invalid_score is not None:
                score = p.invalid_score
                why.append(f"validator={p.validator}:failed")
            else:
                return None
        if p.entropy is not None:
            h = shannon_entropy(value)
            if h < p.entropy:
                return None
            why.append(f"entropy={h:.2f}")
        if p.context or p.kind == "pii":
            if lower[0] is None:
                lower[0] = text.lower() if len(text) <= 1 << 20 else None
            window = (
                lower[0][max(0, start - CONTEXT_BEFORE) : end + CONTEXT_AFTER]
                if lower[0] is not None
                else text[max(0, start - CONTEXT_BEFORE) : end + CONTEXT_AFTER].lower()
            )
            before = window[: start - max(0, start - CONTEXT_BEFORE)]
            if p.context and p.context_score is not None:
                hit = next((w for w in p.context if w in window), None)
                if hit is not None and p.context_score > score:
                    score = p.context_score
                    why.append(f"context=+{hit!r}")
            negm = _NEGATIVE.search(before[-32:]) if before else None
            neg = negm.group(1) if negm else None
            if neg is not None:
                score = max(0.0, score - 0.35)
                why.append(f"context=-{neg!r}")
        return Entity(
            entity_type=p.entity_type,
            start=start,
            end=end,
            score=round(min(score, 1.0), 4),
            explanation="; ".join(why),
            kind=p.kind,
            recognizer=p.name,
            value=value,
        )


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the strongest entity where spans overlap (score, then length, then catalog order)."""
    if len(entities) < 2:
        return entities
    ranked = sorted(entities, key=lambda e: (-e.score, -(e.end - e.start), e.start))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Entity] = []
    for e in ranked:
        i = bisect.bisect_right(starts, e.start)
        if i > 0 and ends[i - 1] > e.start:
            continue
        if i < len(starts) and starts[i] < e.end:
            continue
        starts.insert(i, e.start)
        ends.insert(i, e.end)
        kept.append(e)
    kept.sort(key=lambda e: (e.start, e.end))
    return kept
