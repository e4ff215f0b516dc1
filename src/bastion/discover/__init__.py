"""Discovery: find AI assets by content, inventory them, trace lineage, write the AI-BOM.

The public surface is deliberately small; the implementation lives in private
modules so it can change without breaking callers.

- `walk`, `identify`, `digest_file`: the engine the scan orchestrator drives.
- `discover` / `record`: a discovery run and its incremental inventory in the store.
- `enrich`, `sprawl_findings`, `DiscoverScanner`, `RULES`: owners, lineage, risk and findings.
- `build_bom`: the CycloneDX 1.6 AI-BOM.
"""

from __future__ import annotations

from bastion.discover._digest import digest_file
from bastion.discover._enrich import enrich
from bastion.discover._inventory import Discovery, InventoryDelta, diff_assets, discover, record
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
    "record",
    "sprawl_findings",
    "walk",
]


def __getattr__(name: str) -> object:
    # the BOM pulls in cyclonedx-python-lib (an optional extra); import it only when asked
    if name == "build_bom":
        from bastion.discover._bom import build_bom

        return build_bom
    raise AttributeError(name)
