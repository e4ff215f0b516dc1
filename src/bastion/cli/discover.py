"""`bastion discover PATH`: what AI is here, by content; optionally recorded in the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_CLEAN, EXIT_FINDINGS, command, console, print_json, state
from bastion.core.types import Severity


def register(app: typer.Typer) -> None:
    @app.command("discover")
    @command
    def discover_cmd(
        path: Annotated[Path, typer.Argument(help="File or folder to inventory")],
        as_json: Annotated[bool, typer.Option("--json", help="One JSON record per asset")] = False,
        save: Annotated[bool, typer.Option("--save/--no-save", help="Record the assets in the inventory")] = True,
        verify: Annotated[bool, typer.Option("--verify", help="Re-hash unchanged files too")] = False,
        no_digest: Annotated[bool, typer.Option("--no-digest", help="Skip hashing (fastest)")] = False,
        fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 on findings at or above")] = None,
    ) -> None:
        """Identify models, datasets, notebooks, prompts, configs, vector stores and keys under PATH."""
        from bastion.discover import discover, record

        settings = state.settings
        store = state.store if save else None
        found = discover(
            path,
            project=settings.project,
            exclude=settings.scan.exclude,
            follow_symlinks=settings.scan.follow_symlinks,
            digests=not no_digest,
            verify=verify,
            owners=settings.owners,
            store=store,
        )
        delta = record(store, found, project=settings.project, actor=settings.who) if store is not None else None
        threshold = Severity.parse(fail_on) if fail_on else settings.fail_on
        failing = any(f.severity >= threshold for f in found.findings)
        if as_json:
            print_json(
                {
                    "root": str(path),
                    "files_seen": found.files_seen,
                    "assets": [_record(a) for a in found.assets],
                    "findings": [f.to_dict() for f in found.findings],
                    "problems": [{"path": p.relpath, "reason": p.reason} for p in found.problems],
                    "inventory": delta.to_dict() if delta else None,
                }
            )
        else:
            table = Table(title=f"AI assets under {path}", show_lines=False)
            for col in ("path", "kind", "format", "framework", "size", "owner", "risk", "conf"):
                table.add_column(col, overflow="fold")
            for a in found.assets:
                table.add_row(
                    a.uri,
                    a.kind.value,
                    a.format,
                    a.framework or "",
                    _size(a.size),
                    a.owner or "",
                    f"{a.risk:.2f}" if a.risk is not None else "",
                    f"{a.confidence:.2f}",
                )
            console.print(table)
            console.print(
                f"{found.files_seen} files, {len(found.assets)} assets, {len(found.findings)} findings, "
                f"{len(found.problems)} problems"
            )
            for f in sorted(found.findings, key=lambda x: -x.severity)[:50]:
                console.print(f"  [{f.severity.label}] {f.rule_id} {f.asset_uri}: {f.evidence}", markup=False)
            if delta:
                console.print(
                    f"inventory: +{len(delta.added)} ~{len(delta.changed)} ={len(delta.unchanged)} "
                    f"-{len(delta.vanished)}"
                )
        raise typer.Exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


def _record(a: object) -> dict[str, object]:
    from bastion.core.types import Asset

    assert isinstance(a, Asset)
    data = a.to_dict()
    data["path"] = a.uri
    return data


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)
