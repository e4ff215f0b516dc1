"""Precision, recall, F1 and F2 per type and overall, with exact and overlap span matching."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

Span = tuple[int, int, str]


def _match(
    gold: Sequence[Span], pred: Sequence[Span], overlap: bool
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    used: set[int] = set()
    for p in pred:
        hit = None
        for i, g in enumerate(gold):
            if i in used or g[2] != p[2]:
                continue
            if (g[0] == p[0] and g[1] == p[1]) or (overlap and p[0] < g[1] and g[0] < p[1]):
                hit = i
                break
        if hit is None:
            fp[p[2]] += 1
        else:
            used.add(hit)
            tp[p[2]] += 1
    for i, g in enumerate(gold):
        if i not in used:
            fn[g[2]] += 1
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1, "f2": f2}


def score(docs_gold: Iterable[Sequence[Span]], docs_pred: Iterable[Sequence[Span]], types: set[str],
          overlap: bool) -> dict[str, dict[str, float]]:  # fmt: skip
    """Only predictions of labelled `types` count; others are reported apart by the caller."""
    TP: dict[str, int] = defaultdict(int)
    FP: dict[str, int] = defaultdict(int)
    FN: dict[str, int] = defaultdict(int)
    for gold, pred in zip(docs_gold, docs_pred, strict=True):
        tp, fp, fn = _match([g for g in gold if g[2] in types], [p for p in pred if p[2] in types], overlap)
        for d, s in ((TP, tp), (FP, fp), (FN, fn)):
            for k, v in s.items():
                d[k] += v
    out = {t: prf(TP[t], FP[t], FN[t]) for t in sorted(types)}
    out["__overall__"] = prf(sum(TP.values()), sum(FP.values()), sum(FN.values()))
    return out
