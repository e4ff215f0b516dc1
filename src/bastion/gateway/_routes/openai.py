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
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bastion.core.plugins import GuardInput
from bastion.gateway._context import ApiError, Gateway, estimate_tokens, read_json
from bastion.gateway._guards.chain import ChainResult, GuardChain
from bastion.gateway._guards.pii import StreamRestorer, restore
from bastion.gateway._routes.schemas import ERRORS, body_schema
from bastion.gateway._settings import LLMModel


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


def _record(gw: Gateway, request: Request, result: ChainResult) -> None:
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})
    outs = audit.setdefault("guards", [])
    for o in result.outcomes:
        outs.append(o.to_dict())
        gw.metrics.guard_effects.labels(o.guard, o.direction, o.effect).inc()
        gw.metrics.guard_latency.labels(o.guard).observe(o.ms / 1000)


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
    item = GuardInput(
        direction=direction,
        text=text,
        route=request.url.path,
        model=model,
        tenant=who.tenant,
        client_id=who.actor,
        source=source,
        system_prompt=system_prompt,
    )
    result = await chain.run(item, vault)
    _record(gw, request, result)
    if not result.allowed:
        gw.note(request, decision="blocked", blocked_by=result.blocked_by)
        raise ApiError(
            400,
            f"request blocked by guard {result.blocked_by!r}"
            if direction == "input"
            else f"response withheld by guard {result.blocked_by!r}",
            "guard_blocked",
        )
    return result.text if result.text is not None else text


async def _guard_messages(
    gw: Gateway,
    request: Request,
    chain: GuardChain,
    body: dict[str, Any],
    who: Any,
    model: LLMModel,
    vault: dict[str, str],
) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > 4096:
        raise ApiError(400, "'messages' must be a non-empty list")
    chars = 0
    for msg in messages:
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ApiError(400, "each message must be an object with a 'role'")
        source = "tool" if msg["role"] in ("tool", "function") else "user"
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
            if chain.has("input"):
                msg["content"] = await _guard_text(
                    gw, request, chain, "input", content, who, model.name, vault, source, model.system_prompt
                )
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    chars += len(part["text"])
                    if chain.has("input"):
                        part["text"] = await _guard_text(
                            gw,
                            request,
                            chain,
                            "input",
                            part["text"],
                            who,
                            model.name,
                            vault,
                            source,
                            model.system_prompt,
                        )
        elif content is not None:
            raise ApiError(400, "message 'content' must be a string, a list of parts or null")
    return chars


def _upstream_headers(model: LLMModel) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if model.api_key_env:
        key = os.environ.get(model.api_key_env, "")
        if key:
            headers["authorization"] = f"Bearer {key}"
    return headers


async def _post(gw: Gateway, model: LLMModel, path: str, body: dict[str, Any]) -> httpx.Response:
    if model.upstream_model:
        body["model"] = model.upstream_model
    t0 = time.perf_counter()
    try:
        resp = await gw.http.post(
            f"{model.upstream}{path}", json=body, headers=_upstream_headers(model), timeout=model.timeout
        )
    except httpx.TimeoutException:
        raise ApiError(504, "upstream timed out", "upstream_error") from None
    except httpx.HTTPError:
        raise ApiError(502, "upstream unavailable", "upstream_error") from None
    gw.metrics.upstream_latency.labels(model.name).observe(time.perf_counter() - t0)
    return resp


