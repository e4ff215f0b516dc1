"""The injection/jailbreak detector: normalise, window, score each window and decoded variant, keep the max.

Long inputs (retrieved documents, web pages) are scored in overlapping windows
so that one injected paragraph is not diluted by pages of benign text, and
indirect content is also scored line by line (see `segments`); decoded
variants (base64, rot13, tag characters, ...) are scored on their own. A
cooperative time budget bounds the work; past it the guard's failure mode
applies.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.core.types import Finding, Location
from bastion.guard._base import RULES, Budget, Clock, failure_verdict, run_guarded, sigmoid
from bastion.guard._injection import classifier, encoder, heuristics
from bastion.guard._injection.normalize import Normalized, normalize

WINDOW = 2048  # for models whose header names no window (the first shipped model)
STRIDE = 1536
INDIRECT_SOURCES = frozenset({"document", "tool", "web", "retrieval", "function", "email", "file"})
_SUSPICIOUS_FLAGS = frozenset({"tag_chars", "bidi_controls", "confusables"})

log = logging.getLogger(__name__)
_cache_lock = threading.Lock()
_cached: dict[str, classifier.LinearModel] = {}
_cached_encoders: dict[str, encoder.Encoder] = {}


def _model(folder: Path | None) -> classifier.LinearModel:
    key = str(folder or classifier.MODEL_DIR)
    with _cache_lock:
        if key not in _cached:
            _cached[key] = classifier.load(folder)
        return _cached[key]


def _encoder(folder: Path | None, wanted: bool | None) -> encoder.Encoder | None:
    """The second stage: required (True), off (False), or used when shipped and installed (None)."""
    if wanted is False or (wanted is None and not encoder.available(folder)):
        return None
    key = str(folder or classifier.MODEL_DIR)
    with _cache_lock:
        if key not in _cached_encoders:
            try:
                _cached_encoders[key] = encoder.Encoder(folder)
            except classifier.ModelError as exc:
                if wanted or "bastion[guard]" not in str(exc):
                    raise  # a corrupt shipped file fails closed even in auto mode
                log.warning("injection detector runs without its encoder stage: %s", exc)
                return None
        return _cached_encoders[key]


_SEGMENT_SPLIT = re.compile(r"\n\s*")
MAX_SEGMENTS = 64
MAX_ENCODED = 8  # units per text the encoder scores (the n-gram stage's highest first)


def segments(text: str, size: int = WINDOW) -> list[str]:
    """Lines/paragraphs of a multi-line text, for scoring on their own.

    An instruction planted in a document usually sits on its own line (an HTML
    comment, a hidden div, a "note to the AI"); scored alone it is not diluted by
    the benign text that a fixed-size window around it also contains.
    """
    if "\n" not in text:
        return []
    parts = [p.strip() for p in _SEGMENT_SPLIT.split(text)]
    parts = [p[:size] for p in parts if len(p) >= 24]
    return parts[:MAX_SEGMENTS] if len(parts) > 1 else []


def windows(text: str, size: int = WINDOW, stride: int = STRIDE) -> list[str]:
    if len(text) <= size:
        return [text]
    starts = range(0, max(1, len(text) - size + stride), stride)
    return [text[s : s + size] for s in starts]


@dataclass(slots=True)
class InjectionResult:
    """A score and value-free reasons: heuristic names, obfuscation flags, which window scored highest."""

    score: float
    flagged: bool
    threshold: float
    heuristics: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    windows: int = 1
    variants: int = 0
    worst: str = "text"  # "text", "window:N", "segment:N" or "variant:N"
    truncated: bool = False
    encoder: str = "off"  # "ran", "skipped" (n-gram logit below the floor) or "off"

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "verdict": "block" if self.flagged else "allow",
            "threshold": round(self.threshold, 4),
            "heuristics": self.heuristics,
            "flags": self.flags,
            "windows": self.windows,
            "variants": self.variants,
            "worst": self.worst,
            "truncated": self.truncated,
            "encoder": self.encoder,
        }


class InjectionDetector:
    """Prompt-injection and jailbreak guard for user prompts and indirect content.

    `threshold` defaults to the one shipped with the model (chosen at 1% FPR on
    the training validation split); call `calibrate` with a sample of your own
    benign traffic to set one per deployment. Indirect content (`source` other
    than ``user``) has its own threshold, because an instruction addressed to the
    model has no business inside a retrieved document at all.
    """

    name = "injection"
    directions = frozenset({"input"})
    rules = {k: RULES[k] for k in ("guard.injection", "guard.obfuscation")}

    def __init__(
        self,
        *,
        threshold: float | None = None,
        indirect_threshold: float | None = None,
        fail_closed: bool = True,
        max_chars: int = 512_000,
        budget_ms: float | None = 250.0,
        model_dir: Path | None = None,
        encoder: bool | None = None,
        encoder_floor: float | None = None,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.model = _model(model_dir)
        self.encoder = _encoder(model_dir, encoder)
        # Below this n-gram logit the encoder is skipped; lower it to trade CPU for recall (-inf: always run).
        self.encoder_floor = self.encoder.floor if self.encoder and encoder_floor is None else encoder_floor
        win = self.model.meta.get("window") or [WINDOW, STRIDE]
        self.window, self.stride = int(win[0]), int(win[1])
        self.segment_scoring = bool(self.model.meta.get("segments", True))
        shipped = self.encoder.threshold if self.encoder else self.model.threshold
        self.threshold = shipped if threshold is None else float(threshold)
        self.indirect_threshold = self.threshold if indirect_threshold is None else float(indirect_threshold)
        self.fail_closed = fail_closed
        self.max_chars = max_chars
        self.budget_ms = budget_ms
        self.clock = clock

    # -- scoring ------------------------------------------------------------------------------

    def _units(self, norm: Normalized, source: str, budget: Budget) -> list[tuple[str, str, list[str]]]:
        """(label, text, dense features) of every piece the models score: windows, lines, decoded variants."""
        dense_flags = [f"f:{f}" for f in norm.flags]
        wins = windows(norm.text, self.window, self.stride)
        units = [("text" if len(wins) == 1 else f"window:{i}", w, dense_flags) for i, w in enumerate(wins)]
        if self.segment_scoring and source not in ("user", ""):  # a user's own instructions are expected
            units += [(f"segment:{k}", seg, dense_flags) for k, seg in enumerate(segments(norm.text, self.window))]
        for j, var in enumerate(norm.variants):
            budget.check()
            units += [(f"variant:{j}", w, [*dense_flags, "f:decoded_variant"])
                      for w in windows(var, self.window, self.stride)[:8]]  # fmt: skip
        return units

    def _ngram(self, units: list[tuple[str, str, list[str]]], budget: Budget) -> tuple[list[float], set[str]]:
        logits, fired = [], set()
        for _, unit, dense in units:
            budget.check()
            hit = heuristics.hits(unit)
            fired.update(hit)
            logits.append(self.model.logit(unit, [f"h:{h}" for h in hit] + dense))
        return logits, fired

    def _encode(self, units: list[tuple[str, str, list[str]]], ngram: list[float], budget: Budget) -> float:
        """The encoder's highest logit over the units the n-gram model ranks highest.

        At most `MAX_ENCODED` units (~8 ms each on one core), so a long document stays inside the time
        budget instead of paying the encoder for every window and line.
        """
        assert self.encoder is not None
        best = -np.inf
        for i in sorted(range(len(units)), key=lambda k: -ngram[k])[:MAX_ENCODED]:
            budget.check()
            best = max(best, float(self.encoder.logits([units[i][1]])[0]))
        return best

    def parts(self, text: str, *, source: str = "user") -> tuple[float, float]:
        """(n-gram logit, encoder logit) with the encoder always run; for training and calibration studies."""
        units = self._units(normalize(text), source, Budget(None))
        ngram = self._ngram(units, Budget(None))[0]
        return max(ngram), self._encode(units, ngram, Budget(None)) if self.encoder else 0.0

    def score(self, text: str, *, source: str = "user", budget: Budget | None = None) -> InjectionResult:
        """Score one text; raises `GuardTimeout` past the budget (`check` turns that into a verdict)."""
        if not isinstance(text, str):
            raise TypeError("text must be str")
        budget = budget or Budget(self.budget_ms, self.clock)
        truncated = len(text) > self.max_chars
        if truncated:  # head and tail: injections hide at either end of long documents
            half = self.max_chars // 2
            text = text[:half] + "\n" + text[-half:]
        norm = normalize(text)
        flags = list(norm.flags)
        units = self._units(norm, source, budget)
        ngram, fired = self._ngram(units, budget)
        top = int(np.argmax(ngram))  # `windows` always yields at least one unit
        best, worst = ngram[top], units[top][0]
        stage = "off"
        if self.encoder is not None:
            if self.encoder_floor is None or best >= self.encoder_floor:
                best += self._encode(units, ngram, budget)
                stage = "ran"
            else:  # clearly benign to the n-gram model: the encoder's low benign logit stands in
                best += self.encoder.skip_logit
                stage = "skipped"
        score = sigmoid(float(best))
        threshold = self.threshold if source in ("user", "") else self.indirect_threshold
        flagged = score >= threshold
        if not flagged and _SUSPICIOUS_FLAGS & set(flags) and fired:
            # Smuggling characters plus an override phrase: benign text has no reason for either.
            score, flagged = max(score, threshold), True
        return InjectionResult(
            score=score,
            flagged=flagged,
            threshold=threshold,
            heuristics=sorted(fired),
            flags=flags,
            windows=sum(1 for u in units if u[0] == "text" or u[0].startswith("window:")),
            variants=len(norm.variants),
            worst=worst,
            truncated=truncated,
            encoder=stage,
        )

    def scores(self, texts: Iterable[str], *, source: str = "user") -> list[float]:
        return [self.score(t, source=source, budget=Budget(None)).score for t in texts]

    def calibrate(self, benign: Iterable[str], *, target_fpr: float = 0.01, source: str = "user") -> float:
        """Set (and return) the threshold that flags `target_fpr` of this deployment's benign traffic."""
        values = np.asarray(self.scores(benign, source=source), dtype=np.float64)
        if values.size < 20:
            raise ValueError("calibration needs at least 20 benign examples")
        if not 0.0 < target_fpr < 0.5:
            raise ValueError("target_fpr must be in (0, 0.5)")
        thr = float(np.quantile(values, 1.0 - target_fpr, method="higher")) + 1e-6
        thr = min(max(thr, 1e-4), 0.9999)
        if source in ("user", ""):
            self.threshold = thr
        else:
            self.indirect_threshold = thr
        return thr

    # -- Guard protocol -----------------------------------------------------------------------

    OPTIONS = frozenset({"threshold", "indirect_threshold", "fail_closed", "max_chars", "budget_ms", "encoder",
                         "encoder_floor"})  # fmt: skip

    def with_options(self, **options: Any) -> InjectionDetector:
        """The gateway's per-chain settings (e.g. ``encoder_floor`` to trade CPU for recall)."""
        unknown = sorted(set(options) - self.OPTIONS)
        if unknown:
            raise ValueError(f"injection guard: unknown option(s) {', '.join(unknown)}")
        return InjectionDetector(**options)

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        text = item.text
        if text is None:
            return GuardVerdict(allowed=True, score=0.0, details={"skipped": "no text"})
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", "replace")
        if not isinstance(text, str):
            return failure_verdict(self.name, self.fail_closed, "text is not a string")
        if not text.strip():
            return GuardVerdict(allowed=True, score=0.0, details={"empty": True})
        result = self.score(text, source=item.source)
        reasons = [f"injection score {result.score:.2f} >= {result.threshold:.2f}"] if result.flagged else []
        reasons += [f"heuristic:{h}" for h in result.heuristics]
        reasons += [f"obfuscation:{f}" for f in result.flags]
        return GuardVerdict(allowed=not result.flagged, score=result.score, reasons=reasons, details=result.to_dict())

    def finding(self, result: InjectionResult, *, asset_uri: str, pointer: str | None = None) -> Finding:
        """A `Finding` for a flagged text (evidence names signals only, never the text)."""
        rule = RULES["guard.injection"] if result.flagged else RULES["guard.obfuscation"]
        signals = ", ".join(result.heuristics + result.flags) or "classifier"
        return rule.finding(
            asset_uri=asset_uri,
            location=Location(path=asset_uri, pointer=pointer),
            scanner=self.name,
            evidence=f"score {result.score:.2f} (threshold {result.threshold:.2f}); signals: {signals}",
            confidence=result.score,
            properties=result.to_dict(),
        )
