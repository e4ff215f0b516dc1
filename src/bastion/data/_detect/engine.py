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

from bastion.data._detect.catalog_secrets import SECRET_CHECKS
from bastion.data._detect.model import Entity, Pattern
from bastion.data._detect.validators import NEIGHBOUR_CHECKS, header_context
from bastion.data._detect.validators import REGISTRY as VALIDATORS

Backend = Literal["auto", "hyperscan", "re2", "python"]

LARGE_INPUT = 64 << 10
CONTEXT_BEFORE = 64
CONTEXT_AFTER = 24
NEGATIVE_CONTEXT = ("example", "sample", "dummy", "placeholder", "fake", "test key", "redacted", "version")
_NEGATIVE = re.compile(r"(?:^|[\s(\[,;])(" + "|".join(NEGATIVE_CONTEXT) + r")(?:[\s:=,]|$)")


# An entity as a plain tuple, in `Entity` field order: (entity_type, start, end, score,
# explanation, kind, recognizer, value). Bulk paths (tables) keep hits in this form and
# build `Entity` objects only for what they report.
RawHit = tuple[str, int, int, float, str, Any, str, str]


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


_CACHE_KEEP = 8


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
        # Each pattern set (a release, a custom recognizer file) has its own ~4 MB entry: keep the newest few.
        entries = sorted(path.parent.glob("hs-*.db"), key=lambda f: f.stat().st_mtime, reverse=True)
        for stale in entries[_CACHE_KEEP:]:
            stale.unlink(missing_ok=True)
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
    """Maps UTF-8 byte offsets back to character offsets, lazily and only for hits.

    The first hits walk forward from the previous one (one decode of the gap); once
    a text has many hits (a joined table column), one vectorised pass builds the
    whole byte-to-char table, after which each look-up is an index.
    """

    __slots__ = ("_cache", "_last_b", "_last_c", "_misses", "_table", "data", "identity")

    TABLE_AFTER = 64

    def __init__(self, text: str, data: bytes) -> None:
        self.identity = len(text) == len(data)
        self.data = data
        self._cache: dict[int, int] = {0: 0}
        self._last_b = 0
        self._last_c = 0
        self._misses = 0
        self._table: Any = None

    def char(self, byte_off: int) -> int:
        if self.identity:
            return byte_off
        table = self._table
        if table is not None:
            return table[byte_off]
        got = self._cache.get(byte_off)
        if got is None:
            self._misses += 1
            if self._misses > self.TABLE_AFTER:
                self._table = table = _char_table(self.data)
                return table[byte_off]
            if byte_off < self._last_b:
                self._last_b, self._last_c = 0, 0
            got = self._last_c + len(self.data[self._last_b : byte_off].decode("utf-8", "surrogatepass"))
            self._cache[byte_off] = got
            self._last_b, self._last_c = byte_off, got
        return got


def _char_table(data: bytes) -> Any:
    """table[b] = characters in data[:b]: the count of UTF-8 lead (non-continuation) bytes before b."""
    import numpy as np

    raw = np.frombuffer(data, dtype=np.uint8)
    table = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum((raw & 0xC0) != 0x80, out=table[1:])
    return memoryview(table.data)


class _Plan:
    """Everything `find` needs about one pattern, resolved once at construction.

    Why: the per-hit path runs thousands of times per megabyte, so attribute
    look-ups, registry look-ups and "can this pattern ever reach the threshold?"
    are answered here instead of per hit.
    """

    __slots__ = (
        "anchor",
        "best",
        "check",
        "context",
        "context_score",
        "entropy",
        "etype",
        "grouped",
        "invalid_score",
        "kind",
        "name",
        "needs_window",
        "neighbour",
        "pattern",
        "scan",
        "score",
        "url",
        "validator",
        "validator_name",
    )  # fmt: skip

    def __init__(self, pattern: Pattern, regex: Any) -> None:
        self.pattern = pattern
        self.name = pattern.name
        self.etype = pattern.entity_type
        self.kind = pattern.kind
        self.score = pattern.score
        self.invalid_score = pattern.invalid_score
        self.validator_name = pattern.validator
        self.validator = VALIDATORS[pattern.validator] if pattern.validator is not None else None
        # a false-alarm check on the hit's surroundings (an OID is no IP, a Message-ID no mailbox)
        self.neighbour = NEIGHBOUR_CHECKS.get(pattern.validator) if pattern.validator is not None else None
        self.entropy = pattern.entropy
        # a built-in secret's per-hit check (key name, reference, filler); see catalog_secrets
        self.check = SECRET_CHECKS.get(pattern) if pattern.kind == "secret" else None
        self.context = pattern.context if pattern.context_score is not None else ()
        self.context_score = pattern.context_score if pattern.context_score is not None else -1.0
        self.needs_window = bool(pattern.context) or pattern.kind == "pii"
        self.url = pattern.entity_type == "URL"
        # the highest score any hit of this pattern can get: a pattern below the caller's
        # threshold even with its context word is not run at all
        self.best = max(pattern.score, self.context_score, pattern.invalid_score or 0.0)
        self.grouped = regex.groups > 0
        self.scan = _span_scanner(regex, self.grouped)
        self.anchor = anchor_of(pattern) if hasattr(regex, "_regexp") else None


