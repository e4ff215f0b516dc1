"""The OpenAI-compatible API: applications switch to the gateway by changing their base URL.

Bodies are parsed by hand (size, time, UTF-8 and JSON checked in `read_json`)
and only the fields the guards must see are touched: everything else is passed
through to the upstream unchanged, so new OpenAI parameters keep working.
Client headers are never forwarded; the upstream sees only the gateway's own
credentials for it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bastion.gateway._context import ApiError, Gateway, read_json
from bastion.gateway._guards.chain import ChainResult, GuardChain
from bastion.gateway._guards.pii import StreamRestorer, restore
from bastion.gateway._guards.stream import StreamBlocked, WindowedOutput
from bastion.gateway._routes._guarding import guard_input, record, run_chain
from bastion.gateway._routes._validate import TOOL_ROLES, chat_request, completion_request, embeddings_request
from bastion.gateway._routes.schemas import ERRORS, body_schema
from bastion.gateway._settings import LLMModel
from bastion.gateway._upstream import UpstreamError, UpstreamResponse, UpstreamStream, UpstreamTimeout


def _gw(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _model(gw: Gateway, request: Request, body: dict[str, Any]) -> LLMModel:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'model' must be a non-empty string")
    model = gw.settings.llm(name)
    if model is None:
        raise ApiError(404, "model not found", "not_found_error")
    gw.note(request, model=name)
    return model


def _model_tenant(model: LLMModel, tenant: str) -> str | None:
    if model.tenants is None or tenant in model.tenants:
        return tenant
    return model.tenants[0] if model.tenants else "__none__"


def _check_access(gw: Gateway, request: Request, who: Any, model: LLMModel, act: str, scope: str) -> None:
    if _model_tenant(model, who.tenant) != who.tenant and "admin" not in who.roles:
        gw.note(request, decision="forbidden")
        raise ApiError(404, "model not found", "not_found_error")  # no cross-tenant model enumeration
    gw.authorize(request, who, f"model:{model.name}", act, _model_tenant(model, who.tenant), scope)


async def _guard_text(
    gw: Gateway,
    request: Request,
    chain: GuardChain,
    direction: str,
    text: str,
    who: Any,
    model: str,
    vault: dict[str, str],
    source: str = "user",
    system_prompt: str | None = None,
) -> str:
    item = guard_input(request, who, model, direction, text=text, source=source, system_prompt=system_prompt)
    result = await run_chain(gw, request, chain, item, vault)
    return result.text if result.text is not None else text


async def _guard_messages(
    gw: Gateway,
    request: Request,
    chain: GuardChain,
    body: dict[str, Any],
    who: Any,
    model: LLMModel,
    vault: dict[str, str],
) -> None:
    """Run the input chain on every text of the messages (already checked by `chat_request`)."""
    if not chain.has("input"):
        return
    for msg in body["messages"]:
        source = "tool" if msg["role"] in TOOL_ROLES else "user"
        content = msg.get("content")
        if isinstance(content, str):
            msg["content"] = await _guard_text(
                gw, request, chain, "input", content, who, model.name, vault, source, model.system_prompt
            )
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    part["text"] = await _guard_text(
                        gw, request, chain, "input", part["text"], who, model.name, vault, source, model.system_prompt
                    )


def _upstream_headers(model: LLMModel) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if model.api_key_env:
        key = os.environ.get(model.api_key_env, "")
        if key:
            headers["authorization"] = f"Bearer {key}"
    return headers


def _payload(model: LLMModel, body: dict[str, Any]) -> bytes:
    if model.upstream_model:
        body["model"] = model.upstream_model
    # The same encoding httpx used: compact, UTF-8, no NaN (read_json already refused those).
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def _post(gw: Gateway, model: LLMModel, path: str, body: dict[str, Any]) -> UpstreamResponse:
    payload = _payload(model, body)
    t0 = time.perf_counter()
    try:
        resp = await gw.http.request(
            "POST", f"{model.upstream}{path}", payload, _upstream_headers(model), model.timeout
        )
    except UpstreamTimeout:
        raise ApiError(504, "upstream timed out", "upstream_error") from None
    except UpstreamError:
        raise ApiError(502, "upstream unavailable", "upstream_error") from None
    gw.metrics.upstream(model.name).observe(time.perf_counter() - t0)
    return resp


def _upstream_json(resp: UpstreamResponse) -> dict[str, Any]:
    if resp.status >= 400:
        status = resp.status if resp.status in (400, 404, 408, 413, 422, 429) else 502
        raise ApiError(status, f"upstream answered {resp.status}", "upstream_error")
    try:
        data = resp.json()
    except (ValueError, RecursionError):
        raise ApiError(502, "upstream sent invalid JSON", "upstream_error") from None
    if not isinstance(data, dict):
        raise ApiError(502, "upstream sent an unexpected body", "upstream_error")
    return data


@dataclass(slots=True)
class Reservation:
    """Completion tokens counted against the limits before the call (max_tokens × n), and when."""

    tokens: int = 0
    at: float = 0.0
    settled: bool = False


async def _finish(gw: Gateway, request: Request, who: Any, data: dict[str, Any], held: Reservation) -> None:
    usage = data.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(completion, int) and not isinstance(completion, bool) and completion >= 0:
            gw.metrics.tokens.labels("completion").inc(completion)
            if not held.settled:
                held.settled = True
                await gw.settle_tokens(who, completion, held.tokens, held.at)
        if isinstance(prompt, int):
            gw.metrics.tokens.labels("prompt").inc(prompt)
        gw.note(request, tokens={"prompt": prompt, "completion": completion})


router = APIRouter()


@router.get("/v1/models", tags=["openai"], responses=ERRORS, summary="List models visible to the caller")
async def list_models(request: Request) -> JSONResponse:
    gw = _gw(request)
    who = await gw.authenticate(request)
    data = []
    for m in gw.settings.models:
        tenant = _model_tenant(m, who.tenant)
        if gw.authz.allowed(who, f"model:{m.name}", "invoke", tenant) and (
            tenant == who.tenant or "admin" in who.roles
        ):
            data.append({"id": m.name, "object": "model", "created": 0, "owned_by": "bastion"})
    gw.note(request, decision="allowed")
    return JSONResponse({"object": "list", "data": data})


@router.post(
    "/v1/chat/completions",
    tags=["openai"],
    responses=ERRORS,
    openapi_extra=body_schema("ChatCompletionRequest"),
    summary="Chat completion (stream or not)",
)
async def chat_completions(request: Request) -> Response:
    return await _completion(request, "/chat/completions", chat=True)


@router.post(
    "/v1/completions",
    tags=["openai"],
    responses=ERRORS,
    openapi_extra=body_schema("CompletionRequest"),
    summary="Text completion (stream or not)",
)
async def completions(request: Request) -> Response:
    return await _completion(request, "/completions", chat=False)


async def _completion(request: Request, path: str, *, chat: bool) -> Response:
    gw = _gw(request)
    gw.refuse_if_full(request)
    who = await gw.authenticate(request)
    body = await read_json(request, gw)  # before a slot is taken: slow uploads must not hold one
    model = _model(gw, request, body)
    _check_access(gw, request, who, model, "invoke", "llm")
    chain = gw.chain_for(f"llm:{model.name}")
    vault: dict[str, str] = {}
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be a boolean", param="stream")
    held = Reservation()
    async with gw.admitted(request):
        if chat:
            shape = chat_request(body, gw.settings)
            # Limits first: a request that cannot pass costs no guard time.
            await gw.enforce_limits(request, who, _tokens(shape.chars), shape.reserve)
            held.tokens, held.at = shape.reserve, time.time()
            await _guard_messages(gw, request, chain, body, who, model, vault)
        else:
            prompts, shape = completion_request(body, gw.settings)
            await gw.enforce_limits(request, who, _tokens(shape.chars), shape.reserve)
            held.tokens, held.at = shape.reserve, time.time()
            if chain.has("input"):
                prompts = [await _guard_text(gw, request, chain, "input", p, who, model.name, vault) for p in prompts]
            body["prompt"] = prompts[0] if isinstance(body.get("prompt"), str) else prompts
    gw.note(request, decision="allowed", stream=stream)
    try:
        if stream:
            return await _stream(gw, request, who, model, path, body, chain, vault, chat, held)
        data = _upstream_json(await _post(gw, model, path, body))
    except ApiError as exc:
        if exc.type == "upstream_error" and not held.settled:  # nothing was generated: give the reservation back
            held.settled = True
            await gw.settle_tokens(who, 0, held.tokens, held.at)
        raise
    choices = data.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            holder, field = (choice.get("message"), "content") if chat else (choice, "text")
            if isinstance(holder, dict) and isinstance(holder.get(field), str):
                text = holder[field]
                if chain.has("output"):
                    text = await _guard_text(gw, request, chain, "output", text, who, model.name, vault)
                holder[field] = restore(text, vault)
    await _finish(gw, request, who, data, held)
    return JSONResponse(data)


def _tokens(chars: int) -> int:
    """The prompt-token estimate of `estimate_tokens`, from a character count."""
    return max(1, chars // 4)


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


async def _stream(
    gw: Gateway,
    request: Request,
    who: Any,
    model: LLMModel,
    path: str,
    body: dict[str, Any],
    chain: GuardChain,
    vault: dict[str, str],
    chat: bool,
    held: Reservation,
) -> Response:
    payload = _payload(model, body)
    try:
        resp: UpstreamStream = await gw.http.stream(
            "POST", f"{model.upstream}{path}", payload, _upstream_headers(model), model.timeout
        )
    except UpstreamTimeout:
        raise ApiError(504, "upstream timed out", "upstream_error") from None
    except UpstreamError:
        raise ApiError(502, "upstream unavailable", "upstream_error") from None
    if resp.status >= 400:
        await resp.aclose()
        raise ApiError(
            502 if resp.status >= 500 else resp.status,
            f"upstream answered {resp.status}",
            "upstream_error",
        )
    s = gw.settings
    # Guards that can change or stop the answer see it before it leaves (held-back windows);
    # flag/shadow-only chains, or `stream_output_guard: record`, judge the assembled text afterwards.
    windowed = s.stream_output_guard == "window" and chain.can_intervene("output")
    restorers: dict[int, StreamRestorer] = {}
    windows: dict[int, WindowedOutput] = {}
    pieces: dict[int, list[str]] = {}
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})
    last_check: list[ChainResult] = []

    async def check(text: str) -> ChainResult:
        item = guard_input(request, who, model.name, "output", text=text)
        result = await chain.run(item, dict(vault))
        last_check[:] = [result]
        return result

    def window(idx: int) -> WindowedOutput:
        w = windows.get(idx)
        if w is None:
            w = windows[idx] = WindowedOutput(
                check,
                StreamRestorer(vault),
                window=s.stream_guard_window,
                holdback=s.stream_guard_holdback,
            )
        return w

    def field_of(choice: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        return (choice.get("delta"), "content") if chat else (choice, "text")

    async def text_out(idx: int, delta: str) -> str:
        if windowed:
            return await window(idx).feed(delta)
        pieces.setdefault(idx, []).append(delta)
        return restorers.setdefault(idx, StreamRestorer(vault)).feed(delta)

    async def end_of(idx: int) -> str:
        if windowed:
            return await window(idx).finish() if idx in windows else ""
        return restorers[idx].flush() if idx in restorers else ""

    def tail_event(last: dict[str, Any], idx: int, tail: str) -> bytes:
        choice: dict[str, Any] = {"index": idx, "finish_reason": None}
        if chat:
            choice["delta"] = {"content": tail}
        else:
            choice["text"] = tail
        return _sse({**last, "choices": [choice]})

    async def events() -> AsyncIterator[bytes]:
        last: dict[str, Any] | None = None
        finished: set[int] = set()
        try:
            try:
                async for line in resp.lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        continue
                    if not isinstance(chunk, dict):
                        continue
                    last = chunk
                    quiet = windowed and not isinstance(chunk.get("usage"), dict)
                    for choice in chunk.get("choices") or []:
                        if not isinstance(choice, dict):
                            continue
                        holder, key = field_of(choice)
                        idx = choice.get("index", 0)
                        idx = idx if isinstance(idx, int) and not isinstance(idx, bool) else 0
                        if isinstance(holder, dict) and isinstance(holder.get(key), str):
                            holder[key] = await text_out(idx, holder[key])
                        if choice.get("finish_reason") is not None:
                            tail = await end_of(idx)
                            finished.add(idx)
                            if tail and isinstance(holder, dict):
                                holder[key] = (holder.get(key) or "") + tail
                        if quiet and (
                            choice.get("finish_reason") is not None
                            or not isinstance(holder, dict)
                            or holder.get(key)
                            or any(k != key for k in holder)
                            or any(k not in ("index", "delta", "text", "finish_reason", "logprobs") for k in choice)
                        ):
                            quiet = False
                    if isinstance(chunk.get("usage"), dict):
                        await _finish(gw, request, who, chunk, held)
                    if quiet:  # only withheld text in it: nothing to send yet
                        continue
                    yield _sse(chunk)
                open_idx = set(windows if windowed else restorers) - finished
                for idx in sorted(open_idx):
                    tail = await end_of(idx)
                    if tail and last is not None:
                        yield tail_event(last, idx, tail)
            except StreamBlocked as exc:
                if last_check:
                    record(gw, request, last_check[0])
                audit["decision"] = "blocked_in_stream"
                audit["blocked_by"] = exc.guard
                audit["stream_checks"] = sum(w.checks for w in windows.values())
                yield _sse({"error": {"message": f"response withheld by guard {exc.guard!r}", "type": "guard_blocked"}})
                return
            except UpstreamError:
                audit["decision"] = "upstream_failed_in_stream"
                yield _sse({"error": {"message": "upstream stream failed", "type": "upstream_error"}})
                return
            if windowed:
                if last_check:
                    record(gw, request, last_check[0])
                audit["stream_checks"] = sum(w.checks for w in windows.values())
            elif chain.has("output"):  # flag/shadow only: judge the assembled text, for the record
                for parts in pieces.values():
                    result = await check("".join(parts))
                    record(gw, request, result)
                    if not result.allowed:
                        audit["decision"] = "flagged_after_stream"
            yield b"data: [DONE]\n\n"
        finally:
            await resp.aclose()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )


@router.post(
    "/v1/embeddings",
    tags=["openai"],
    responses=ERRORS,
    openapi_extra=body_schema("EmbeddingRequest"),
    summary="Embeddings",
)
async def embeddings(request: Request) -> Response:
    gw = _gw(request)
    gw.refuse_if_full(request)
    who = await gw.authenticate(request)
    body = await read_json(request, gw)
    model = _model(gw, request, body)
    _check_access(gw, request, who, model, "embed", "embeddings")
    chain = gw.chain_for(f"llm:{model.name}")
    vault: dict[str, str] = {}
    async with gw.admitted(request):
        items, chars = embeddings_request(body, gw.settings)  # count and size first: each item is a guard run
        await gw.enforce_limits(request, who, _tokens(chars))
        if chain.has("input"):
            out = [
                await _guard_text(gw, request, chain, "input", t, who, model.name, vault) if isinstance(t, str) else t
                for t in items
            ]
            body["input"] = out[0] if isinstance(body["input"], str) else out
    gw.note(request, decision="allowed")
    data = _upstream_json(await _post(gw, model, "/embeddings", body))
    await _finish(gw, request, who, data, Reservation())
    return JSONResponse(data)
