"""`bastion bom PATH | --from-inventory`: the CycloneDX 1.6 AI-BOM."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bastion.cli._common import UserError, command, console, state


def register(app: typer.Typer) -> None:
    @app.command("bom")
    @command
    def bom(
        path: Annotated[Path | None, typer.Argument(help="File or folder to describe")] = None,
        from_inventory: Annotated[bool, typer.Option("--from-inventory", help="Use the recorded inventory")] = False,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: stdout)")] = None,
    ) -> None:
        """Write a CycloneDX 1.6 ML-BOM (models, datasets, hashes, lineage), schema-validated."""
        from bastion.discover import build_bom, discover

        settings = state.settings
        if from_inventory == (path is not None):
            raise UserError("give either PATH or --from-inventory")
        if path is not None:
            assets = discover(
                path, project=settings.project, exclude=settings.scan.exclude, owners=settings.owners
            ).assets
            name = path.resolve().name or settings.project
        else:
            assets = state.store.list_assets(settings.project)
            name = settings.project
        text = json.dumps(build_bom(assets, name=name), indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, "utf-8")
            console.print(f"wrote AI-BOM with {len(assets)} assets to {out}")
