#!/usr/bin/env python3
"""Adversarial-input detection on FGSM and PGD examples of a small image classifier.

Why: `FeatureSqueezer` and `OODDetector` are the guards the gateway puts in front
of classic models; this measures what they catch on real white-box attacks
instead of on hand-made perturbations. Nothing here is used to choose the
guards' thresholds except a benign calibration split.

Setup: scikit-learn's bundled 8x8 digits (BSD-3, 1,797 images, no download),
pixel values scaled to [0, 1], split 50% train / 20% benign calibration /
30% test. Victim: a small CNN in PyTorch (CPU, fixed seed). Attacks (L-inf,
untargeted, on the test split): FGSM at eps 0.05 / 0.1 / 0.2 and PGD (10 steps,
step eps/4, random start) at eps 0.05 / 0.1 / 0.2; only examples that fool the
victim count as attacks ("success rate" is reported as well). Detectors, each
with its threshold set at 5% FPR on the calibration split:

* feature squeezing   `FeatureSqueezer(bits=4, median=2)` (the default) and `bits=1` (Xu et al.'s
                      MNIST setting) around the CNN's softmax
* OOD (Mahalanobis)   `OODDetector` fit on the training images, flattened

A naive L-inf attack also perturbs the digits' always-blank border, which any
density model notices; the ``_live_pixels`` PGD variants perturb only pixels that
vary in the training data, as an attacker aware of such a guard would.

Reported per attack: attack success rate, detection rate (TPR) on successful
adversarial examples, and the false-positive rate on the clean test split.

Run: .venv/bin/python evals/guard/adversarial_eval.py [--json out.json] [--seed 0]
(torch is in the project's dev venv; the guards themselves need numpy only.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bastion.guard import FeatureSqueezer, OODDetector  # noqa: E402

TARGET_FPR = 0.05


def victim(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 40) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(x.shape[0], generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(x), y).backward()
    assert x.grad is not None
    return (x + eps * x.grad.sign()).clamp(0, 1).detach()


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, seed: int,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    m = torch.ones_like(x) if mask is None else mask.expand_as(x)
    adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps * m).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        nn.functional.cross_entropy(model(adv), y).backward()
        assert adv.grad is not None
        step = adv + (eps / 4) * adv.grad.sign() * m
        adv = torch.min(torch.max(step, x - eps), x + eps).clamp(0, 1).detach()
    return adv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(args.seed).permutation(len(images))
    n_tr, n_cal = int(0.5 * len(order)), int(0.2 * len(order))
    tr, cal, te = order[:n_tr], order[n_tr : n_tr + n_cal], order[n_tr + n_cal :]
    model = victim(args.seed)
    train(model, torch.from_numpy(images[tr][:, None]), torch.from_numpy(labels[tr]), args.seed)

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.from_numpy(np.asarray(batch, dtype=np.float32)[:, None])
            return torch.softmax(model(t), dim=1).numpy()

    clean_acc = float((predict(images[te]).argmax(1) == labels[te]).mean())
    squeezer = FeatureSqueezer(predict, bits=4, median=2, shape=(8, 8))
    squeezer.calibrate(images[cal], target_fpr=TARGET_FPR)
    squeezer1 = FeatureSqueezer(predict, bits=1, median=2, shape=(8, 8))  # Xu et al.'s MNIST setting
    squeezer1.calibrate(images[cal], target_fpr=TARGET_FPR)
    ood = OODDetector(method="mahalanobis").fit(images[tr].reshape(len(tr), -1))
    ood_thr = float(np.quantile(ood.scores(images[cal].reshape(len(cal), -1)), 1 - TARGET_FPR)) + 1e-9

    def flags(batch: np.ndarray) -> dict[str, np.ndarray]:
        fs = squeezer.scores(batch) >= squeezer.threshold
        fs1 = squeezer1.scores(batch) >= squeezer1.threshold
        od = ood.scores(batch.reshape(len(batch), -1)) >= ood_thr
        return {"feature_squeezing_4bit": fs, "feature_squeezing_1bit": fs1, "ood_mahalanobis": od,
                "any": fs | fs1 | od}  # fmt: skip

    clean_flags = flags(images[te])
    out: dict[str, object] = {
        "seed": args.seed,
        "clean_test_accuracy": clean_acc,
        "n_test": len(te),
        "calibration": f"thresholds at {TARGET_FPR:.0%} FPR on {len(cal)} benign calibration images",
        "clean_fpr": {k: float(v.mean()) for k, v in clean_flags.items()},
        "attacks": {},
    }
    xt, yt = torch.from_numpy(images[te][:, None]), torch.from_numpy(labels[te])
    attacks = {f"fgsm_eps{e}": (lambda e=e: fgsm(model, xt, yt, e)) for e in (0.05, 0.1, 0.2)}
    attacks |= {f"pgd10_eps{e}": (lambda e=e: pgd(model, xt, yt, e, 10, args.seed)) for e in (0.05, 0.1, 0.2)}
    # Adaptive variant: perturb only pixels that vary in the training data (the digits' always-blank
    # border gives a naive attack away to any density model).
    live = torch.from_numpy((images[tr].std(axis=0) > 0.05).astype(np.float32))[None, None]
    attacks |= {
        f"pgd10_eps{e}_live_pixels": (lambda e=e: pgd(model, xt, yt, e, 10, args.seed, live)) for e in (0.1, 0.2)
    }
    for name, make in attacks.items():
        adv = make()[:, 0].numpy()
        fooled = predict(adv).argmax(1) != labels[te]
        fl = flags(adv[fooled]) if fooled.any() else {k: np.zeros(0, bool) for k in clean_flags}
        out["attacks"][name] = {  # type: ignore[index]
            "success_rate": float(fooled.mean()),
            "n_successful": int(fooled.sum()),
            "detection_rate": {k: float(v.mean()) if v.size else None for k, v in fl.items()},
        }
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
