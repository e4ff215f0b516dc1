"""Liveness, readiness (store, Redis, audit backlog) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bastion.gateway._context import Gateway
from bastion.gateway._limits import RedisLimiter

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: store, shared limiter and audit writer",
    responses={503: {"description": "Not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    checks: dict[str, str] = {}
    try:
        await asyncio.get_running_loop().run_in_executor(gw.executor, gw.store.ping)
        checks["store"] = "ok"
    except Exception:
        checks["store"] = "unavailable"
    if isinstance(gw.limiter, RedisLimiter):
        try:
            await gw.limiter.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
    backlog = gw.audit.backlog
    checks["audit"] = "ok" if backlog < gw.settings.audit_queue else "backlogged"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    gw.metrics.audit_backlog.set(gw.audit.backlog)
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
