"""The FastAPI application: routes, error shapes, and the middleware that audits every request."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bastion import __version__
from bastion.gateway._context import ApiError, Gateway
from bastion.gateway._routes import admin, health, openai, predict
from bastion.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    from bastion.core.store import Store

log = logging.getLogger("bastion.gateway")
UNAUDITED = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"})
MAX_HEADER_BYTES = 16 * 1024


def _error(status: int, message: str, type_: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": None}}, status_code=status, headers=headers
    )


def _api_error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class AuditMiddleware:
    """Pure ASGI (no body buffering, streaming intact): header limits, request id, one audit event each."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        size = sum(len(k) + len(v) for k, v in scope.get("headers", []))
        if size > MAX_HEADER_BYTES:
            await _error(431, "request headers too large", "invalid_request_error")(scope, receive, send)
            self._emit(scope, path, 431, 0.0, {"decision": "rejected", "reason": "headers_too_large"})
            return
        if path in UNAUDITED:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = os.urandom(8).hex()
        state = scope.setdefault("state", {})
        state["audit"] = {}
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ms = (time.perf_counter() - start) * 1000
            self._emit(scope, path, status, ms, dict(state.get("audit") or {}), rid)

    def _emit(self, scope: Scope, path: str, status: int, ms: float, info: dict[str, Any], rid: str = "") -> None:
        route = _route_name(path)
        count, latency = self.gw.metrics.request(route, status)
        count.inc()
        latency.observe(ms / 1000)
        caller = str(info.pop("caller", "anonymous"))
        data: dict[str, Any] = {
            "route": route,
            "method": str(scope.get("method", ""))[:10],
            "status": status,
            "latency_ms": round(ms, 2),
            "request_id": rid,
            "decision": info.pop("decision", "error" if status >= 500 else "rejected" if status >= 400 else "allowed"),
        }
        client = scope.get("client")
        if client:
            data["client"] = str(client[0])[:64]
        for k, v in info.items():
            data[k] = v
        method, decision = data["method"], data["decision"]  # the audit queue takes `data` over
        self.gw.audit.record(caller, route, data)
        if status >= 500 and decision != "overloaded":  # shedding load is expected: never a log flood
            log.warning("request %s %s -> %d", method, route, status)


def _route_name(path: str) -> str:
    if path.startswith("/v1/predict/"):
        return "/v1/predict/{model}"
    if path.startswith("/admin/keys/"):
        return "/admin/keys/{id}/" + path.rsplit("/", 1)[-1][:16]
    return path[:64] if path in _KNOWN else "other"


_KNOWN = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/admin/login",
        "/admin/keys",
        "/admin/guards",
        "/admin/policies",
        "/admin/audit",
    }
)


class _HotRoutes:
    """The proxied OpenAI routes without FastAPI's per-request machinery.

    These three endpoints take the raw `Request` and parse their bodies by hand
    (no dependencies, no validation model), so FastAPI's router, dependency
    solver, exception and exit-stack middlewares add cost and nothing else
    (about a fifth of the gateway's CPU per request). They are still declared
    on the FastAPI app, so the OpenAPI description, other methods (405) and
    every other route go the normal way; errors keep the same shapes.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.endpoints = {
            "/v1/chat/completions": openai.chat_completions,
            "/v1/completions": openai.completions,
            "/v1/embeddings": openai.embeddings,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints[scope["path"]]
        try:
            response = await endpoint(Request(scope, receive))
        except ApiError as exc:
            response = _api_error(exc)
        except Exception as exc:  # the same answer FastAPI's catch-all handler gives
            log.error("unexpected %s", type(exc).__name__)
            response = _error(500, "internal error", "server_error")
        await response(scope, receive, send)


class GatewayApp(FastAPI):
    """FastAPI, with the hot proxy routes dispatched straight to their handlers (see `_HotRoutes`)."""

    hot: ASGIApp | None = None
    hot_paths: frozenset[str] = frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.hot is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.hot_paths
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await self.hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def build_app(
    settings: GatewaySettings,
    store: Store,
    *,
    state_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    from bastion.gateway._routes.predict import load_classic

    gw = Gateway.build(settings, store, state_dir=state_dir, transport=transport)
    for cfg in settings.predict:
        runner = load_classic(cfg)
        if runner is not None:
            gw.classic[cfg.name] = runner

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.audit.start()
        try:
            yield
        finally:
            await gw.http.aclose()
            await gw.limiter.close()
            gw.audit.close()
            gw.executor.shutdown(wait=False, cancel_futures=True)

    app = GatewayApp(
        title="Bastion gateway",
        version=__version__,
        description="Guarded, authenticated, rate-limited and audited access to LLMs and classic models.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    gw.audit.start()  # also outside a lifespan (test clients without it): idempotent

    @app.exception_handler(ApiError)
    async def _on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _api_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid request parameters", "invalid_request_error")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", type(exc).__name__)
        return _error(500, "internal error", "server_error")

    app.include_router(openai.router)
    app.include_router(predict.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.add_middleware(AuditMiddleware, gateway=gw)
    hot = _HotRoutes(app)
    app.hot = AuditMiddleware(hot, gw)  # the same header limit and audit record as every other route
    app.hot_paths = frozenset(hot.endpoints)
    return app
