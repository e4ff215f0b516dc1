"""`bastion serve`: the guarded inference gateway (HTTP, or HTTPS with a certificate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bastion.cli._common import command, fail, state


def gateway_settings(path: Path | None, redis_url: str | None = None):  # type: ignore[no-untyped-def]
    """Gateway settings from `path`, with the project of `bastion.toml` unless the file names one."""
    from bastion.gateway import GatewayConfigError, load_gateway_settings

    try:
        settings = load_gateway_settings(path, redis_url=redis_url)
    except GatewayConfigError as exc:
        fail(str(exc))
    if "project" not in settings.model_fields_set:
        settings = settings.model_copy(update={"project": state.settings.project})
    return settings


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @command
    def serve(
        config: Annotated[
            Path | None, typer.Option("--gateway-config", "-g", help="Gateway settings (YAML/TOML/JSON)")
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Address to bind")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
        tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS")] = None,
        tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert")] = None,
        redis_url: Annotated[
            str | None, typer.Option("--redis-url", help="Share limits across replicas through Redis")
        ] = None,
        log_level: Annotated[str, typer.Option("--log-level")] = "warning",
        workers: Annotated[
            int, typer.Option("--workers", min=1, max=64, help="Server processes (limits: use --redis-url)")
        ] = 1,
    ) -> None:
        """Serve the OpenAI-compatible, prediction and admin APIs behind auth, limits, guards and audit."""
        from bastion.gateway import serve as run

        for p in (tls_cert, tls_key):
            if p is not None and not p.is_file():
                fail(f"{p}: no such file")
        settings = gateway_settings(config, redis_url)

        def announce(lines: list[str]) -> None:
            """Once listening: where, which models and guards (without it the operator saw nothing at all)."""
            for line in lines:
                typer.echo(line)

        run(
            settings,
            state.store,
            host=host,
            port=port,
            certfile=tls_cert,
            keyfile=tls_key,
            log_level=log_level,
            workers=workers,
            db_url=state.settings.db_url,
            announce=announce,
        )
