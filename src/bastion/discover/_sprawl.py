"""Sprawl findings: the cross-asset view (owners, strays, copies, personal data),
plus per-file checks (model API keys, malformed headers) packaged as a `Scanner`.

Per-file checks run inside the scan workers through `DiscoverScanner`; the
cross-asset checks need the whole inventory and run once after a scan through
`sprawl_findings`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from bastion.core.plugins import ScanTarget
from bastion.core.redact import describe_secret
from bastion.core.types import Asset, AssetKind, Finding, Location, Rule
from bastion.discover._enrich import FOLDER_FORMATS, MAX_TEXT_READ, PII_COLUMNS, enrich, folder_of, notebook_cells
from bastion.discover._rules import (
    ASSET_UNPARSEABLE,
    DATASET_PII_PLAIN,
    MODEL_API_KEY,
    MODEL_DUPLICATE,
    MODEL_NO_OWNER,
    MODEL_UNREGISTERED,
    RULES,
    SCANNER,
)
from bastion.discover._sniff._text import MODEL_KEY_NAMES, MODEL_KEY_VALUES

REGISTERED_FOLDERS = frozenset({"mlflow-model", "hf-model", "hf-adapter", "tf-savedmodel"})
PLAIN_DATA = frozenset(
    {"csv", "tsv", "jsonl", "parquet", "arrow", "arrow-stream", "feather-v1", "tfrecord", "hf-dataset", "hdf5"}
)
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*['\"]?([^'\"\s#]+)")
_OWNED_KINDS = (AssetKind.MODEL, AssetKind.DATASET, AssetKind.VECTOR_STORE)


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return f.read(MAX_TEXT_READ).decode("utf-8", "replace")
    except OSError:
        return None


def file_findings(asset: Asset, path: Path) -> Iterator[Finding]:
    """Per-file checks: malformed headers and model API keys in .env, notebooks and configs."""
    uri = asset.uri
    for message in asset.tags.get("problems", []) or []:
        yield ASSET_UNPARSEABLE.finding(
            asset_uri=uri,
            location=Location(path=uri),
            scanner=SCANNER,
            evidence=f"{asset.format}: {message}",
            confidence=0.9,
        )
    if asset.kind not in (AssetKind.SECRETS, AssetKind.NOTEBOOK, AssetKind.CONFIG, AssetKind.PROMPT) or asset.tags.get(
        "folder"
    ):
        return
    text = _read(path)
    if text is None:
        return
    if asset.kind is AssetKind.SECRETS:
        for lineno, line in enumerate(text.splitlines(), 1):
            m = _ENV_LINE.match(line.strip())
            if not m:
                continue
            name, value = m.groups()
            if (MODEL_KEY_NAMES.match(line.strip()) and len(value) >= 8) or MODEL_KEY_VALUES.search(value):
                yield MODEL_API_KEY.finding(
                    asset_uri=uri,
                    location=Location(path=uri, line=lineno),
                    scanner=SCANNER,
                    evidence=describe_secret(value, name),
                    properties={"variable": name},
                )
        return
    parts = notebook_cells(text) if asset.kind is AssetKind.NOTEBOOK else [("", text)]
    for pointer, chunk in parts:
        for m in MODEL_KEY_VALUES.finditer(chunk):
            value = m.group(1)
            at_line = chunk.count("\n", 0, m.start()) + 1 if not pointer else None
            yield MODEL_API_KEY.finding(
                asset_uri=uri,
                location=Location(path=uri, line=at_line, pointer=pointer or None),
                scanner=SCANNER,
                evidence=describe_secret(value, "model API key"),
                confidence=0.9,
            )


def sprawl_findings(
    project: str,
    assets: Sequence[Asset],
    store: object | None = None,
    *,
    root: Path | None = None,
    owners: Mapping[str, str] | None = None,
    include_file_checks: bool = False,
) -> list[Finding]:
    """Cross-asset findings for one project's scan; enriches assets not yet enriched.

    `store` (a `bastion.core.store.Store`, optional) supplies earlier scanners'
    findings for classification (e.g. PII found in a dataset by the data scanner).
    With `include_file_checks`, the per-file checks of `DiscoverScanner` run too
    (for callers that do not run scanners, such as `bastion discover`).
    """
    assets = [a for a in assets if a.project == project] or list(assets)
    base = root or _root_of(assets)
    prior: list[Finding] = []
    list_findings = getattr(store, "list_findings", None)
    if callable(list_findings):
        for a in assets:
            if a.kind in (AssetKind.DATASET, AssetKind.MODEL):
                try:
                    prior.extend(list_findings(project, asset_uri=a.uri))
                except Exception:  # an unreachable store must not lose the scan's own findings
                    break
    if any(a.risk is None for a in assets) or prior:
        enrich(assets, base, owners=owners, findings=prior)
    folders = sorted((a.uri for a in assets if a.tags.get("folder")), key=len, reverse=True)
    registered = [a.uri for a in assets if a.format in REGISTERED_FOLDERS]
    out: list[Finding] = []
    for a in assets:
        loc = Location(path=a.uri)
        inside = folder_of(a.uri, folders) if not a.tags.get("folder") else None
        if a.kind in _OWNED_KINDS and not a.owner and inside is None:
            out.append(
                MODEL_NO_OWNER.finding(
                    asset_uri=a.uri, location=loc, scanner=SCANNER, evidence=f"{a.kind.value} {a.format}"
                )
            )
        if a.kind is AssetKind.MODEL and inside is None and a.format not in FOLDER_FORMATS:
            parent = posixpath.dirname(a.uri)
            near = [r for r in registered if posixpath.dirname(r) == parent and r != "."]
            if near:
                out.append(
                    MODEL_UNREGISTERED.finding(
                        asset_uri=a.uri,
                        location=loc,
                        scanner=SCANNER,
                        evidence=f"{a.format} beside registered {near[0]}",
                        properties={"registered": near[:8]},
                    )
                )
        if a.kind is AssetKind.DATASET and "pii" in a.classification and a.format in PLAIN_DATA and inside is None:
            cols = [c for c in a.tags.get("columns", []) or [] if isinstance(c, str) and PII_COLUMNS.match(c.strip())]
            out.append(
                DATASET_PII_PLAIN.finding(
                    asset_uri=a.uri,
                    location=loc,
                    scanner=SCANNER,
                    evidence=f"{a.format}, personal-data columns: {', '.join(cols[:8])}" if cols else a.format,
                )
            )
        if include_file_checks and a.uri != "." and not a.tags.get("folder"):
            out.extend(file_findings(a, base / a.uri if base.is_dir() else base))
    groups: dict[str, list[str]] = {}
    for a in assets:
        if a.kind is AssetKind.MODEL and a.digest and not a.tags.get("folder"):
            groups.setdefault(a.digest, []).append(a.uri)
    for digest, uris in groups.items():
        if len(uris) > 1:
            uris.sort()
            out.append(
                MODEL_DUPLICATE.finding(
                    asset_uri=uris[0],
                    location=Location(path=uris[0]),
                    scanner=SCANNER,
                    evidence=f"{len(uris)} copies of {digest[:23]}",
                    properties={"copies": uris[:50]},
                )
            )
    return out


def _root_of(assets: Iterable[Asset]) -> Path:
    for a in assets:
        r = a.tags.get("root")
        if isinstance(r, str) and r:
            return Path(r)
    return Path.cwd()


class DiscoverScanner:
    """Per-file discovery checks as a scanner plug-in (model API keys, malformed headers)."""

    name = SCANNER
    rules: Mapping[str, Rule] = RULES

    def applies(self, target: ScanTarget) -> bool:
        a = target.asset
        if a is None or a.tags.get("folder"):
            return False
        return bool(a.tags.get("problems")) or a.kind in (
            AssetKind.SECRETS,
            AssetKind.NOTEBOOK,
            AssetKind.CONFIG,
            AssetKind.PROMPT,
        )

    def scan(self, target: ScanTarget) -> Iterable[Finding]:
        if target.asset is None:
            return []
        return list(file_findings(target.asset, target.path))
