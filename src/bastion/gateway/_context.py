"""Per-app state shared by the routes: settings, auth, limits, guards, audit, metrics, HTTP client."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import ClientDisconnect

from bastion.gateway._audit import RequestAudit
from bastion.gateway._auth.admin import AdminStore, load_secret
from bastion.gateway._auth.apikeys import KeyStore
from bastion.gateway._auth.oidc import OIDCVerifier
from bastion.gateway._auth.principal import AuthError, Principal
from bastion.gateway._guards.chain import GuardChain
from bastion.gateway._limits import MINUTE, Check, LocalLimiter, RedisLimiter, make_limiter
from bastion.gateway._rbac import Authorizer
from bastion.gateway._settings import GatewaySettings, GuardConfig

if TYPE_CHECKING:
    from bastion.core.store import Store


class ApiError(Exception):
    """An error answered in OpenAI's error shape; `message` never carries request content."""

    def __init__(
        self, status: int, message: str, type_: str = "invalid_request_error", headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.headers = headers or {}


class ShardedClient:
    """Several small httpx connection pools used round-robin.

    httpcore's pool scans every queued request against every connection on each
    assignment, which costs O(requests x connections) per request under load;
    eight pools of 16 connections cut that scan by about 64 times at the same
    total concurrency.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, shards: int = 8, per_shard: int = 16):
        self._clients = [
            httpx.AsyncClient(
                transport=transport,
                limits=httpx.Limits(
                    max_connections=per_shard, max_keepalive_connections=per_shard, keepalive_expiry=30
                ),
                timeout=httpx.Timeout(60.0, connect=5.0, pool=30.0),
                follow_redirects=False,
                trust_env=False,
            )
            for _ in range(1 if transport is not None else shards)
        ]
        self._next = 0

    def _pick(self) -> httpx.AsyncClient:
        self._next = (self._next + 1) % len(self._clients)
        return self._clients[self._next]

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self._pick().post(url, **kwargs)

    def build_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        return self._clients[0].build_request(method, url, **kwargs)

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        return await self._pick().send(request, stream=stream)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bastion_gateway_requests", "Requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "bastion_gateway_request_seconds",
            "Request latency",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.guard_effects = Counter(
            "bastion_gateway_guard_effects", "Guard outcomes", ["guard", "direction", "effect"], registry=r
        )
        self.guard_latency = Histogram(
            "bastion_gateway_guard_seconds",
            "Guard latency",
            ["guard"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )
        self.auth_failures = Counter("bastion_gateway_auth_failures", "Authentication failures", ["reason"], registry=r)
        self.limited = Counter("bastion_gateway_limited", "Requests refused by a limit", ["limit"], registry=r)
        self.tokens = Counter("bastion_gateway_tokens", "Tokens seen", ["kind"], registry=r)
        self.audit_backlog = Gauge("bastion_gateway_audit_backlog", "Audit events not yet written", registry=r)
        self.upstream_latency = Histogram("bastion_gateway_upstream_seconds", "Upstream latency", ["model"], registry=r)


@dataclass
class Gateway:
    settings: GatewaySettings
    store: Store
    state_dir: Path
    keys: KeyStore
    admins: AdminStore
    oidc: OIDCVerifier
    authz: Authorizer
    limiter: LocalLimiter | RedisLimiter
    audit: RequestAudit
    metrics: Metrics
    executor: ThreadPoolExecutor
    chains: dict[str, GuardChain]
    http: ShardedClient
    classic: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: GatewaySettings,
        store: Store,
        *,
        state_dir: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Gateway:
        state = Path(state_dir or store.state_dir)
        secret = load_secret(state)
        keys = KeyStore(store, settings.project, cache_s=settings.key_cache_s)
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bastion-guard")
        chains: dict[str, GuardChain] = {}

        def chain(configs: list[GuardConfig]) -> GuardChain:
            return GuardChain(configs, budget_ms=settings.guard_budget_ms, executor=executor)

        chains["default"] = chain(settings.guards)
        for m in settings.models:
            if m.guards is not None:
                chains[f"llm:{m.name}"] = chain(m.guards)
        for c in settings.predict:
            chains[f"predict:{c.name}"] = chain(c.guards or [])
        audit = RequestAudit(
            store,
            settings.project,
            max_queue=settings.audit_queue,
            spill=state / "gateway-audit-spill.jsonl",
            on_idle=keys.flush_last_used,
        )
        return cls(
            settings=settings,
            store=store,
            state_dir=state,
            keys=keys,
            admins=AdminStore(
                store,
                settings.project,
                secret,
                lockout_after=settings.admin.lockout_after,
                lockout_s=settings.admin.lockout_seconds,
                ttl_s=settings.admin.session_ttl_s,
            ),
            oidc=OIDCVerifier(settings.oidc),
            authz=Authorizer(),
            limiter=make_limiter(settings.redis_url, settings.redis_prefix),
            audit=audit,
            metrics=Metrics(),
            executor=executor,
            chains=chains,
            http=ShardedClient(transport),
        )

    def chain_for(self, key: str) -> GuardChain:
        return self.chains.get(key) or self.chains["default"]

    # -- request helpers ----------------------------------------------------------------------

    @staticmethod
    def note(request: Request, **values: Any) -> None:
        """Add value-free facts to this request's audit record."""
        request.scope.setdefault("state", {}).setdefault("audit", {}).update(values)

    def client_ip(self, request: Request) -> str:
        if self.settings.trust_forwarded_for:
            fwd = request.headers.get("x-forwarded-for", "")
            if fwd:
                return fwd.split(",")[0].strip()[:64]
        return request.client.host if request.client else "unknown"

    async def authenticate(self, request: Request) -> Principal:
        ip = self.client_ip(request)
        guard = Check(f"authfail:{ip}", 0, self.settings.auth_failures_per_minute - 1, MINUTE)
        decision = await self.limiter.consume([guard])
        if not decision.allowed:
            self.metrics.auth_failures.labels("throttled").inc()
            self.note(request, decision="throttled")
            raise ApiError(
                429,
                "too many failed authentication attempts",
                "rate_limit_error",
                {"Retry-After": str(decision.retry_after)},
            )
        header = request.headers.get("authorization", "")
        try:
            principal = await self._principal(header)
        except AuthError as exc:
            await self.limiter.add([Check(f"authfail:{ip}", 1, 0, MINUTE)])
            self.metrics.auth_failures.labels(exc.reason.split(":")[0][:40]).inc()
            self.note(request, decision="unauthenticated", reason=exc.reason)
            raise ApiError(
                exc.status,
                exc.reason,
                "authentication_error",
                {"WWW-Authenticate": 'Bearer realm="bastion"'} if exc.status == 401 else None,
            ) from None
        self.note(request, caller=principal.actor, tenant=principal.tenant)
        return principal

    async def _principal(self, header: str) -> Principal:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing bearer credentials")
        if token.startswith("bst_"):
            hit = self.keys.cached(token)
            if hit is False:  # not cached: the lookup touches the database, so off the event loop
                loop = asyncio.get_running_loop()
                record = await loop.run_in_executor(self.executor, self.keys.authenticate, token)
            else:
                record = hit
            if record is None:
                raise AuthError("invalid api key")
            return record.principal()
        if self.admins.is_session(token):
            return self.admins.verify_session(token)
        if self.oidc.enabled:
            return await asyncio.get_running_loop().run_in_executor(self.executor, self.oidc.verify, token)
        raise AuthError("invalid bearer credentials")

    def authorize(
        self, request: Request, who: Principal, obj: str, act: str, tenant: str | None = None, scope: str | None = None
    ) -> None:
        if scope is not None and scope not in who.scopes:
            self.note(request, decision="forbidden")
            raise ApiError(403, f"credentials lack the {scope!r} scope", "permission_error")
        if not self.authz.allowed(who, obj, act, tenant):
            self.note(request, decision="forbidden")
            raise ApiError(403, "not allowed", "permission_error")

    async def enforce_limits(self, request: Request, who: Principal, tokens: int) -> None:
        s = self.settings
        checks: list[Check] = []

        def add(prefix: str, limits: dict[str, Any]) -> None:
            rpm, tpm, tpd = (
                limits.get("requests_per_minute"),
                limits.get("tokens_per_minute"),
                limits.get("tokens_per_day"),
            )
            if rpm is not None:
                checks.append(Check(f"{prefix}:rpm", 1, int(rpm), MINUTE))
            if tpm is not None:
                checks.append(Check(f"{prefix}:tpm", tokens, int(tpm), MINUTE))
            if tpd is not None:
                checks.append(Check(f"{prefix}:tpd", tokens, int(tpd), 86_400))

        key_limits = s.key_limits.model_dump() | {k: v for k, v in who.limits.items() if v is not None}
        add(f"caller:{who.actor}", key_limits)
        tenant = s.tenant_limits.get(who.tenant)
        if tenant is not None:
            add(f"tenant:{who.tenant}", tenant.model_dump())
        if not checks:
            return
        decision = await self.limiter.consume(checks)
        if not decision.allowed:
            name = (decision.failed or "").rsplit(":", 1)[-1]
            self.metrics.limited.labels(name).inc()
            self.note(request, decision="rate_limited", limit=name)
            raise ApiError(
                429, f"limit exceeded ({name})", "rate_limit_error", {"Retry-After": str(decision.retry_after)}
            )

    async def charge_tokens(self, who: Principal, tokens: int) -> None:
        """Post-charge completion tokens (known only afterwards) to the token counters."""
        if tokens <= 0:
            return
        s = self.settings
        checks = []
        key_limits = s.key_limits.model_dump() | {k: v for k, v in who.limits.items() if v is not None}
        for prefix, lim in (
            (f"caller:{who.actor}", key_limits),
            (
                f"tenant:{who.tenant}",
                (s.tenant_limits.get(who.tenant) or s.key_limits).model_dump() if who.tenant in s.tenant_limits else {},
            ),
        ):
            if lim.get("tokens_per_minute") is not None:
                checks.append(Check(f"{prefix}:tpm", tokens, 0, MINUTE))
            if lim.get("tokens_per_day") is not None:
                checks.append(Check(f"{prefix}:tpd", tokens, 0, 86_400))
        await self.limiter.add(checks)


async def read_json(request: Request, gw: Gateway) -> dict[str, Any]:
    """The body as a JSON object: size-capped, time-capped, strict UTF-8; `ApiError` otherwise."""
    limit = gw.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length")
        if int(declared) > limit:
            raise ApiError(413, f"request body exceeds {limit} bytes")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", ""):
        raise ApiError(415, "content type must be application/json")
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + gw.settings.body_timeout_s

    async def consume() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body exceeds {limit} bytes")
            chunks.append(chunk)

    try:
        async with asyncio.timeout(max(0.001, deadline - time.monotonic())):  # no extra task per request
            await consume()
    except TimeoutError:
        raise ApiError(408, "request body not received in time") from None
    except ClientDisconnect:
        raise ApiError(400, "client disconnected before sending the body") from None
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so are NaN/Infinity here
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate (≈4 chars per token) used before the upstream reports usage."""
    return max(1, len(text) // 4)