def _span_scanner(regex: Any, grouped: bool) -> Any:
    """A function `(bytes, windows) -> list of (start, end)` for the value span of every match.

    google-re2's `finditer` builds a Python match object (and decodes offsets) per
    hit; its compiled `_regexp.Match` returns the spans directly, which halves the
    per-hit cost. The public API is the fallback when that internal is missing.
    With `windows` (sorted, disjoint byte ranges that hold every match; see
    `_Anchors`) only those ranges are searched, resuming where the previous match
    ended exactly as one pass over the whole text would. RE2 judges `\b` and `^` at a
    range edge against the whole text, so a range edge is not a text edge.
    """
    raw = getattr(regex, "_regexp", None)
    if raw is not None and hasattr(raw, "Match"):
        try:
            import re2

            unanchored = re2._Anchor.UNANCHORED
        except (ImportError, AttributeError):  # pragma: no cover - a different re2 build
            raw = None
    if raw is not None:
        match = raw.Match
        idx = 1 if grouped else 0

        def scan_re2(data: bytes, windows: Sequence[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
            out: list[tuple[int, int]] = []
            last = 0
            for ws, we in ((0, len(data)),) if windows is None else windows:
                pos = ws if ws > last else last
                while pos <= we:
                    spans = match(unanchored, data, pos, we)
                    whole_end = spans[0][1]
                    if whole_end < 0:
                        break
                    out.append(spans[idx])
                    pos = whole_end + 1 if whole_end == spans[0][0] else whole_end
                    last = pos
            return out

        return scan_re2

    def scan_generic(data: bytes, windows: Sequence[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
        if grouped:
            return [m.span(1) for m in regex.finditer(data)]
        return [m.span() for m in regex.finditer(data)]

    return scan_generic


ANCHOR_MIN_INPUT = 64 << 10  # below this a full pass per pattern is already cheap
_ANCHOR_MAX_CHARS = 1024
_MATCH_CALL_BYTES = 600  # one Match call costs about as much as a DFA pass over this many bytes


def anchor_of(pattern: Pattern) -> tuple[str, int, int, int] | None:
    """A part every match of `pattern` must contain, and how far a match reaches around it.

    Returns (kind, arg, before, after) in bytes: kind "at" (a literal "@") or "digits"
    (a run of at least `arg` ASCII digits), found as a top-level item of the regex, so
    it is mandatory; a match starts at most `before` bytes before the anchor starts
    and ends at most `after` bytes after it. Widths come from the regex parser in
    characters and are multiplied by 4 (the longest UTF-8 character). None when no
    such item exists or the reach is unbounded: that pattern is always scanned whole.
    """
    try:
        import re._parser as sre
    except ImportError:  # pragma: no cover - Python < 3.11
        return None
    try:
        parsed = sre.parse(pattern.regex)
    except Exception:  # a construct Python's parser does not know: no anchor, whole scans
        return None
    items = list(parsed.data)
    best: tuple[str, int, int, int] | None = None
    for i, (op, av) in enumerate(items):
        if op is sre.LITERAL and av == 0x40:
            kind, arg = "at", 0
        elif (
            op in (sre.MAX_REPEAT, sre.MIN_REPEAT)
            and av[0] >= 2
            and list(av[2].data) == [(sre.IN, [(sre.CATEGORY, sre.CATEGORY_DIGIT)])]
        ):
            kind, arg = "digits", int(av[0])
        else:
            continue
        head = sre.SubPattern(parsed.state, items[:i])
        tail = sre.SubPattern(parsed.state, items[i:])
        before, after = head.getwidth()[1], tail.getwidth()[1]
        if before > _ANCHOR_MAX_CHARS or after > _ANCHOR_MAX_CHARS:
            continue
        cand = (kind, arg, before * _byte_factor(sre, head), after * _byte_factor(sre, tail))
        # "@" is rarer than any digit run; among digit runs, the longest minimum is rarest
        if best is None or (kind == "at") > (best[0] == "at") or (best[0] == kind == "digits" and arg > best[1]):
            best = cand
    return best


def _byte_factor(sre: Any, sub: Any) -> int:
    """1 when every character the sub-pattern can match is ASCII (one UTF-8 byte), else 4.

    RE2's `\\d`, `\\w`, `\\s` and `\\b` are ASCII-only; `.`, negated classes and
    non-ASCII literals can match multi-byte characters.
    """
    stack = [sub]
    while stack:
        node = stack.pop()
        for op, av in node.data if hasattr(node, "data") else node:
            if op in (sre.ANY, sre.NOT_LITERAL) or (op is sre.LITERAL and av > 0x7F):
                return 4
            if op is sre.IN:
                for iop, iav in av:
                    if iop is sre.NEGATE or (iop is sre.CATEGORY and iav not in _ASCII_CATEGORIES(sre)):
                        return 4
                    if (iop is sre.LITERAL and iav > 0x7F) or (iop is sre.RANGE and iav[1] > 0x7F):
                        return 4
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                stack.append(av[2])
            elif op is sre.SUBPATTERN:
                stack.append(av[3])
            elif op is sre.BRANCH:
                stack.extend(av[1])
            elif op in (sre.ATOMIC_GROUP,):
                stack.append(av)
            elif op not in (sre.LITERAL, sre.AT, sre.CATEGORY):
                return 4  # anything unexpected: assume the worst
    return 1


def _ASCII_CATEGORIES(sre: Any) -> tuple[Any, ...]:
    return (sre.CATEGORY_DIGIT, sre.CATEGORY_WORD, sre.CATEGORY_SPACE)


class _Anchors:
    """Per-text anchor positions (numpy, computed once per kind) turned into search windows."""

    def __init__(self, data: bytes) -> None:
        import numpy as np

        self.np = np
        self.data = data
        self.arr = np.frombuffer(data, dtype=np.uint8)
        self._pos: dict[tuple[str, int], Any] = {}
        self._digits: Any = None

    def spans(self, kind: str, arg: int) -> tuple[Any, Any]:
        """(first, last) byte offsets of every anchor occurrence's possible starts."""
        got = self._pos.get((kind, arg))
        if got is None:
            np = self.np
            if kind == "at":
                pos = np.flatnonzero(self.arr == 0x40)
                got = (pos, pos)
            else:
                if self._digits is None:
                    isd = ((self.arr - 48) < 10).view(np.int8)  # uint8 wraps: bytes below "0" become large
                    edge = np.diff(isd, prepend=np.int8(0), append=np.int8(0))
                    self._digits = (np.flatnonzero(edge == 1), np.flatnonzero(edge == -1))
                rs, re_ = self._digits
                keep = (re_ - rs) >= arg
                # a run of L >= arg digits holds the anchor starting anywhere in [rs, re - arg]
                got = (rs[keep], re_[keep] - arg)
            self._pos[(kind, arg)] = got
        return got

    def windows(self, anchor: tuple[str, int, int, int], force: bool = False) -> list[tuple[int, int]] | None:
        """Merged windows around every anchor, or None when one whole pass is cheaper (unless `force`)."""
        np = self.np
        kind, arg, before, after = anchor
        first, last = self.spans(kind, arg)
        n = len(self.data)
        if len(first) == 0:
            return []
        ws = np.maximum(first - before, 0)
        we = np.minimum(last + after, n)
        we = np.maximum.accumulate(we)
        brk = np.flatnonzero(ws[1:] > we[:-1]) + 1
        starts = np.concatenate(([0], brk))
        ends = np.concatenate((brk - 1, [len(ws) - 1]))
        ws, we = ws[starts], we[ends]
        if not force and len(ws) * _MATCH_CALL_BYTES + int((we - ws).sum()) >= n:
            return None
        return list(zip(ws.tolist(), we.tolist(), strict=True))


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
        self._plans = [_Plan(p, rx) for p, rx in zip(self.patterns, self._regexes, strict=True)]
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
        return [Entity(*h) for h in self.hits(text, data, min_score=min_score)]

    def hits(
        self, text: str, data: bytes, *, min_score: float = 0.0, cells: Sequence[int] | None = None
    ) -> list[RawHit]:
        """Unresolved hits as plain tuples in `Entity` field order (see `RawHit`).

        `data` must be `text` as UTF-8 (callers that already hold the bytes, such as
        the column scanner, skip a second encode). `cells`, sorted character offsets
        where independent cells start, fences the context window of each hit inside
        its own cell, so a joined column scores every cell exactly as if it were
        detected alone.
        """
        ids = self.candidates(data)
        if not ids:
            return []
        offsets = _Offsets(text, data)
        identity = offsets.identity
        char = offsets.char
        judge = self._judge
        out: list[RawHit] = []
        append = out.append
        plans = self._plans
        anchors = _Anchors(data) if len(data) >= ANCHOR_MIN_INPUT else None
        for pid in ids:
            plan = plans[pid]
            if plan.best < min_score:
                continue
            windows = anchors.windows(plan.anchor) if anchors is not None and plan.anchor is not None else None
            for bs, be in plan.scan(data, windows):
                if bs < 0 or be <= bs:
                    continue
                if not identity:
                    bs, be = char(bs), char(be)
                if cells is None:
                    hit = judge(plan, text, bs, be, min_score, 0, len(text))
                else:
                    i = bisect.bisect_right(cells, bs) - 1
                    lo = cells[i] if i >= 0 else 0
                    hi = cells[i + 1] if i + 1 < len(cells) else len(text)
                    hit = judge(plan, text, bs, be, min_score, lo, hi)
                if hit is not None:
                    append(hit)
        return out

    def _judge(
        self, plan: _Plan, text: str, start: int, end: int, min_score: float, floor: int, ceil: int
    ) -> RawHit | None:
        value = text[start:end]
        if plan.url:
            trimmed = value.rstrip(".,;:!?)]}'\"")
            end -= len(value) - len(trimmed)
            value = trimmed
        if value in self.allow:
            return None
        score = plan.score
        vnote = ""
        if plan.validator is not None:
            if plan.validator(value):
                if plan.neighbour is not None and plan.neighbour(text, start, end, floor, ceil):
                    return None
                vnote = f"validator={plan.validator_name}:ok"
            elif plan.invalid_score is not None:
                score = plan.invalid_score
                vnote = f"validator={plan.validator_name}:failed"
            else:
                return None
        enote = ""
        if plan.entropy is not None:
            h = shannon_entropy(value)
            if h < plan.entropy:
                return None
            enote = f"entropy={h:.2f}"
        if plan.check is not None:
            knote = plan.check(text, start, end, floor)
            if knote is None:
                return None
            if knote:
                enote = f"{enote}; {knote}" if enote else knote
        cnote = ""
        nnote = ""
        if plan.needs_window:
            lo = start - CONTEXT_BEFORE if start - CONTEXT_BEFORE > floor else floor
            hi = end + CONTEXT_AFTER if end + CONTEXT_AFTER < ceil else ceil
            window = text[lo:hi].lower()
            if plan.context_score > score:
                for w in plan.context:
                    if w in window:
                        score = plan.context_score
                        cnote = f"context=+{w!r}"
                        break
                else:
                    # a delimited table names its columns once, in the header row, out of the window's reach
                    hw = header_context(text, start, floor, ceil, plan.context) if score < min_score else None
                    if hw is not None:
                        score = plan.context_score
                        cnote = f"context=+{hw!r}(header)"
            cut = start - lo
            if cut:
                negm = _NEGATIVE.search(window[cut - 32 if cut > 32 else 0 : cut])
                if negm is not None:
                    score = max(0.0, score - 0.35)
                    nnote = f"context=-{negm.group(1)!r}"
        if score < min_score:
            return None
        why = f"pattern={plan.name}"
        for note in (vnote, enote, cnote, nnote):
            if note:
                why += "; " + note
        return (plan.etype, start, end, round(min(score, 1.0), 4), why, plan.kind, plan.name, value)


SECRET_PRIORITY = 0.8


def _rank(score: float, kind: str) -> float:
    """Overlap rank: a secret scored >= SECRET_PRIORITY outranks any PII hit it overlaps.

    Why: digits inside a token read as a card number (`xoxb-...-4539...`), and the end of a
    URL password (`://user:...4@host`) as an e-mail; a stronger PII score there would hide
    the credential. Generic keyword assignments (below the bar) still compete on score.
    """
    return score + 1.0 if kind == "secret" and score >= SECRET_PRIORITY else score


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the strongest entity where spans overlap (rank, see `_rank`; then length, then catalog order)."""
    if len(entities) < 2:
        return entities
    ranked = sorted(entities, key=lambda e: (-_rank(e.score, e.kind), -(e.end - e.start), e.start))
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


def resolve_overlaps_raw(hits: list[RawHit]) -> list[RawHit]:
    """`resolve_overlaps` for `RawHit` tuples (same ranking, same result)."""
    if len(hits) < 2:
        return hits
    ranked = sorted(hits, key=lambda h: (-_rank(h[3], h[5]), -(h[2] - h[1]), h[1]))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[RawHit] = []
    for h in ranked:
        s, e = h[1], h[2]
        i = bisect.bisect_right(starts, s)
        if i > 0 and ends[i - 1] > s:
            continue
        if i < len(starts) and starts[i] < e:
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        kept.append(h)
    kept.sort(key=lambda h: (h[1], h[2]))
    return kept
