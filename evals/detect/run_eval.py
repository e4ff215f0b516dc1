"""Detection quality: bastion vs Presidio on the same labelled synthetic corpus, in one run.

    .venv/bin/python evals/detect/run_eval.py --docs 2000 [--presidio .venv-eval-detect/bin/python]

Prints per-type and overall precision/recall/F1/F2 (exact and overlap matching),
PERSON recall on names the gazetteer holds vs. held out, and writes
`evals/detect/results.json`.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import generate  # noqa: E402
from score import prf, score  # noqa: E402

# Presidio's names for the same things.
PRESIDIO_MAP = {"CRYPTO": "CRYPTO_BTC_ADDRESS", "ES_NIF": "ES_DNI", "SG_NRIC_FIN": "SG_NRIC",
                "DATE_TIME": "DATE_OF_BIRTH", "UK_NINO": "UK_NINO"}  # fmt: skip
NAME_TYPES = {"PERSON", "LOCATION"}


def _table(title: str, res: dict[str, dict[str, float]], other: dict[str, dict[str, float]] | None) -> None:
    print(f"\n== {title}")
    print(f"{'type':28} {'P':>6} {'R':>6} {'F1':>6} {'F2':>6} {'n':>6}" + ("   presidio F2" if other else ""))
    for t, m in res.items():
        extra = f"   {other[t]['f2']:.3f}" if other and t in other else ""
        print(
            f"{t:28} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['f2']:6.3f} {m['tp'] + m['fn']:6d}{extra}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--presidio", default=str(HERE.parents[1] / ".venv-eval-detect/bin/python"))
    args = ap.parse_args()

    from bastion.data import Detector

    docs = generate(args.docs, args.seed)
    gold = [d.labels for d in docs]
    types = {lab[2] for g in gold for lab in g}
    det = Detector()
    det.detect("warm up")
    t0 = time.perf_counter()
    ours = [[(e.start, e.end, e.entity_type) for e in det.detect(d.text)] for d in docs]
    ours_s = time.perf_counter() - t0
    chars = sum(len(d.text) for d in docs)

    presidio = None
    presidio_s = None
    model = None
    if Path(args.presidio).exists():
        proc = subprocess.run([args.presidio, str(HERE / "presidio_runner.py")], check=True, capture_output=True,
                              text=True, input="\n".join(json.dumps({"text": d.text}) for d in docs) + "\n")  # fmt: skip
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
        timing = lines.pop()
        presidio_s, model = timing["__timing__"], timing["model"]
        presidio = [[(s, e, PRESIDIO_MAP.get(t, t)) for s, e, t, _sc in doc] for doc in lines]

    results: dict[str, object] = {"docs": len(docs), "chars": chars, "bastion_seconds": ours_s,
                                  "presidio_seconds": presidio_s, "presidio_spacy_model": model}  # fmt: skip
    pattern_types = types - NAME_TYPES
    for mode in ("exact", "overlap"):
        ov = mode == "overlap"
        ours_res = score(gold, ours, types, ov)
        pres_res = score(gold, presidio, types, ov) if presidio else None
        _table(f"bastion ({mode} match)", ours_res, pres_res)
        pat = score(gold, ours, pattern_types, ov)["__overall__"]
        print(f"pattern-based types overall F2 ({mode}): {pat['f2']:.4f}")
        results[mode] = {"bastion": ours_res, "presidio": pres_res, "bastion_pattern_overall": pat}
        if pres_res:
            pp = score(gold, presidio, pattern_types, ov)["__overall__"]
            print(f"presidio pattern-based overall F2 ({mode}): {pp['f2']:.4f}")
            print(f"overall F2 ({mode}): bastion {ours_res['__overall__']['f2']:.4f} vs presidio "
                  f"{pres_res['__overall__']['f2']:.4f}")  # fmt: skip
            shared = {t for t in types if pres_res[t]["tp"] > 0}
            b = score(gold, ours, shared, ov)["__overall__"]["f2"]
            p = score(gold, presidio, shared, ov)["__overall__"]["f2"]
            print(f"F2 on the {len(shared)} types Presidio finds at all ({mode}): bastion {b:.4f} vs presidio {p:.4f}")
            results[mode]["shared_types"] = {"types": sorted(shared), "bastion_f2": b, "presidio_f2": p}  # type: ignore[index]

    # PERSON recall split by whether the gazetteer saw the name (overlap matching)
    seen = {"in_gazetteer": [0, 0], "held_out": [0, 0]}
    for d, pred in zip(docs, ours, strict=True):
        for (s, e, t), meta in zip(d.labels, d.meta, strict=True):
            if t != "PERSON":
                continue
            key = "held_out" if meta.get("held_out") else "in_gazetteer"
            seen[key][1] += 1
            if any(pt == "PERSON" and ps < e and s < pe for ps, pe, pt in pred):
                seen[key][0] += 1
    for k, (hit, n) in seen.items():
        print(f"PERSON recall ({k}): {hit}/{n} = {hit / max(n, 1):.3f}")
    results["person_recall"] = {k: {"hit": h, "n": n, "recall": h / max(n, 1)} for k, (h, n) in seen.items()}
    print(f"\nthroughput on this corpus: bastion {chars / ours_s / 1e6:.2f} MB/s"
          + (f", presidio {chars / presidio_s / 1e6:.3f} MB/s, ratio {presidio_s / ours_s:.1f}x" if presidio_s else ""))  # fmt: skip
    (HERE / "results.json").write_text(json.dumps(results, indent=1, default=float))
    _ = prf


if __name__ == "__main__":
    main()
