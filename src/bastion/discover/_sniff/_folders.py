"""Folder assets: models and datasets that are a directory, not a file.

A SavedModel, a Hugging Face checkout or an MLflow model is one asset made of many
files; inventory and BOM must see it as one unit. The walker asks `folder_marker`
while it lists a directory (no extra I/O), and `identify` later confirms the
marker's *content*, so a stray file called ``MLmodel`` does not make a model.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from bastion.core.types import Asset, AssetKind

_HF_WEIGHTS = re.compile(
    r"^(?:model(?:-\d{5}-of-\d{5})?\.safetensors|pytorch_model(?:-\d{5}-of-\d{5})?\.bin|"
    r"tf_model\.h5|flax_model\.msgpack|model\.onnx|.+\.gguf|model\.safetensors\.index\.json|"
    r"pytorch_model\.bin\.index\.json|adapter_model\.(?:safetensors|bin))$"
)


def folder_marker(files: set[str], dirs: set[str]) -> str | None:
    """The marker file that makes a directory a folder asset ("" = none needed), or None."""
    if "saved_model.pb" in files:
        return "saved_model.pb"
    if "MLmodel" in files:
        return "MLmodel"
    if "config.json" in files and (any(_HF_WEIGHTS.match(f) for f in files) or "onnx" in dirs):
        return "config.json"
    if "adapter_config.json" in files and any(_HF_WEIGHTS.match(f) for f in files):
        return "adapter_config.json"
    if "dataset_dict.json" in files:
        return "dataset_dict.json"
    if "dataset_info.json" in files and ("state.json" in files or any(f.endswith(".arrow") for f in files)):
        return "dataset_info.json"
    if "chroma.sqlite3" in files:
        return "chroma.sqlite3"
    if "_versions" in dirs and ("data" in dirs or "_latest.manifest" in files):
        return ""
    if "docstore.json" in files and "index_store.json" in files:
        return "index_store.json"
    return None


def _json(head: bytes) -> Any:
    try:
        return json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def identify_folder(uri: str, size: int, head: bytes, members: tuple[str, ...]) -> Asset | None:
    files = {m for m in members if not m.endswith("/")}
    dirs = {m[:-1] for m in members if m.endswith("/")}
    marker = folder_marker(files, dirs)
    if marker is None:
        return None
    tags: dict[str, Any] = {"files": len(files), "folders": len(dirs)}
    if marker == "saved_model.pb":
        ok = head[:1] == b"\x08" and (b"serve" in head or b"tensorflow" in head or b"saver" in head.lower())
        tags["variables"] = "variables" in dirs
        return Asset(
            uri,
            AssetKind.MODEL,
            "tf-savedmodel",
            size=size,
            framework="tensorflow",
            confidence=0.95 if ok else 0.6,
            tags=tags,
        )
    if marker == "MLmodel":
        try:
            doc = yaml.safe_load(head.decode("utf-8")) if len(head) < 1 << 20 else None
        except (UnicodeDecodeError, yaml.YAMLError):
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
            return None
        flavors = [str(f) for f in doc["flavors"]]
        framework = next((f for f in flavors if f != "python_function"), flavors[0] if flavors else None)
        tags["flavors"] = flavors
        for key in ("run_id", "model_uuid", "artifact_path", "mlflow_version", "utc_time_created"):
            if doc.get(key) is not None:
                tags[key] = str(doc[key])
        return Asset(uri, AssetKind.MODEL, "mlflow-model", size=size, framework=framework, confidence=0.95, tags=tags)
    if marker in ("config.json", "adapter_config.json"):
        cfg = _json(head)
        if not isinstance(cfg, dict):
            return None
        if marker == "config.json" and not ({"model_type", "architectures"} & cfg.keys()):
            return None
        for key in (
            "model_type",
            "architectures",
            "_name_or_path",
            "torch_dtype",
            "transformers_version",
            "base_model_name_or_path",
            "peft_type",
        ):
            if key in cfg:
                tags[key] = cfg[key]
        tags["weights"] = sorted(f for f in files if _HF_WEIGHTS.match(f))[:32]
        fmt = "hf-adapter" if marker == "adapter_config.json" else "hf-model"
        return Asset(uri, AssetKind.MODEL, fmt, size=size, framework="transformers", confidence=0.95, tags=tags)
    if marker in ("dataset_dict.json", "dataset_info.json"):
        info = _json(head)
        if not isinstance(info, dict):
            return None
        if marker == "dataset_dict.json":
            if not isinstance(info.get("splits"), list):
                return None
            tags["splits"] = [str(s) for s in info["splits"]][:32]
        else:
            if "features" not in info and "builder_name" not in info and "splits" not in info:
                return None
            feats = info.get("features")
            if isinstance(feats, dict):
                tags["columns"] = list(feats)[:64]
        return Asset(uri, AssetKind.DATASET, "hf-dataset", size=size, framework="datasets", confidence=0.95, tags=tags)
    if marker == "chroma.sqlite3":
        ok = head.startswith(b"SQLite format 3\x00") and b"embeddings" in head
        return Asset(
            uri,
            AssetKind.VECTOR_STORE,
            "chroma",
            size=size,
            framework="chroma",
            confidence=0.95 if ok else 0.6,
            tags=tags,
        )
    if marker == "":
        return Asset(uri, AssetKind.VECTOR_STORE, "lance", size=size, framework="lancedb", confidence=0.85, tags=tags)
    if marker == "index_store.json":
        doc = _json(head)
        if not isinstance(doc, dict) or "index_store/data" not in doc:
            return None
        return Asset(
            uri, AssetKind.VECTOR_STORE, "llamaindex", size=size, framework="llama_index", confidence=0.9, tags=tags
        )
    return None
