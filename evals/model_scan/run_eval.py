"""Model-scan evaluation: Bastion vs ModelScan, picklescan (default, --strict) and fickling.

    python3 -m venv .venv-eval-model_scan
    .venv-eval-model_scan/bin/pip install -r evals/model_scan/requirements.txt
    .venv/bin/python evals/model_scan/run_eval.py [--corpus /tmp/bastion-model-corpus] [--no-anchors]

Generates the corpus (evals/model_scan/corpus.py), scans every file with Bastion
in-process and with the anchors in their own venv in the same run, and prints a
detection / false-positive table, then detection per technique label (`classic`
for the original variants, one label per adversarial pickle technique; those
samples are verified by loading them in a sandbox while the corpus is generated).
A file counts as flagged by Bastion when it has a finding of severity medium or above.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from corpus import generate  # noqa: E402

from bastion.core.types import Severity  # noqa: E402
from bastion.model.scan import scan_file  # noqa: E402

ANCHOR_PY = ROOT / ".venv-eval-model_scan" / "bin" / "python"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(Path(tempfile.gettempdir()) / "bastion-model-corpus"))
    ap.add_argument("--no-anchors", action="store_true")
    ap.add_argument("--json", help="write per-file results here")
    args = ap.parse_args()

    bad, good = generate(Path(args.corpus))
    labels: dict[str, str] = json.loads((Path(args.corpus) / "labels.json").read_text())
    files = [str(p) for p in bad + good]
    truth = {str(p): True for p in bad} | {str(p): False for p in good}

    results: dict[str, dict[str, dict[str, object]]] = {"bastion": {}}
    t0 = time.perf_counter()
    for f in files:
        findings = scan_file(f)
        worst = max((x.severity for x in findings), default=None)
        results["bastion"][f] = {
            "detected": worst is not None and worst >= Severity.MEDIUM,
            "error": None,
            "rules": sorted({x.rule_id for x in findings}),
        }
    bastion_s = time.perf_counter() - t0

    seconds = {"bastion": bastion_s}
    if not args.no_anchors:
        if not ANCHOR_PY.exists():
            print(f"anchor venv missing: {ANCHOR_PY} (see evals/model_scan/requirements.txt)", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            lst, out = Path(tmp) / "files.json", Path(tmp) / "out.json"
            lst.write_text(json.dumps(files))
            subprocess.run([str(ANCHOR_PY), str(HERE / "anchors.py"), str(lst), str(out)], check=True)
            anchor = json.loads(out.read_text())
        for tool, per_file in anchor.items():
            seconds[tool] = float(per_file.pop("__seconds__")["seconds"])
            results[tool] = per_file

    n_bad, n_good = len(bad), len(good)
    print(f"\ncorpus: {n_bad} malicious, {n_good} benign ({args.corpus})\n")
    print(f"{'tool':22s} {'detected':>12s} {'false pos':>11s} {'errors':>7s} {'seconds':>8s}")
    for tool, per_file in results.items():
        tp = sum(1 for f in files if truth[f] and per_file[f]["detected"])
        fp = sum(1 for f in files if not truth[f] and per_file[f]["detected"])
        err = sum(1 for f in files if per_file[f].get("error"))
        print(
            f"{tool:22s} {tp:>4d}/{n_bad:<3d}{100 * tp / n_bad:4.0f}% {fp:>4d}/{n_good:<3d}  "
            f"{err:>5d} {seconds[tool]:8.1f}"
        )
    print("\nper-technique detection (malicious):")
    for technique in sorted({labels[f] for f in files if truth[f]}):
        group = [f for f in files if truth[f] and labels[f] == technique]
        counts = " ".join(
            f"{t[:10]:>10s} {sum(1 for f in group if results[t][f]['detected']):>3d}/{len(group)}" for t in results
        )
        print(f"  {technique:24s} {counts}")
    print("\nper-variant detection (malicious):")
    tools = list(results)
    print(f"{'file':48s} " + " ".join(f"{t[:10]:>10s}" for t in tools))
    for f in files:
        if truth[f]:
            print(
                f"{Path(f).name[:48]:48s} "
                + " ".join(f"{'yes' if results[t][f]['detected'] else '-':>10s}" for t in tools)
            )
    missed = [f for f in files if truth[f] and not results["bastion"][f]["detected"]]
    false_pos = [f for f in files if not truth[f] and results["bastion"][f]["detected"]]
    for f in missed:
        print(f"bastion MISSED: {f}")
    for f in false_pos:
        print(f"bastion FALSE POSITIVE: {f} {results['bastion'][f]['rules']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0 if not missed and not false_pos else 1


if __name__ == "__main__":
    raise SystemExit(main())
