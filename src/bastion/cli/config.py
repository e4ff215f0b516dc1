"""`bastion config show`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import command, console, print_json, state


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
    app.add_typer(group, name="config")

    @group.command("show")
    @command
    def show(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Print the effective settings (file + environment + flags), secrets masked."""
        data = state.settings.redacted()
        if as_json:
            print_json(data)
            return
        table = Table(title="bastion configuration", show_header=True)
        table.add_column("setting")
        table.add_column("value")
        for key, value in data.items():
            table.add_row(key, str(value))
        console.print(table)
