"""The root Typer app. Each command group lives in its own module with a `register(app)`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from bastion import __version__
from bastion.cli._common import state

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

# Which module registers each top-level command, so `bastion sign key ...` imports and
# builds one command group instead of all of them (Typer inspects every command's
# signature on each run: about 0.1 s here, more on a loaded machine). A name missing
# here, or a module that no longer registers it, falls back to the full app.
_COMMAND_MODULES: dict[str, str] = {
    "access": "bastion.cli.access",
    "audit": "bastion.cli.audit",
    "bom": "bastion.cli.bom",
    "config": "bastion.cli.config",
    "controls": "bastion.cli.controls",
    "encrypt": "bastion.cli.crypt",
    "decrypt": "bastion.cli.crypt",
    "demo": "bastion.cli.demo",
    "detect": "bastion.cli.detect",
    "discover": "bastion.cli.discover",
    "envcheck": "bastion.cli.envcheck",
    "gate": "bastion.cli.gate",
    "guard": "bastion.cli.guard",
    "monitor": "bastion.cli.guard",
    "inventory": "bastion.cli.inventory",
    "keys": "bastion.cli.keys",
    "protect": "bastion.cli.protect",
    "unprotect": "bastion.cli.protect",
    "minimize": "bastion.cli.protect",
    "registry": "bastion.cli.registry",
    "scan": "bastion.cli.scan",
    "scan-model": "bastion.cli.scan_model",
    "serve": "bastion.cli.serve",
    "sign": "bastion.cli.sign",
    "verify": "bastion.cli.sign",
}
_ROOT_OPTIONS_WITH_VALUE = frozenset({"--config", "-c", "--project", "-p", "--db"})


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bastion {__version__}")
        raise typer.Exit()


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


def build_app(modules: Sequence[str] = _COMMANDS) -> typer.Typer:
    """The root app with the command groups of `modules` registered (all of them by default)."""
    root = typer.Typer(
        name="bastion",
        help="Bastion: discover, protect, scan, sign, guard and govern AI data and models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.callback()(_root)
    for module in modules:
        importlib.import_module(module).register(root)
    return root


def _registered(root: typer.Typer) -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in root.registered_commands}
    return names | {g.name or "" for g in root.registered_groups}


def _command_name(argv: Sequence[str]) -> str | None:
    """The top-level command in `argv`, or None (root help, --version, anything unusual)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _ROOT_OPTIONS_WITH_VALUE:
            skip = True
        elif token.startswith("-"):
            if "=" in token and token.split("=", 1)[0] in _ROOT_OPTIONS_WITH_VALUE:
                continue
            return None
        else:
            return token
    return None


def app_for(argv: Sequence[str]) -> typer.Typer:
    """The smallest app that runs `argv` the same way the full app would."""
    name = _command_name(argv)
    module = _COMMAND_MODULES.get(name) if name else None
    if module is not None:
        partial = build_app([module])
        if name in _registered(partial):
            return partial
    return build_app()


app: typer.Typer  # the full app, built on first access (tests, `typer.testing`, plug-ins)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        full = build_app()
        globals()["app"] = full
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    try:
        app_for(sys.argv[1:])()
    finally:
        state.close()
