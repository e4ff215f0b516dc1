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
) -> None:
    """Run the gateway with uvicorn (HTTPS when a certificate and key are given) until stopped.

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
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "ssl_certfile": str(certfile) if certfile else None,
        "ssl_keyfile": str(keyfile) if keyfile else None,
        "log_level": log_level,
        "access_log": False,  # the audit log records every request; no prompt ever reaches a log line
        "server_header": False,
        "h11_max_incomplete_event_size": 16 * 1024,  # oversized request heads are refused by the server
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 10,
        "backlog": 2048,
    }
    settings = settings.model_copy(update={"workers": workers})  # the real count, whatever the file said
    if workers == 1:
        tune_process()
        uvicorn.run(create_app(settings, store), **options)
        return
    from bastion.gateway._worker import handoff

    handoff(settings, db_url or store.url, store.state_dir)
    store.close()  # each worker opens its own
    uvicorn.run("bastion.gateway._worker:app", factory=True, workers=workers, **options)
