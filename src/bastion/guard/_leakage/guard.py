"""Leakage guard for model output: sensitive data, the system prompt or a canary, and unsafe links.

System-prompt leakage is matched on a canonical form (NFKC, invisible
characters removed, lowercased, punctuation and whitespace collapsed), so a
response cannot slip the prompt past the guard by respacing, recasing or
zero-width padding it; decoded variants (base64, hex, rot13) are matched too.
"Exact" means one run of `exact_words` consecutive words of the prompt;
"fuzzy" means the share of the prompt's word 4-grams that appear in the output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.guard._base import RULES, failure_verdict, run_guarded
from bastion.guard._injection.normalize import normalize

_CANON_DROP = re.compile(r"[^\w]+", re.UNICODE)
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp|javascript|data|vbscript|file):[^\s<>\"'`)\]]+)")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)[^)]*\)")
_BAD_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
_LONG_PARAM = re.compile(r"[?&][^=&#]+=([^&#]{64,})")


def canonical_words(text: str) -> list[str]:
    return [w for w in _CANON_DROP.sub(" ", normalize(text, depth=0).text.lower()).split() if w]


def _grams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class LeakageGuard:
    """Checks model output; blocks on prompt/canary leakage, redacts (or blocks) sensitive data and bad links.

    `detect` defaults to `bastion.data.detect.detect`; pass another callable
    returning objects with ``start``, ``end``, ``entity_type`` and ``score`` to
    use a different engine.
    """

    name = "leakage"
    directions = frozenset({"output"})
    rules = {k: RULES[k] for k in ("guard.leak.pii", "guard.leak.system_prompt", "guard.unsafe_link")}

    def __init__(
        self,
        *,
        system_prompt: str | None = None,
        canaries: Iterable[str] = (),
        pii: bool = True,
        pii_action: str = "redact",
        entities: Iterable[str] | None = None,
        min_score: float = 0.6,
        exact_words: int = 8,
        fuzzy_threshold: float = 0.35,
        allowed_hosts: Iterable[str] | None = None,
        link_action: str = "redact",
        fail_closed: bool = True,
        detect: Callable[[str], list[Any]] | None = None,
    ) -> None:
        if pii_action not in ("redact", "block") or link_action not in ("redact", "block", "flag"):
            raise ValueError("pii_action must be redact|block; link_action redact|block|flag")
        self.system_prompt = system_prompt
        self.canaries = [c for c in canaries if c]
        self.pii = pii
        self.pii_action = pii_action
        self.entities = None if entities is None else set(entities)
        self.min_score = min_score
        self.exact_words = exact_words
        self.fuzzy_threshold = fuzzy_threshold
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.link_action = link_action
        self.fail_closed = fail_closed
        self._detect = detect

    # -- individual checks --------------------------------------------------------------------

    def prompt_leak(self, output: str, system_prompt: str) -> tuple[float, str | None]:
        """(overlap score in [0, 1], "exact"/"fuzzy"/None)."""
        sp = canonical_words(system_prompt)
        if len(sp) < 4:
            return 0.0, None
        norm = normalize(output)
        candidates = [norm.text, *norm.variants]
        best, how = 0.0, None
        n_exact = min(self.exact_words, len(sp))
        exact = _grams(sp, n_exact)
        grams = _grams(sp, 4)
        for cand in candidates:
            words = canonical_words(cand)
            if exact & _grams(words, n_exact):
                return 1.0, "exact"
            if grams:
                share = len(grams & _grams(words, 4)) / len(grams)
                if share > best:
                    best = share
        if best >= self.fuzzy_threshold:
            how = "fuzzy"
        return best, how

    def canary_leak(self, output: str) -> int:
        if not self.canaries:
            return 0
        norm = normalize(output)
        hay = "\n".join([norm.text, *norm.variants]).lower()
        squashed = re.sub(r"\s+", "", hay)
        return sum(1 for c in self.canaries if c.lower() in hay or re.sub(r"\s+", "", c.lower()) in squashed)

    def unsafe_links(self, output: str) -> list[tuple[int, int, str]]:
        """Spans of unsafe links with a value-free reason each."""
        found: list[tuple[int, int, str]] = []
        images = {m.start(1) for m in _MD_IMAGE.finditer(output)}
        for m in _URL.finditer(output):
            url = m.group()
            try:
                parts = urlsplit(url)
            except ValueError:
                found.append((m.start(), m.end(), "unparseable"))
                continue
            scheme = parts.scheme.lower()
            host = (parts.hostname or "").lower()
            if scheme in _BAD_SCHEMES:
                found.append((m.start(), m.end(), f"scheme:{scheme}"))
            elif self.allowed_hosts is not None and not any(
                host == h or host.endswith("." + h) for h in self.allowed_hosts
            ):
                found.append((m.start(), m.end(), "host_not_allowed"))
            elif _LONG_PARAM.search(url):
                found.append((m.start(), m.end(), "long_query_parameter"))
            elif m.start() in images and parts.query:
                found.append((m.start(), m.end(), "image_with_query"))
        return found

    def sensitive(self, output: str) -> list[Any]:
        detect = self._detect
        if detect is None:
            from bastion.data.detect import detect as default_detect

            detect = default_detect
        found = [e for e in detect(output) if float(getattr(e, "score", 1.0)) >= self.min_score]
        if self.entities is not None:
            found = [e for e in found if e.entity_type in self.entities]
        return found

    # -- Guard protocol -----------------------------------------------------------------------

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        text = item.text
        if text is None:
            return GuardVerdict(allowed=True, details={"skipped": "no text"})
        if not isinstance(text, str):
            return failure_verdict(self.name, self.fail_closed, "text is not a string")
        reasons: list[str] = []
        details: dict[str, Any] = {}
        score = 0.0
        block = False
        system_prompt = self.system_prompt or item.system_prompt
        if system_prompt:
            overlap, how = self.prompt_leak(text, system_prompt)
            details["system_prompt_overlap"] = round(overlap, 4)
            if how:
                reasons.append(f"system_prompt_leak:{how}")
                score, block = max(score, max(overlap, 0.9)), True
        canaries = self.canary_leak(text)
        if canaries:
            reasons.append(f"canary_leak:{canaries}")
            score, block = 1.0, True
        spans: list[tuple[int, int, str]] = []
        if self.pii:
            ents = self.sensitive(text)
            if ents:
                counts: dict[str, int] = {}
                for e in ents:
                    counts[e.entity_type] = counts.get(e.entity_type, 0) + 1
                    spans.append((e.start, e.end, f"[{e.entity_type}]"))
                details["sensitive"] = counts
                reasons += [f"sensitive:{k}x{v}" for k, v in sorted(counts.items())]
                score = max(score, max(float(getattr(e, "score", 1.0)) for e in ents))
                block = block or self.pii_action == "block"
        links = self.unsafe_links(text)
        if links:
            details["unsafe_links"] = len(links)
            reasons += sorted({f"unsafe_link:{why}" for _, _, why in links})
            score = max(score, 0.7)
            block = block or self.link_action == "block"
            if self.link_action == "redact":
                spans += [(s, e, "[link removed]") for s, e, _ in links]
        sanitized = _replace(text, spans) if spans and not block else None
        return GuardVerdict(allowed=not block, score=score, text=sanitized, reasons=reasons, details=details)


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for start, end, repl in sorted(spans):
        if start < pos:  # overlapping spans: the earlier one already covers this
            continue
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)
