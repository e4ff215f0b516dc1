"""Owner, lineage, classification and risk for identified assets.

Everything here works from what identification already read (header tags) plus
bounded reads of small text assets (notebooks, configs), so enrichment stays
cheap and never loads an artifact.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bastion.core.types import Asset, AssetKind, Finding
from bastion.discover._owners import OwnerResolver

MAX_TEXT_READ = 8 * 1024 * 1024
UNSAFE_FORMATS = frozenset({"pickle", "joblib", "pytorch-legacy", "pytorch-zip", "torchscript", "mlflow-model"})
FOLDER_FORMATS = frozenset(
    {"hf-model", "hf-adapter", "mlflow-model", "tf-savedmodel", "hf-dataset", "chroma", "lance", "llamaindex"}
)
PII_COLUMNS = re.compile(
    r"(?i)^(?:e?-?mail(?:_?address)?|phone(?:_?number)?|mobile|ssn|social_security(?:_number)?|"
    r"(?:first|last|full|given|family|customer)_?name|name|surname|dob|date_of_birth|birth_?date|address|"
    r"street|zip(?:_?code)?|postcode|postal_code|iban|account_?(?:number|no)|card_?(?:number|no)|pan|"
    r"credit_?card|passport(?:_?number)?|national_?id|tax_?id|ip_?address|ip)$"
)
_EXTS = (
    r"(?:csv|tsv|parquet|jsonl|json|arrow|feather|tfrecord|dat|txt|npz|npy|h5|pkl|joblib|safetensors|pt|bin|onnx|gguf)"
)
_FILE_REF = re.compile(rf"""["']([^"'\n]{{1,256}}\.{_EXTS})["']""")
# YAML/INI-style `key: path` values, which configs write without quotes.
_BARE_REF = re.compile(
    rf"""(?m)^[ \t-]*[A-Za-z_][\w.-]*\s*[:=][ \t]*([^\s"'#,\]\[{{}}]{{1,256}}\.{_EXTS})[ \t]*(?:#.*)?$"""
)


def _read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return f.read(MAX_TEXT_READ).decode("utf-8", "replace")
    except OSError:
        return None


def classify(asset: Asset, findings: Iterable[Finding] = ()) -> list[str]:
    """Labels from header facts (column names) and from what scanners reported on the asset."""
    labels = set(asset.classification)
    cols = asset.tags.get("columns")
    if isinstance(cols, list) and any(isinstance(c, str) and PII_COLUMNS.match(c.strip()) for c in cols):
        labels.add("pii")
    if asset.kind is AssetKind.SECRETS or asset.tags.get("model_key_names") or asset.tags.get("model_key_values"):
        labels.add("secrets")
    for f in findings:
        rid = f.rule_id.lower()
        if "pii" in rid or rid.startswith("data.detect"):
            labels.add("pii")
        if "secret" in rid or "api-key" in rid:
            labels.add("secrets")
        if rid.startswith("model.") and f.severity >= 3:
            labels.add("unsafe-model")
    return sorted(labels)


def _resolve_ref(ref: str, base: str, by_uri: Mapping[str, Asset], by_name: Mapping[str, list[str]]) -> str | None:
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        return None
    candidate = posixpath.normpath(posixpath.join(posixpath.dirname(base), ref)) if not ref.startswith("/") else ref
    if candidate in by_uri:
        return candidate
    if ref in by_uri:
        return ref
    hits = by_name.get(posixpath.basename(ref), [])
    return hits[0] if len(hits) == 1 else None


def lineage(assets: Sequence[Asset], root: Path) -> None:
    """Fill `asset.lineage` from what artifacts reveal (HF base models, MLflow runs, referenced files)."""
    by_uri = {a.uri: a for a in assets}
    by_name: dict[str, list[str]] = {}
    for a in assets:
        by_name.setdefault(posixpath.basename(a.uri), []).append(a.uri)
    base_dir = root if root.is_dir() else root.parent
    for a in assets:
        edges: list[str] = list(a.lineage)
        t = a.tags
        for key in ("_name_or_path", "base_model_name_or_path", "name_or_path"):
            v = t.get(key)
            if isinstance(v, str) and v:
                local = _resolve_ref(v, a.uri + "/", by_uri, {})
                edges.append(local or f"hf:{v}")
        meta = t.get("metadata")
        if isinstance(meta, dict):
            for key in ("general.base_model.0.repo_url", "general.base_model.0.name", "general.source.url"):
                if isinstance(meta.get(key), str) and meta[key]:
                    edges.append(f"hf:{meta[key]}" if "://" not in meta[key] else meta[key])
                    break
        if isinstance(t.get("run_id"), str) and t["run_id"]:
            edges.append(f"mlflow-run:{t['run_id']}")
        if a.kind in (AssetKind.NOTEBOOK, AssetKind.CONFIG) and not t.get("folder"):
            text = _read_text(base_dir / a.uri) if a.uri != "." else None
            if text:
                refs = [m.group(1) for m in _FILE_REF.finditer(text)]
                if a.kind is AssetKind.CONFIG:
                    refs += [m.group(1) for m in _BARE_REF.finditer(text)]
                for ref in refs:
                    hit = _resolve_ref(ref, a.uri, by_uri, by_name)
                    if hit and hit != a.uri:
                        edges.append(hit)
        a.lineage = list(dict.fromkeys(edges))
    _producer_lineage(assets, by_uri)


def _producer_lineage(assets: Sequence[Asset], by_uri: Mapping[str, Asset]) -> None:
    """A notebook or training config that references both data and a model trained the model on it.

    So the model's lineage gets those datasets and the producer itself: the edge an
    auditor asks for ("which data is this model made from?") and the BOM records. The
    producer's own lineage keeps only its inputs, so the graph stays acyclic.
    """
    for producer in assets:
        if producer.kind not in (AssetKind.NOTEBOOK, AssetKind.CONFIG):
            continue
        refs = [by_uri[u] for u in producer.lineage if u in by_uri]
        data = [r.uri for r in refs if r.kind is AssetKind.DATASET]
        if not data:
            continue
        models = [r for r in refs if r.kind is AssetKind.MODEL]
        for model in models:
            model.lineage = list(dict.fromkeys([*model.lineage, *data, producer.uri]))
        produced = {m.uri for m in models}
        producer.lineage = [u for u in producer.lineage if u not in produced]


def folder_of(uri: str, folders: Iterable[str]) -> str | None:
    for f in folders:
        if f == "." or uri.startswith(f + "/"):
            return f
    return None


def risk(asset: Asset, *, duplicates: int = 0) -> tuple[float, list[str]]:
    """A 0..1 score with the reasons that produced it (additive, capped)."""
    score = 0.0
    reasons: list[str] = []

    def add(points: float, why: str) -> None:
        nonlocal score
        score += points
        reasons.append(why)

    if asset.format in UNSAFE_FORMATS or asset.tags.get("object_dtype") or asset.tags.get("lambda_layers"):
        add(0.3, "serialization format can execute code when loaded")
    if "secrets" in asset.classification:
        add(0.35, "holds credentials")
    if "pii" in asset.classification:
        add(0.25, "holds personal data")
    if "unsafe-model" in asset.classification:
        add(0.4, "a scanner reported a dangerous model")
    if asset.tags.get("problems"):
        add(0.2, "header is malformed or inconsistent")
    if asset.kind in (AssetKind.MODEL, AssetKind.DATASET, AssetKind.VECTOR_STORE) and not asset.owner:
        add(0.15, "no owner")
    if any(e.startswith(("hf:", "http")) for e in asset.lineage):
        add(0.1, "derived from an external source")
    if duplicates > 1:
        add(0.05, f"stored in {duplicates} places")
    return round(min(score, 1.0), 2), reasons


def enrich(
    assets: Sequence[Asset],
    root: Path,
    *,
    owners: Mapping[str, str] | None = None,
    findings: Iterable[Finding] = (),
    use_git: bool = True,
) -> None:
    """Set owner, lineage, classification and risk on `assets` in place."""
    resolver = OwnerResolver(root, owners, use_git=use_git)
    by_asset: dict[str, list[Finding]] = {}
    for f in findings:
        by_asset.setdefault(f.asset_uri, []).append(f)
    lineage(assets, root)
    digests: dict[str, int] = {}
    for a in assets:
        if a.digest:
            digests[a.digest] = digests.get(a.digest, 0) + 1
    for a in assets:
        if not a.owner:
            owner, source = resolver.resolve(a.uri)
            if owner:
                a.owner = owner
                a.tags["owner_source"] = source
        a.classification = classify(a, by_asset.get(a.uri, ()))
        a.risk, a.risk_reasons = risk(a, duplicates=digests.get(a.digest or "", 0))


def notebook_cells(text: str) -> list[tuple[str, str]]:
    """(pointer, text) of each cell's source and outputs, for secret searches."""
    try:
        doc: Any = json.loads(text)
    except (ValueError, RecursionError):
        return [("", text)]
    out: list[tuple[str, str]] = []
    cells = doc.get("cells") if isinstance(doc, dict) else None
    for i, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict):
            continue
        src = cell.get("source", "")
        out.append((f"cells/{i}/source", "".join(src) if isinstance(src, list) else str(src)))
        for j, o in enumerate(cell.get("outputs") or []):
            out.append((f"cells/{i}/outputs/{j}", json.dumps(o)))
    return out
