"""The root Typer app. Each command group lives in its own module with a `register(app)`."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from bastion import __version__
from bastion.cli._common import state

app = typer.Typer(
    name="bastion",
    help="Bastion: discover, protect, scan, sign, guard and govern AI data and models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# One module per command group; each exposes `register(app: typer.Typer) -> None`.
_COMMANDS = (
    "bastion.cli.access",
    "bastion.cli.audit",
    "bastion.cli.bom",
    "bastion.cli.config",
    "bastion.cli.controls",
    "bastion.cli.crypt",
    "bastion.cli.demo",
    "bastion.cli.detect",
    "bastion.cli.discover",
    "bastion.cli.envcheck",
    "bastion.cli.gate",
    "bastion.cli.guard",
    "bastion.cli.inventory",
    "bastion.cli.keys",
    "bastion.cli.protect",
    "bastion.cli.registry",
    "bastion.cli.scan",
    "bastion.cli.scan_model",
    "bastion.cli.serve",
    "bastion.cli.sign",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bastion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Path to bastion.toml", envvar="BASTION_CONFIG")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project (namespace)")] = None,
    database_url: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: SQLite in the state folder)")
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    state.config_file = config
    state.overrides = {"project": project, "database_url": database_url}


for _module in _COMMANDS:
    importlib.import_module(_module).register(app)


def main() -> None:
    try:
        app()
    finally:
        state.close()
