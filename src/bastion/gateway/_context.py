"""Per-app state shared by the routes: settings, auth, limits, guards, audit, metrics, HTTP client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import ClientDisconnect

from bastion.gateway._admission import Admission, Overloaded
from bastion.gateway._audit import RequestAudit
from bastion.gateway._auth.admin import AdminStore, load_secret
from bastion.gateway._auth.apikeys import KeyStore
from bastion.gateway._auth.oidc import OIDCVerifier
from bastion.gateway._auth.principal import AuthError, Principal
from bastion.gateway._guards.chain import GuardChain
from bastion.gateway._limits import DAY, MINUTE, Check, LocalLimiter, RedisLimiter, make_limiter
from bastion.gateway._rbac import Authorizer
from bastion.gateway._settings import GatewaySettings, GuardConfig
from bastion.gateway._upstream import Upstream, make_upstream

if TYPE_CHECKING:
    import httpx

    from bastion.core.store import Store


class ApiError(Exception):
    """An error answered in OpenAI's error shape; `message` never carries request content.

    `param` names the offending request field and `code` a stable machine-readable
    reason, as OpenAI's own errors do (SDKs expose both on the raised exception).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.headers = headers or {}
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """OpenAI's error body: message, type, param, code."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# An early answer to a body that was not (fully) read: the connection cannot be reused (the
# rest of the body would be parsed as the next request), so it is closed, gracefully (see _server).
CLOSE = {"Connection": "close"}


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
        self._children: dict[tuple[str, ...], Any] = {}

    # `labels()` hashes and validates its arguments on every call; the hot path looks children up once.
    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > 10_000:  # label values are bounded, but never let this grow unchecked
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, route: str, status: int) -> tuple[Any, Any]:
        return self._child(self.requests, route, str(status)), self._child(self.latency, route)

    def upstream(self, model: str) -> Any:
        return self._child(self.upstream_latency, model)

    def guard(self, guard: str, direction: str, effect: str) -> tuple[Any, Any]:
        return self._child(self.guard_effects, guard, direction, effect), self._child(self.guard_latency, guard)


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
    http: Upstream
    admission: Admission
    classic: dict[str, Any] = field(default_factory=dict)
    _plans: dict[tuple[Any, ...], tuple[tuple[str, bool, int, int], ...]] = field(default_factory=dict)

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
        admission = Admission(settings.max_concurrent_requests, settings.max_queued_requests, settings.queue_timeout_s)
        chains: dict[str, GuardChain] = {}

        def chain(configs: list[GuardConfig]) -> GuardChain:
            return GuardChain(configs, budget_ms=settings.guard_budget_ms, executor=executor, pressure=admission.busy)

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
            http=make_upstream(transport),
            admission=admission,
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
        guard = Check(f"authfail:{ip}", 0, self._share(self.settings.auth_failures_per_minute) - 1, MINUTE)
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
                if record is not None and self.keys.refresh_due(token):  # one background re-read, ahead of expiry
                    fut = asyncio.get_running_loop().run_in_executor(self.executor, self.keys.refresh, token)
                    fut.add_done_callback(_quiet)
            if record is None:
                other = self.keys.foreign_project(token)
                if other is not None:
                    raise AuthError(
                        f"invalid api key: the key belongs to project {other!r}, this gateway serves project "
                        f"{self.keys.project!r} (issue keys with `bastion -p {self.keys.project} access create`, "
                        "or set `project:` in gateway.yaml)"
                    )
                raise AuthError("invalid api key")
            return self.keys.principal_of(record)
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

    def _plan(self, who: Principal) -> tuple[tuple[str, bool, int, int], ...]:
        """The counters a caller's request touches: (name, counts tokens, limit, window), cached per caller."""
        marker = (who.actor, who.tenant, tuple(sorted(who.limits.items())) if who.limits else ())
        plan = self._plans.get(marker)
        if plan is not None:
            return plan
        s = self.settings
        out: list[tuple[str, bool, int, int]] = []

        def add(prefix: str, limits: dict[str, Any]) -> None:
            rpm, tpm, tpd = (
                limits.get("requests_per_minute"),
                limits.get("tokens_per_minute"),
                limits.get("tokens_per_day"),
            )
            if rpm is not None:
                out.append((f"{prefix}:rpm", False, self._share(int(rpm)), MINUTE))
            if tpm is not None:
                out.append((f"{prefix}:tpm", True, self._share(int(tpm)), MINUTE))
            if tpd is not None:
                out.append((f"{prefix}:tpd", True, self._share(int(tpd)), DAY))

        add(f"caller:{who.actor}", s.key_limits.model_dump() | {k: v for k, v in who.limits.items() if v is not None})
        tenant = s.tenant_limits.get(who.tenant)
        if tenant is not None:
            add(f"tenant:{who.tenant}", tenant.model_dump())
        if len(self._plans) > 50_000:
            self._plans.clear()
        plan = self._plans[marker] = tuple(out)
        return plan

    def _share(self, limit: int) -> int:
        """This process's part of a limit: all of it when counters are shared (Redis) or alone."""
        n = self.settings.workers
        if n <= 1 or isinstance(self.limiter, RedisLimiter):
            return limit
        return max(1, limit // n) if limit > 0 else 0  # documented: approximate, per process

    def shed(self, request: Request, reason: str) -> ApiError:
        """The 503 an overloaded gateway answers (retryable, with Retry-After), noted for the audit record."""
        self.metrics.limited.labels("overload").inc()
        self.note(request, decision="overloaded", reason=reason)
        return ApiError(503, "gateway overloaded, retry later", "overloaded", {"Retry-After": "1"}, code="overloaded")

    def refuse_if_full(self, request: Request) -> None:
        """503 before any other work when neither a slot nor a queue place is free (see `Admission.full`)."""
        if self.admission.full():
            self.admission.refused += 1
            raise self.shed(request, "queue_full")

    @asynccontextmanager
    async def admitted(self, request: Request) -> AsyncIterator[None]:
        """Hold an admission slot for the guarded stage; 503 + Retry-After at once when overloaded."""
        try:
            await self.admission.acquire()
        except Overloaded as exc:
            raise self.shed(request, exc.reason) from None
        try:
            yield
        finally:
            self.admission.release()

    async def enforce_limits(self, request: Request, who: Principal, tokens: int, reserve: int = 0) -> None:
        """Count a request against its limits: prompt `tokens` plus `reserve` (max_tokens × n) up front.

        A request that could never pass (more tokens than a window allows, even when the
        window is empty) gets 413, or 400 when only the reservation makes it too big: a
        429 with Retry-After would have the client retry forever. The reservation is
        settled against the upstream's usage afterwards (`settle_tokens`).
        """
        plan = self._plan(who)
        if not plan:
            return
        total = tokens + reserve
        for name, tok, limit, _ in plan:
            if tok and total > limit:
                what = _LIMIT_NAMES.get(name.rsplit(":", 1)[-1], name)
                scope = "tenant" if name.startswith("tenant:") else "key"
                share = " (this worker's share)" if self.settings.workers > 1 and not self._shared() else ""
                self.metrics.limited.labels("too_large").inc()
                self.note(request, decision="too_large", limit=name.rsplit(":", 1)[-1])
                if tokens > limit:
                    raise ApiError(
                        413,
                        f"the prompt is about {tokens} tokens, more than the {scope}'s {what} limit{share} "
                        f"({limit}): it can never pass; shorten or split it",
                        code="tokens_exceed_limit",
                    )
                raise ApiError(
                    400,
                    f"the prompt (about {tokens} tokens) plus max_tokens × n ({reserve}) exceeds the {scope}'s "
                    f"{what} limit{share} ({limit}): lower max_tokens",
                    param="max_tokens",
                    code="tokens_exceed_limit",
                )
        checks = [Check(name, total if tok else 1, limit, window) for name, tok, limit, window in plan]
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
        checks = [Check(name, tokens, 0, window) for name, tok, _, window in self._plan(who) if tok]
        if checks:
            await self.limiter.add(checks)

    async def settle_tokens(self, who: Principal, completion: int, reserved: int, since: float) -> None:
        """Replace a `reserved` completion charge made at time `since` by the real `completion` count.

        More than reserved (an upstream ignoring max_tokens) is charged; less is given back,
        only to windows that are still the ones charged (never below zero), so a refund can
        never lend a new window tokens it did not spend.
        """
        if completion > reserved:
            await self.charge_tokens(who, completion - reserved)
        elif completion < reserved:
            checks = [Check(name, reserved - completion, 0, window) for name, tok, _, window in self._plan(who) if tok]
            if checks:
                await self.limiter.refund(checks, since)

    def _shared(self) -> bool:
        return isinstance(self.limiter, RedisLimiter)


_LIMIT_NAMES = {"tpm": "tokens_per_minute", "tpd": "tokens_per_day", "rpm": "requests_per_minute"}


def _quiet(fut: asyncio.Future[Any]) -> None:
    """A failed background refresh only means the next lookup after expiry reads the database itself."""
    if not fut.cancelled():
        fut.exception()


async def read_json(request: Request, gw: Gateway) -> dict[str, Any]:
    """The body as a JSON object: size-capped, time-capped, strict UTF-8; `ApiError` otherwise."""
    limit = gw.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length", headers=CLOSE)
        if int(declared) > limit:
            raise ApiError(413, f"request body exceeds {limit} bytes", headers=CLOSE)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", ""):
        raise ApiError(415, "content type must be application/json", headers=CLOSE)
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + gw.settings.body_timeout_s

    async def consume() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body exceeds {limit} bytes", headers=CLOSE)
            chunks.append(chunk)

    try:
        async with asyncio.timeout(max(0.001, deadline - time.monotonic())):  # no extra task per request
            await consume()
    except TimeoutError:
        raise ApiError(408, "request body not received in time", headers=CLOSE) from None
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
