"""The injection detector's second stage: a two-layer MiniLM encoder, int8, in onnxruntime.

The n-gram model knows the phrasings it was trained on; a pretrained encoder
carries them over to paraphrases. Its logit is added to the n-gram logit. To
keep the gateway's throughput, it runs only on texts whose n-gram logit reaches
the `floor` stored in the header (nine in ten benign validation texts never need it).

Files (all checked against the SHA-256 in ``encoder.json`` at load, so a
truncated or swapped file fails closed with `ModelError`): ``encoder.onnx``
(fine-tuned layers, weights int8), ``encoder.emb`` (int8 word embeddings with
one float32 scale per row, gathered by numpy so the graph stays small) and
``tokenizer.json`` (MiniLM's WordPiece vocabulary). No pickle, no network.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bastion.guard._injection.classifier import MODEL_DIR, ModelError

HEADER = "encoder.json"
ONNX = "encoder.onnx"
EMBEDDINGS = "encoder.emb"
TOKENIZER = "tokenizer.json"
FORMAT = "bastion-encoder-v1"
MAX_TOKENS = 256  # a 1 KB window is ~250 WordPiece tokens
DIM = 384


def available(folder: Path | None = None) -> bool:
    """Whether this model folder ships an encoder stage (files and dependencies are checked by `Encoder`)."""
    return ((MODEL_DIR if folder is None else Path(folder)) / HEADER).is_file()


def quantize_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: a quarter of the float32 size, well inside the embeddings' own noise."""
    scales = np.maximum(np.abs(matrix).max(axis=1), 1e-8).astype(np.float32) / 127.0
    q8 = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return q8, scales


def write_embeddings(folder: Path, q8: np.ndarray, scales: np.ndarray) -> None:
    (folder / EMBEDDINGS).write_bytes(q8.tobytes() + scales.astype("<f4").tobytes())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_header(folder: Path, *, threshold: float, floor: float, skip_logit: float, meta: dict[str, Any]) -> None:
    """Used by the training script, after the three model files are in place."""
    vocab = (folder / EMBEDDINGS).stat().st_size // (DIM + 4)
    header = {
        "format": FORMAT,
        "threshold": threshold,
        "floor": floor,
        "skip_logit": skip_logit,
        "vocab": vocab,
        "dim": DIM,
        "max_tokens": MAX_TOKENS,
        "sha256": {name: _sha256(folder / name) for name in (ONNX, EMBEDDINGS, TOKENIZER)},
        **meta,
    }
    (folder / HEADER).write_text(json.dumps(header, indent=2, sort_keys=True) + "\n")


class Encoder:
    """One logit per text; the detector adds the highest of a text's units to the n-gram logit."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = MODEL_DIR if folder is None else Path(folder)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError(f"the injection encoder needs bastion[guard] ({exc.name} is missing)") from None
        try:
            header = json.loads((folder / HEADER).read_text())
            blobs = {name: (folder / name).read_bytes() for name in (ONNX, EMBEDDINGS, TOKENIZER)}
        except (OSError, ValueError) as exc:
            raise ModelError(f"injection encoder in {folder} cannot be read: {exc}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("dim") != DIM:
            raise ModelError(f"injection encoder in {folder}: unknown format")
        for name, blob in blobs.items():
            if hashlib.sha256(blob).hexdigest() != header.get("sha256", {}).get(name):
                raise ModelError(f"injection encoder file {name} does not match its checksum")
        try:
            vocab = int(header["vocab"])
            self.threshold = float(header["threshold"])
            self.floor = float(header["floor"])
            self.skip_logit = float(header["skip_logit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"injection encoder header in {folder} is incomplete: {exc!r}") from None
        raw = blobs[EMBEDDINGS]
        if vocab <= 0 or len(raw) != vocab * (DIM + 4):
            raise ModelError("injection encoder embeddings have the wrong length")
        self.q8 = np.frombuffer(raw, dtype=np.int8, count=vocab * DIM).reshape(vocab, DIM)
        self.scales = np.frombuffer(raw, dtype="<f4", offset=vocab * DIM)
        self.meta = header
        try:
            self.tokenizer = Tokenizer.from_str(blobs[TOKENIZER].decode("utf-8"))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # one core per guard call; gateway threads give the parallelism
            opts.inter_op_num_threads = 1
            self.session = ort.InferenceSession(blobs[ONNX], opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime and tokenizers raise their own types for bad files
            raise ModelError(f"injection encoder in {folder} cannot be loaded: {exc}") from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(header.get("max_tokens", MAX_TOKENS)))

    def logits(self, texts: list[str]) -> np.ndarray:
        """One logit per text, each run on its own.

        Dynamic int8 quantisation scales activations by the range of the whole batch, so a batched
        text's logit would depend on its neighbours (up to 0.2 apart); alone, a score is reproducible.
        """
        out = np.empty(len(texts), dtype=np.float32)
        vocab = self.q8.shape[0]
        for i, text in enumerate(texts):
            # Lone surrogates (legal in a Python str, not in UTF-8) would make the tokenizer raise. `encode`,
            # not `encode_batch`: the batch call spreads over a thread pool of its own, which would take
            # more than the one core the guard is sized for and warns after a fork (gateway workers).
            enc = self.tokenizer.encode(text.encode("utf-8", "replace").decode("utf-8"))
            tokens = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, vocab - 1)[None]
            emb = self.q8[tokens].astype(np.float32) * self.scales[tokens][..., None]
            (logit,) = self.session.run(None, {"embeddings": emb, "mask": np.ones_like(tokens)})
            out[i] = logit[0]
        return out
