"""The admin API: login (password + TOTP), keys, guards, policies, the request audit."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bastion.gateway._auth.apikeys import KeyError_
from bastion.gateway._auth.principal import AuthError
from bastion.gateway._context import ApiError, Gateway, read_json
from bastion.gateway._routes.schemas import ERRORS, body_schema

router = APIRouter(prefix="/admin", tags=["admin"])


def _gw(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


@router.post(
    "/login",
    responses=ERRORS,
    openapi_extra=body_schema("LoginRequest"),
    summary="Administrator login: password and TOTP code; returns a short session token",
)
async def login(request: Request) -> JSONResponse:
    gw = _gw(request)
    ip = gw.client_ip(request)
    from bastion.gateway._limits import MINUTE, Check

    throttle = await gw.limiter.consume([Check(f"authfail:{ip}", 0, gw.settings.auth_failures_per_minute - 1, MINUTE)])
    if not throttle.allowed:
        raise ApiError(
            429,
            "too many failed authentication attempts",
            "rate_limit_error",
            {"Retry-After": str(throttle.retry_after)},
        )
    body = await read_json(request, gw)
    user, pw, code = body.get("username"), body.get("password"), body.get("totp")
    if not (isinstance(user, str) and isinstance(pw, str) and isinstance(code, str)) or not all(
        0 < len(v) <= 1024 for v in (user, pw, code)
    ):
        raise ApiError(400, "username, password and totp are required strings")
    gw.note(request, caller=f"admin:{str(user)[:128]}")
    try:
        token = await asyncio.get_running_loop().run_in_executor(
            gw.executor, functools.partial(gw.admins.login, user, pw, code)
        )
    except AuthError as exc:
        await gw.limiter.add([Check(f"authfail:{ip}", 1, 0, MINUTE)])
        gw.note(request, decision="unauthenticated")
        raise ApiError(exc.status, exc.reason, "authentication_error") from None
    gw.note(request, decision="allowed")
    return JSONResponse({"token": token, "token_type": "bearer", "expires_in": gw.settings.admin.session_ttl_s})


def _tenant_arg(request: Request, who: Any) -> str:
    tenant = request.query_params.get("tenant") or who.tenant
    return str(tenant)


@router.get("/keys", responses=ERRORS, summary="List API keys of a tenant (hashes never leave the store)")
async def list_keys(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    tenant = _tenant_arg(request, who)
    gw.authorize(request, who, "admin:keys", "read", tenant)
    gw.note(request, decision="allowed")
    return JSONResponse({"data": [k.to_dict() for k in gw.keys.list(tenant)]})


@router.post(
    "/keys",
    responses=ERRORS,
    openapi_extra=body_schema("KeyCreateRequest"),
    summary="Issue an API key",
    status_code=201,
)
async def create_key(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    body = await read_json(request, gw)
    tenant = body.get("tenant")
    if not isinstance(tenant, str):
        raise ApiError(400, "'tenant' is required")
    gw.authorize(request, who, "admin:keys", "write", tenant)
    roles, scopes, models = body.get("roles"), body.get("scopes", ["llm", "predict", "embeddings"]), body.get("models")
    expires = body.get("expires_in_s")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ApiError(400, "'roles' must be a list of strings")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ApiError(400, "'scopes' must be a list of strings")
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
        raise ApiError(400, "'models' must be a list of strings")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool) or not 0 < expires < 10**9):
        raise ApiError(400, "'expires_in_s' must be a positive integer")
    if "admin" in roles and "admin" not in who.roles:
        raise ApiError(403, "only administrators can issue administrator keys", "permission_error")
    name = body.get("name")
    try:
        plain, rec = gw.keys.create(
            tenant=tenant,
            name=str(name or "")[:200],
            roles=roles,
            scopes=scopes,
            models=models,
            expires_in=timedelta(seconds=expires) if expires else None,
            actor=who.actor,
        )
    except KeyError_ as exc:
        raise ApiError(400, str(exc)) from None
    gw.note(request, decision="allowed", key=rec.id)
    return JSONResponse({"key": plain, **rec.to_dict()}, status_code=201)


def _owned(gw: Gateway, request: Request, who: Any, key_id: str, act: str) -> None:
    rec = gw.keys.get(key_id)
    if rec is None:
        raise ApiError(404, "key not found", "not_found_error")
    if rec.tenant != who.tenant and "admin" not in who.roles:
        raise ApiError(404, "key not found", "not_found_error")
    gw.authorize(request, who, "admin:keys", act, rec.tenant)


@router.post("/keys/{key_id}/revoke", responses=ERRORS, summary="Revoke an API key")
async def revoke_key(key_id: str, request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    _owned(gw, request, who, key_id, "revoke")
    rec = gw.keys.revoke(key_id, actor=who.actor)
    gw.note(request, decision="allowed", key=key_id)
    return JSONResponse(rec.to_dict())


@router.post(
    "/keys/{key_id}/rotate",
    responses=ERRORS,
    openapi_extra=body_schema("RotateRequest"),
    summary="Rotate an API key with an overlap window",
)
async def rotate_key(key_id: str, request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    _owned(gw, request, who, key_id, "write")
    body = await read_json(request, gw)
    overlap = body.get("overlap_s", 3600)
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= 30 * 86_400:
        raise ApiError(400, "'overlap_s' must be an integer between 0 and 2592000")
    try:
        plain, rec = gw.keys.rotate(key_id, overlap=timedelta(seconds=overlap), actor=who.actor)
    except KeyError_ as exc:
        raise ApiError(400, str(exc)) from None
    gw.note(request, decision="allowed", key=rec.id)
    return JSONResponse({"key": plain, **rec.to_dict()})


@router.get("/guards", responses=ERRORS, summary="The guard chains per route/model")
async def guards(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    gw.authorize(request, who, "admin:guards", "read", who.tenant)
    gw.note(request, decision="allowed")
    return JSONResponse({name: chain.describe() for name, chain in gw.chains.items()})


@router.get("/policies", responses=ERRORS, summary="The authorization policy")
async def policies(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    gw.authorize(request, who, "admin:policies", "read", who.tenant)
    gw.note(request, decision="allowed")
    return JSONResponse({"policy": gw.authz.policy_lines()})


@router.get("/audit", responses=ERRORS, summary="Recent gateway request events of the caller's tenant")
async def audit(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    gw.authorize(request, who, "audit", "read", who.tenant)
    gw.note(request, decision="allowed")
    from bastion.gateway._audit import request_log

    tenant = None if "admin" in who.roles else who.tenant
    rows = await asyncio.get_running_loop().run_in_executor(
        gw.executor, functools.partial(request_log, gw.store, gw.settings.project, limit=100, tenant=tenant)
    )
    return JSONResponse({"data": rows})
