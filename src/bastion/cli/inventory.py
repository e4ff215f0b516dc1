"""`bastion inventory list|show|diff|export`: views over the recorded AI inventory."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import UserError, command, console, print_json, state
from bastion.core.types import AssetKind


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The AI inventory: list, show, diff and export assets.", no_args_is_help=True)
    app.add_typer(group, name="inventory")

    @group.command("list")
    @command
    def list_cmd(
        kind: Annotated[str | None, typer.Option("--kind", help="model|dataset|notebook|prompt|config|...")] = None,
        vanished: Annotated[bool, typer.Option("--vanished", help="Include assets no longer present")] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List recorded assets."""
        k = AssetKind(kind) if kind else None
        assets = state.store.list_assets(state.settings.project, kind=k, include_vanished=vanished)
        if as_json:
            print_json([a.to_dict() for a in assets])
            return
        table = Table(title=f"inventory: {state.settings.project}")
        for col in ("uri", "kind", "format", "owner", "classification", "risk", "digest"):
            table.add_column(col, overflow="fold")
        for a in assets:
            table.add_row(
                a.uri,
                a.kind.value,
                a.format,
                a.owner or "",
                ",".join(a.classification),
                f"{a.risk:.2f}" if a.risk is not None else "",
                (a.digest or "")[:19],
            )
        console.print(table)

    @group.command("show")
    @command
    def show(uri: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Everything recorded about one asset."""
        asset = state.store.get_asset(state.settings.project, uri)
        if asset is None:
            raise UserError(f"no asset {uri!r} in project {state.settings.project!r}")
        if as_json:
            print_json(asset.to_dict())
            return
        table = Table(title=uri, show_header=False)
        for key, value in asset.to_dict().items():
            table.add_row(key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
        console.print(table)

    @group.command("diff")
    @command
    def diff(
        path: Annotated[Path, typer.Argument(help="Folder to compare with the recorded inventory")],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """What a rescan of PATH would change in the inventory (nothing is written)."""
        from bastion.discover import diff_assets, discover

        settings = state.settings
        found = discover(
            path, project=settings.project, exclude=settings.scan.exclude, owners=settings.owners, store=state.store
        )
        root = str(path.resolve())
        old = [a for a in state.store.list_assets(settings.project) if a.tags.get("root") == root]
        result = diff_assets(old, found.assets)
        if as_json:
            print_json(result)
            return
        for uri in result["added"]:
            console.print(f"[green]+ {uri}[/]")
        for uri in result["removed"]:
            console.print(f"[red]- {uri}[/]")
        for uri, fields in result["changed"].items():
            console.print(f"[yellow]~ {uri}[/] " + ", ".join(f"{k}: {v[0]} -> {v[1]}" for k, v in fields.items()))
        if not any(result.values()):
            console.print("no changes")

    @group.command("export")
    @command
    def export(
        fmt: Annotated[str, typer.Option("--format", help="json|csv|cyclonedx")] = "json",
        out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout)")] = None,
    ) -> None:
        """Export the inventory as JSON, CSV or a CycloneDX 1.6 AI-BOM."""
        assets = state.store.list_assets(state.settings.project)
        if fmt == "json":
            text = json.dumps([a.to_dict() for a in assets], indent=2, default=str) + "\n"
        elif fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(
                ["uri", "kind", "format", "framework", "size", "digest", "owner", "classification", "risk", "lineage"]
            )
            for a in assets:
                w.writerow(
                    [
                        a.uri,
                        a.kind.value,
                        a.format,
                        a.framework or "",
                        a.size,
                        a.digest or "",
                        a.owner or "",
                        ";".join(a.classification),
                        a.risk,
                        ";".join(a.lineage),
                    ]
                )
            text = buf.getvalue()
        elif fmt == "cyclonedx":
            from bastion.discover import build_bom

            text = json.dumps(build_bom(assets, name=state.settings.project), indent=2) + "\n"
        else:
            raise UserError(f"unknown format {fmt!r} (expected json, csv or cyclonedx)")
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, "utf-8")
            console.print(f"wrote {len(assets)} assets to {out}")
