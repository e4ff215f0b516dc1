"""Discovery: find AI assets by content, inventory them, trace lineage, write the AI-BOM.

The public surface is deliberately small; the implementation lives in private
modules so it can change without breaking callers.

- `walk`, `identify`, `digest_file`: the engine the scan orchestrator drives.
- `discover` / `record`: a discovery run and its incremental inventory in the store.
- `enrich`, `sprawl_findings`, `DiscoverScanner`, `RULES`: owners, lineage, risk and findings.
- `build_bom`: the CycloneDX 1.6 AI-BOM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bastion.core.types import Asset
from bastion.discover._digest import digest_file
from bastion.discover._enrich import enrich
from bastion.discover._inventory import Discovery, InventoryDelta, diff_assets, discover, identify_entries, record
from bastion.discover._rules import RULES
from bastion.discover._sniff import identify
from bastion.discover._sprawl import DiscoverScanner, file_findings, sprawl_findings
from bastion.discover._types import HEAD_SIZE, WalkItem, WalkProblem
from bastion.discover._walk import walk

__all__ = [
    "HEAD_SIZE",
    "RULES",
    "DiscoverScanner",
    "Discovery",
    "InventoryDelta",
    "WalkItem",
    "WalkProblem",
    "build_bom",
    "diff_assets",
    "digest_file",
    "discover",
    "enrich",
    "file_findings",
    "identify",
    "identify_entries",
    "record",
    "sprawl_findings",
    "walk",
]


def build_bom(assets: Sequence[Asset], *, name: str = "ai-inventory", validate: bool = True) -> dict[str, Any]:
    """A schema-validated CycloneDX 1.6 AI-BOM (as a JSON-ready dict) for `assets`.

    Imported lazily: cyclonedx-python-lib is the optional ``bom`` extra.
    """
    from bastion.discover._bom import build_bom as _build

    return _build(assets, name=name, validate=validate)
