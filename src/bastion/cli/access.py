"""`bastion access`: gateway API keys and administrator accounts (not the encryption keys of `bastion keys`)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from bastion.cli._common import UserError, command, console, err_console, print_json, state

_DURATION = re.compile(r"^(\d+)([smhd])$")


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    m = _DURATION.match(text.strip())
    if not m:
        raise UserError(f"invalid duration {text!r}: use e.g. 90s, 30m, 12h, 30d")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def _show_new_key(plain: str, rec: Any, as_json: bool, note: str, project: str | None = None) -> None:
    """A freshly issued key, shown once: on stdout (alone, or in the JSON record), the note on stderr."""
    if as_json:
        print_json({"key": plain, **({"project": project} if project else {}), **rec.to_dict()})
    else:
        console.print(f"[bold]{plain}[/]")
        err_console.print(note)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Gateway API keys and administrator accounts.", no_args_is_help=True)
    app.add_typer(group, name="access")

    def project_of(gateway_config: Path | None) -> str:
        """The project keys go to: the gateway file's `project:` when given, else bastion.toml's.

        A gateway only accepts keys of its own project; creating a key in another one
        (the default project, while gateway.yaml names e.g. `bank`) gave a key that
        could never authenticate there.
        """
        if gateway_config is None:
            return state.settings.project
        from bastion.cli.serve import gateway_settings

        return str(gateway_settings(gateway_config).project)

    def keys(gateway_config: Path | None = None):  # type: ignore[no-untyped-def]
        from bastion.gateway import key_store

        return key_store(state.store, project_of(gateway_config))

    @group.command("create")
    @command
    def create(
        tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant the key belongs to")],
        name: Annotated[str, typer.Option("--name", "-n", help="What the key is for")],
        role: Annotated[
            list[str], typer.Option("--role", "-r", help="admin|security_officer|data_scientist|application")
        ],
        scope: Annotated[list[str] | None, typer.Option("--scope", help="llm|predict|embeddings|admin")] = None,
        model: Annotated[
            list[str] | None, typer.Option("--model", "-m", help="Only these models (glob suffix *)")
        ] = None,
        expires_in: Annotated[str | None, typer.Option("--expires-in", help="e.g. 30d")] = None,
        rpm: Annotated[int | None, typer.Option("--rpm", min=0, help="Requests per minute")] = None,
        tpm: Annotated[int | None, typer.Option("--tpm", min=0, help="Tokens per minute")] = None,
        tpd: Annotated[int | None, typer.Option("--tpd", min=0, help="Tokens per day")] = None,
        gateway_config: Annotated[
            Path | None,
            typer.Option("--gateway-config", "-g", help="Issue the key in this gateway file's project"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Issue an API key; it is printed once and stored only as a hash."""
        from bastion.gateway import KeyError_

        limits = {
            k: v
            for k, v in {"requests_per_minute": rpm, "tokens_per_minute": tpm, "tokens_per_day": tpd}.items()
            if v is not None
        }
        store = keys(gateway_config)
        try:
            plain, rec = store.create(
                tenant=tenant,
                name=name,
                roles=role,
                scopes=scope or ("llm", "predict", "embeddings"),
                models=model,
                limits=limits,
                expires_in=_duration(expires_in),
                actor=state.settings.who,
            )
        except KeyError_ as exc:
            raise UserError(str(exc)) from None
        _show_new_key(
            plain,
            rec,
            as_json,
            f"key {rec.id} for tenant {tenant} in project {store.project} (only a gateway serving project "
            f"{store.project} accepts it): store it now, it cannot be shown again",
            store.project,
        )

    @group.command("list")
    @command
    def list_(
        tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """API keys (ids, hints, roles, expiry, last use); never the keys themselves."""
        from rich.table import Table

        found = keys().list(tenant)
        if as_json:
            print_json([k.to_dict() for k in found])
            return
        table = Table(title=f"{len(found)} API key(s)")
        for col in ("id", "tenant", "name", "hint", "roles", "expires", "last used", "active"):
            table.add_column(col)
        for k in found:
            table.add_row(
                k.id,
                k.tenant,
                k.name,
                k.hint,
                ",".join(k.roles),
                k.expires_at.isoformat(timespec="seconds") if k.expires_at else "-",
                k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "-",
                "yes" if k.active() else "no",
            )
        console.print(table)

    @group.command("revoke")
    @command
    def revoke(
        key_id: Annotated[str, typer.Argument()], as_json: Annotated[bool, typer.Option("--json")] = False
    ) -> None:
        """Revoke a key (replicas honour it within the key cache time, 5 s by default)."""
        from bastion.gateway import KeyError_

        try:
            rec = keys().revoke(key_id, actor=state.settings.who)
        except KeyError_ as exc:
            raise UserError(str(exc)) from None
        print_json(rec.to_dict()) if as_json else console.print(f"revoked {rec.id}")

    @group.command("rotate")
    @command
    def rotate(
        key_id: Annotated[str, typer.Argument()],
        overlap: Annotated[str, typer.Option("--overlap", help="How long the old key keeps working")] = "1h",
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Issue a successor with the same attributes; the old key expires after the overlap."""
        from bastion.gateway import KeyError_

        try:
            plain, rec = keys().rotate(key_id, overlap=_duration(overlap) or timedelta(0), actor=state.settings.who)
        except KeyError_ as exc:
            raise UserError(str(exc)) from None
        _show_new_key(plain, rec, as_json, f"new key {rec.id} replaces {key_id}; the old one expires in {overlap}")

    @group.command("admin-create")
    @command
    def admin_create(
        username: Annotated[str, typer.Argument()],
        tenant: Annotated[str, typer.Option("--tenant", "-t")] = "default",
        role: Annotated[list[str] | None, typer.Option("--role", "-r")] = None,
    ) -> None:
        """Create an administrator; password from BASTION_ADMIN_PASSWORD or a prompt; prints the TOTP URI once."""
        from bastion.gateway import AdminError, admin_store

        password = os.environ.get("BASTION_ADMIN_PASSWORD") or typer.prompt(
            "Password", hide_input=True, confirmation_prompt=True
        )
        try:
            enrol = admin_store(state.store, state.settings.project).create(
                username, password, roles=tuple(role or ("admin",)), tenant=tenant, actor=state.settings.who
            )
        except AdminError as exc:
            raise UserError(str(exc)) from None
        console.print(enrol.totp_uri)
        err_console.print("add this URI to an authenticator app now (TOTP is mandatory); it is not shown again")
