"""`bastion envcheck`: AI/ML packages of a Python environment and requirement hygiene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, command, console, print_json, state
from bastion.core.types import Severity


def register(app: typer.Typer) -> None:
    @app.command("envcheck")
    @command
    def envcheck(
        requirement: Annotated[
            list[Path] | None, typer.Option("--requirement", "-r", help="Requirements file to check (repeatable)")
        ] = None,
        python: Annotated[
            Path | None, typer.Option("--python", help="Interpreter of the environment (default: this one)")
        ] = None,
        index: Annotated[
            list[str] | None, typer.Option("--allow-index", help="Allowlisted index URL (repeatable)")
        ] = None,
        record: Annotated[
            bool, typer.Option("--record/--no-record", help="Record AI/ML packages in the inventory")
        ] = True,
        fail_on: Annotated[str, typer.Option("--fail-on", help="Exit 1 at or above this severity")] = "high",
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Inventory AI/ML packages; flag unpinned, unhashed and non-allowlisted requirements."""
        from bastion.model.envcheck import DEFAULT_INDEXES, check_environment

        report = check_environment(
            python=python, requirements=requirement or [], allowed_indexes=index or list(DEFAULT_INDEXES)
        )
        if record:
            settings = state.settings
            for asset in report.assets(settings.project):
                state.store.upsert_asset(asset, actor=settings.who)
        threshold = Severity.parse(fail_on)
        if as_json:
            print_json(report.to_dict())
        else:
            table = Table(title=f"AI/ML packages ({len(report.ai_packages)} of {len(report.packages)})")
            for col in ("package", "version", "category", "origin"):
                table.add_column(col)
            for p in report.ai_packages:
                table.add_row(p.name, p.version, p.category or "", p.origin)
            console.print(table)
            for f in report.findings:
                where = f"{f.location.path}:{f.location.line}" if f.location.line else f.location.path
                console.print(
                    f"  {f.severity.label:<8} {f.rule_id:<28} {where}  {f.evidence}", soft_wrap=True, markup=False
                )
        if any(f.severity >= threshold for f in report.findings):
            raise typer.Exit(EXIT_FINDINGS)
