"""Discovery runs and the incremental inventory kept in the store.

A rescan digests only files whose size or mtime changed since the last run (the
store remembers both), so re-inventorying a large tree costs a walk, not a
re-hash; `verify=True` re-hashes everything to catch content changed under an
unchanged size and mtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bastion.core.types import Asset, Finding
from bastion.discover._digest import digest_file
from bastion.discover._enrich import enrich
from bastion.discover._sniff import identify
from bastion.discover._sprawl import sprawl_findings
from bastion.discover._types import WalkItem, WalkProblem
from bastion.discover._walk import walk


class _StoreLike(Protocol):
    def asset_state(self, project: str, uri: str) -> tuple[int | None, float | None, str | None] | None: ...
    def upsert_asset(self, asset: Asset, *, actor: str, mtime: float | None = None) -> bool: ...
    def list_assets(self, project: str, *, kind: Any = None, include_vanished: bool = False) -> list[Asset]: ...
    def mark_vanished(self, project: str, uris: Any, *, actor: str) -> int: ...


@dataclass(slots=True)
class Discovery:
    root: Path
    assets: list[Asset] = field(default_factory=list)
    problems: list[WalkProblem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files_seen: int = 0
    digested: int = 0
    mtimes: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class InventoryDelta:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged, "vanished": self.vanished}


def discover(
    root: Path,
    *,
    project: str = "default",
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    digests: bool = True,
    verify: bool = False,
    owners: Mapping[str, str] | None = None,
    store: _StoreLike | None = None,
    use_git: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Discovery:
    """Walk `root`, identify AI assets, digest and enrich them, and compute sprawl findings."""
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(2, "no such file or directory", str(root))
    result = identify_entries(
        walk(root, exclude=exclude, follow_symlinks=follow_symlinks),
        root,
        project=project,
        digests=digests,
        verify=verify,
        store=store,
        progress=progress,
    )
    enrich(result.assets, root, owners=owners, use_git=use_git)
    result.findings = sprawl_findings(project, result.assets, store, root=root, owners=owners, include_file_checks=True)
    return result


def identify_entries(
    entries: Iterable[WalkItem | WalkProblem],
    root: Path,
    *,
    project: str = "default",
    digests: bool = True,
    verify: bool = False,
    store: _StoreLike | None = None,
    progress: Callable[[int], None] | None = None,
) -> Discovery:
    """Identify and digest already-walked entries; the scan service walks once and shares them.

    A file whose size and mtime match the store keeps its stored digest, so a rescan
    costs a walk, not a re-hash (unless `verify`).
    """
    root_abs = str(Path(root).resolve())
    result = Discovery(Path(root))
    for entry in entries:
        if isinstance(entry, WalkProblem):
            result.problems.append(entry)
            continue
        result.files_seen += 1
        if progress and result.files_seen % 1000 == 0:
            progress(result.files_seen)
        asset = identify(entry, project=project)
        if asset is None:
            continue
        asset.tags["root"] = root_abs
        result.mtimes[asset.uri] = entry.mtime
        if digests and not entry.is_dir:
            _digest(asset, entry, project, store, verify, result)
        result.assets.append(asset)
    return result


def _digest(
    asset: Asset, item: WalkItem, project: str, store: _StoreLike | None, verify: bool, result: Discovery
) -> None:
    known = store.asset_state(project, asset.uri) if store is not None else None
    if not verify and known is not None and known[0] == item.size and known[1] == item.mtime and known[2]:
        asset.digest = known[2]
        return
    try:
        asset.digest = digest_file(item.path)
        result.digested += 1
    except OSError as exc:
        asset.tags.setdefault("problems", []).append(f"unreadable for digest: {exc.strerror or exc}")
    if (
        verify
        and known is not None
        and known[2]
        and asset.digest
        and known[2] != asset.digest
        and (known[0] == item.size and known[1] == item.mtime)
    ):
        asset.tags["content_changed_silently"] = True


def record(store: _StoreLike, found: Discovery, *, project: str, actor: str) -> InventoryDelta:
    """Upsert what `discover` found and mark what disappeared under the same root as vanished."""
    delta = InventoryDelta()
    before = {a.uri for a in store.list_assets(project) if a.tags.get("root") == str(found.root.resolve())}
    for asset in found.assets:
        existed = asset.uri in before
        changed = store.upsert_asset(asset, actor=actor, mtime=found.mtimes.get(asset.uri))
        (delta.changed if changed and existed else delta.added if changed else delta.unchanged).append(asset.uri)
    gone = sorted(before - {a.uri for a in found.assets})
    if gone:
        store.mark_vanished(project, gone, actor=actor)
    delta.vanished = gone
    return delta


def diff_assets(old: Sequence[Asset], new: Sequence[Asset]) -> dict[str, Any]:
    """What changed between two inventories (by uri): added, removed, and per-field changes."""
    a = {x.uri: x for x in old}
    b = {x.uri: x for x in new}
    fields = ("kind", "format", "digest", "size", "owner", "framework", "classification", "lineage", "risk")
    changed: dict[str, dict[str, list[Any]]] = {}
    for uri in sorted(a.keys() & b.keys()):
        d = {f: [getattr(a[uri], f), getattr(b[uri], f)] for f in fields if getattr(a[uri], f) != getattr(b[uri], f)}
        if d:
            changed[uri] = {
                k: [str(v[0]) if hasattr(v[0], "value") else v[0], str(v[1]) if hasattr(v[1], "value") else v[1]]
                for k, v in d.items()
            }
    return {"added": sorted(b.keys() - a.keys()), "removed": sorted(a.keys() - b.keys()), "changed": changed}
