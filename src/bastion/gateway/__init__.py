"""The guarded inference gateway: authenticated, authorized, rate-limited, audited model access.

    from bastion.gateway import create_app, load_gateway_settings
    app = create_app(load_gateway_settings(Path("gateway.yaml")), store)

`create_app` returns a FastAPI app that fronts OpenAI-compatible upstreams
(`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`),
serves classic models (`/v1/predict/{model}`: ONNX in-process, pinned
scikit-learn, or an upstream), and offers an admin API, health, readiness and
Prometheus metrics. Every request passes authentication (API keys, OIDC/JWT,
admin sessions with TOTP), casbin authorization with tenant isolation, limits
(in-process or shared through Redis), the configured guard chain, and leaves
one audit event in the store's hash chain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.gateway._app import build_app
from bastion.gateway._audit import request_log
from bastion.gateway._audit import verify as _verify_requests
from bastion.gateway._auth.admin import AdminError, AdminStore, Enrollment, load_secret
from bastion.gateway._auth.apikeys import KNOWN_ROLES, KNOWN_SCOPES, KeyError_, KeyRecord, KeyStore, well_formed
from bastion.gateway._auth.principal import AuthError, Principal
from bastion.gateway._guards.chain import ChainResult, GuardChain, GuardConfigError, Outcome
from bastion.gateway._guards.pii import PIIGuard, StreamRestorer, restore
from bastion.gateway._settings import (
    ClassicModel,
    GatewayConfigError,
    GatewaySettings,
    GuardConfig,
    Limits,
    LLMModel,
    OIDCIssuer,
    load_gateway_settings,
)

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from bastion.core.store import Store

__all__ = [
    "KNOWN_ROLES",
    "KNOWN_SCOPES",
    "AdminError",
    "AdminStore",
    "AuthError",
    "ChainResult",
    "ClassicModel",
    "Enrollment",
    "GatewayConfigError",
    "GatewaySettings",
    "GuardChain",
    "GuardConfig",
    "GuardConfigError",
    "KeyError_",
    "KeyRecord",
    "KeyStore",
    "LLMModel",
    "Limits",
    "OIDCIssuer",
    "Outcome",
    "PIIGuard",
    "Principal",
    "StreamRestorer",
    "admin_store",
    "create_app",
    "demo_gateway",
    "key_store",
    "load_gateway_settings",
    "ready_lines",
    "request_log",
    "restore",
    "serve",
    "verify_request_log",
    "well_formed",
]


def demo_gateway(store: Store, project: str = "demo") -> dict[str, Any]:
    """The gateway scene of the flagship demo, in-process; returns a value-free summary."""
    from bastion.gateway._demo import demo_gateway as run

    return run(store, project)


def create_app(
    settings: GatewaySettings,
    store: Store,
    *,
    state_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app over `store`; `transport` lets tests route upstream calls in-process."""
    return build_app(settings, store, state_dir=state_dir, transport=transport)


def tune_process() -> None:
    """Process-wide settings for a gateway server process (never applied by `create_app`).

    The audit writer thread does Python work (row encoding, digests) while holding
    the GIL; with CPython's default 5 ms switch interval the event loop can wait
    that long for it, which shows directly in p99 latency. 0.5 ms bounds the stall
    at a negligible cost when nothing contends.
    """
    import sys

    sys.setswitchinterval(0.0005)


def verify_request_log(store: Store, project: str) -> list[str]:
    """Re-check every request record against the digest anchored in the audit chain; [] when intact."""
    return _verify_requests(store, project)


def key_store(store: Store, project: str) -> KeyStore:
    """API-key management without a running gateway (the `bastion access` CLI)."""
    return KeyStore(store, project, cache_s=0)


def admin_store(store: Store, project: str, settings: GatewaySettings | None = None) -> AdminStore:
    s = settings or GatewaySettings(project=project)
    return AdminStore(
        store,
        project,
        load_secret(store.state_dir),
        lockout_after=s.admin.lockout_after,
        lockout_s=s.admin.lockout_seconds,
        ttl_s=s.admin.session_ttl_s,
    )


