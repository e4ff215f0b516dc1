"""`bastion keys create | list | rotate | shred`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bastion.cli._common import command, console, fail, print_json, state

if TYPE_CHECKING:
    from bastion.crypto.keys import KeyManager, Principal


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def principal() -> Principal:
    """The CLI user: owner of the state folder, `admin` unless BASTION_ROLES narrows it."""
    from bastion.crypto.keys import Principal

    roles = [r.strip() for r in os.environ.get("BASTION_ROLES", "admin").split(",") if r.strip()]
    return Principal.of(state.settings.who, roles)


def manager() -> KeyManager:
    from bastion.crypto.keys import KeyManager

    return KeyManager(state.store, state.settings.project)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Envelope keys: create, list, rotate and crypto-shred.", no_args_is_help=True)
    app.add_typer(group, name="keys")

    @group.command("create")
    @command
    def create(
        key_id: Annotated[str, typer.Argument(help="Stable key id, e.g. 'transactions'")],
        provider: Annotated[str, typer.Option("--provider", help="local | hybrid-pq | pkcs11")] = "local",
        as_json: JsonOpt = False,
    ) -> None:
        """Create a key-encryption key (KEK material stays in the keyring or HSM, never in the database)."""
        info = manager().create(key_id, principal(), provider=provider)
        if as_json:
            print_json(info.to_dict())
        else:
            console.print(
                f"created key [bold]{info.key_id}[/] v{info.version} ({info.provider}, "
                f"{info.to_dict()['post_quantum']})"
            )

    @group.command("list")
    @command
    def list_(as_json: JsonOpt = False) -> None:
        """List keys with version, status and how many data keys they wrap."""
        infos = manager().list(principal())
        if as_json:
            print_json([i.to_dict() for i in infos])
            return
        table = Table(title=f"keys in project {state.settings.project}")
        for col in ("key id", "provider", "version", "status", "data keys", "post-quantum", "created"):
            table.add_column(col)
        for i in infos:
            d = i.to_dict()
            table.add_row(
                i.key_id,
                i.provider,
                str(i.version),
                i.status,
                str(i.data_keys),
                d["post_quantum"],
                i.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)

    @group.command("rotate")
    @command
    def rotate(key_id: str, as_json: JsonOpt = False) -> None:
        """New KEK version; every data key is rewrapped (data is not re-encrypted)."""
        r = manager().rotate(key_id, principal())
        if as_json:
            print_json(
                {
                    "key_id": r.key_id,
                    "old_version": r.old_version,
                    "new_version": r.new_version,
                    "rewrapped": r.rewrapped,
                }
            )
        else:
            console.print(
                f"rotated [bold]{key_id}[/] v{r.old_version} -> v{r.new_version}; {r.rewrapped} data keys rewrapped"
            )

    @group.command("shred")
    @command
    def shred(
        key_id: str,
        yes: Annotated[
            bool, typer.Option("--yes", help="Confirm: everything under this key becomes unrecoverable")
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Crypto-shred a key: its data keys, vault entries and KEK material are destroyed."""
        if not yes:
            fail(f"shredding {key_id!r} destroys all data encrypted under it; repeat with --yes")
        r = manager().shred(key_id, principal())
        if as_json:
            print_json(
                {
                    "key_id": r.key_id,
                    "data_keys_destroyed": r.data_keys_destroyed,
                    "vault_entries_destroyed": r.vault_entries_destroyed,
                    "material_destroyed": r.material_destroyed,
                }
            )
        else:
            console.print(
                f"shredded [bold]{key_id}[/]: {r.data_keys_destroyed} data keys and "
                f"{r.vault_entries_destroyed} vault entries destroyed; recorded in the audit log"
            )