def _upstream_json(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code >= 400:
        status = resp.status_code if resp.status_code in (400, 404, 408, 413, 422, 429) else 502
        raise ApiError(status, f"upstream answered {resp.status_code}", "upstream_error")
    try:
        data = resp.json()
    except ValueError:
        raise ApiError(502, "upstream sent invalid JSON", "upstream_error") from None
    if not isinstance(data, dict):
        raise ApiError(502, "upstream sent an unexpected body", "upstream_error")
    return data


async def _finish(gw: Gateway, request: Request, who: Any, data: dict[str, Any]) -> None:
    usage = data.get("usage")
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(completion, int):
            gw.metrics.tokens.labels("completion").inc(completion)
            await gw.charge_tokens(who, completion)
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
    who = await gw.authenticate(request)
    body = await read_json(request, gw)
    model = _model(gw, request, body)
    _check_access(gw, request, who, model, "invoke", "llm")
    chain = gw.chain_for(f"llm:{model.name}")
    vault: dict[str, str] = {}
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be a boolean")
    if chat:
        chars = await _guard_messages(gw, request, chain, body, who, model, vault)
    else:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise ApiError(400, "'prompt' must be a string or a list of strings")
        chars = sum(len(p) for p in prompts)
        if chain.has("input"):
            prompts = [await _guard_text(gw, request, chain, "input", p, who, model.name, vault) for p in prompts]
        body["prompt"] = prompts[0] if isinstance(prompt, str) else prompts
    await gw.enforce_limits(request, who, estimate_tokens("x" * chars))
    gw.note(request, decision="allowed", stream=stream)
    if stream:
        return await _stream(gw, request, who, model, path, body, chain, vault, chat)
    data = _upstream_json(await _post(gw, model, path, body))
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
    await _finish(gw, request, who, data)
    return JSONResponse(data)


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
) -> Response:
    if model.upstream_model:
        body["model"] = model.upstream_model
    req = gw.http.build_request(
        "POST", f"{model.upstream}{path}", json=body, headers=_upstream_headers(model), timeout=model.timeout
    )
    try:
        resp = await gw.http.send(req, stream=True)
    except httpx.HTTPError:
        raise ApiError(502, "upstream unavailable", "upstream_error") from None
    if resp.status_code >= 400:
        await resp.aclose()
        raise ApiError(
            502 if resp.status_code >= 500 else resp.status_code,
            f"upstream answered {resp.status_code}",
            "upstream_error",
        )
    restorers: dict[int, StreamRestorer] = {}
    pieces: dict[int, list[str]] = {}
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})

    def field_of(choice: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        return (choice.get("delta"), "content") if chat else (choice, "text")

    async def events() -> AsyncIterator[bytes]:
        last: dict[str, Any] | None = None
        try:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(chunk, dict):
                    continue
                last = chunk
                for choice in chunk.get("choices") or []:
                    if not isinstance(choice, dict):
                        continue
                    holder, key = field_of(choice)
                    if isinstance(holder, dict) and isinstance(holder.get(key), str):
                        idx = int(choice.get("index", 0) or 0)
                        r = restorers.setdefault(idx, StreamRestorer(vault))
                        pieces.setdefault(idx, []).append(holder[key])
                        holder[key] = r.feed(holder[key])
                    if choice.get("finish_reason") is not None:
                        idx = int(choice.get("index", 0) or 0)
                        tail = restorers[idx].flush() if idx in restorers else ""
                        if tail and isinstance(holder, dict):
                            holder[key] = (holder.get(key) or "") + tail
                if isinstance(chunk.get("usage"), dict):
                    await _finish(gw, request, who, chunk)
                yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
            leftovers = {i: r.flush() for i, r in restorers.items()}
            if any(leftovers.values()) and last is not None:
                for idx, tail in leftovers.items():
                    if tail:
                        extra = {
                            **last,
                            "choices": [
                                {
                                    "index": idx,
                                    "delta" if chat else "text": {"content": tail} if chat else tail,
                                    "finish_reason": None,
                                }
                            ],
                        }
                        yield f"data: {json.dumps(extra, separators=(',', ':'))}\n\n".encode()
            if chain.has("output"):  # streamed text is already out: output guards record, they cannot recall
                for parts in pieces.values():
                    item = GuardInput(
                        direction="output",
                        text="".join(parts),
                        route=request.url.path,
                        model=model.name,
                        tenant=who.tenant,
                        client_id=who.actor,
                    )
                    result = await chain.run(item, dict(vault))
                    _record(gw, request, result)
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
    who = await gw.authenticate(request)
    body = await read_json(request, gw)
    model = _model(gw, request, body)
    _check_access(gw, request, who, model, "embed", "embeddings")
    chain = gw.chain_for(f"llm:{model.name}")
    raw = body.get("input")
    vault: dict[str, str] = {}
    if isinstance(raw, str):
        texts: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        texts = raw
    else:
        raise ApiError(400, "'input' must be a string or a non-empty list")
    chars = 0
    out: list[Any] = []
    for t in texts:
        if isinstance(t, str):
            chars += len(t)
            out.append(
                await _guard_text(gw, request, chain, "input", t, who, model.name, vault) if chain.has("input") else t
            )
        elif isinstance(t, int) or (isinstance(t, list) and all(isinstance(x, int) for x in t)):
            chars += 4 * (len(t) if isinstance(t, list) else 1)
            out.append(t)  # token ids: nothing a text guard can read
        else:
            raise ApiError(400, "'input' items must be strings or token lists")
    body["input"] = out[0] if isinstance(raw, str) else out
    await gw.enforce_limits(request, who, estimate_tokens("x" * chars))
    gw.note(request, decision="allowed")
    data = _upstream_json(await _post(gw, model, "/embeddings", body))
    await _finish(gw, request, who, data)
    return JSONResponse(data)