def serve(
    settings: GatewaySettings,
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    log_level: str = "warning",
    workers: int = 1,
    db_url: str | None = None,
    announce: Callable[[list[str]], None] | None = None,
) -> None:
    """Run the gateway with uvicorn (HTTPS when a certificate and key are given) until stopped.

    `announce` receives `ready_lines` once the socket is listening (the CLI prints them:
    an operator otherwise had no sign that the gateway was up, nor where).

    `workers` > 1 runs that many processes on one socket; they need `db_url` (the
    store's real URL: `store.url` hides passwords). Limits are then shared exactly
    only with `redis_url`; without Redis each process enforces 1/workers of every
    limit (documented in docs/gateway.md).
    """
    import uvicorn

    if (certfile is None) != (keyfile is None):
        raise GatewayConfigError("HTTPS needs both a certificate and a key")
    if workers < 1:
        raise GatewayConfigError("workers must be at least 1")
    from bastion.gateway._server import WORKER_PROTOCOL, server_options

    settings = settings.model_copy(update={"workers": workers})  # the real count, whatever the file said
    options: dict[str, Any] = {
        **server_options(settings),  # header deadline, lingering close, no access log (see _server)
        "host": host,
        "port": port,
        "ssl_certfile": str(certfile) if certfile else None,
        "ssl_keyfile": str(keyfile) if keyfile else None,
        "log_level": log_level,
        "timeout_graceful_shutdown": 10,
        "backlog": 2048,
    }
    if workers == 1:
        tune_process()
        server = _announcing_server()(uvicorn.Config(create_app(settings, store), **options))
        server.on_ready = (
            None
            if announce is None
            else lambda bound: announce(ready_lines(settings, host, bound, https=certfile is not None, workers=1))
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:  # could not bind, or the app failed to start: as `uvicorn.run` does
            raise SystemExit(3)
        return
    from bastion.gateway._worker import handoff

    handoff(settings, db_url or store.url, store.state_dir)
    store.close()  # each worker opens its own
    options["http"] = WORKER_PROTOCOL  # by name: each worker process imports and configures it
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("bastion.gateway._worker:app", factory=True, workers=workers, **options)
    sock = config.bind_socket()  # what uvicorn.run does, with the announcement once the socket listens
    # Listen now (each worker's server listens again, harmlessly): connections made while the
    # workers start wait in the backlog instead of being refused, so the announcement is true.
    sock.listen(config.backlog)
    if announce is not None:
        announce(ready_lines(settings, host, sock.getsockname()[1], https=certfile is not None, workers=workers))
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def ready_lines(settings: GatewaySettings, host: str, port: int, *, https: bool, workers: int) -> list[str]:
    """What `bastion serve` prints once listening: where, which models, which guard chains (no secrets)."""
    scheme = "https" if https else "http"
    shown = f"[{host}]" if ":" in host else host
    base = f"{scheme}://{shown}:{port}"
    lines = [
        f"Bastion gateway listening on {base} (project {settings.project}, {workers} worker(s))",
        f"  OpenAI base URL: {base}/v1",
    ]
    llm = ", ".join(m.name for m in settings.models) or "none"
    lines.append(f"  models: {llm}")
    if settings.predict:
        lines.append(f"  predict: {', '.join(m.name for m in settings.predict)}")

    def chain(configs: list[GuardConfig]) -> str:
        return ", ".join(f"{g.name} ({g.action}, on_error {g.on_error})" for g in configs) or "none"

    lines.append(f"  guards: {chain(settings.guards)}")
    for m in settings.models:
        if m.guards is not None:
            lines.append(f"  guards for {m.name}: {chain(m.guards)}")
    for c in settings.predict:
        if c.guards:
            lines.append(f"  guards for {c.name}: {chain(c.guards)}")
    return lines


def _announcing_server() -> type:
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        """A uvicorn server that reports its bound port once it listens (uvicorn only logs it, at info)."""

        on_ready: Callable[[int], None] | None = None

        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if self.started and self.on_ready is not None and self.servers:
                self.on_ready(int(self.servers[0].sockets[0].getsockname()[1]))

    return AnnouncingServer
