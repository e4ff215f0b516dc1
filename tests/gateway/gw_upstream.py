"""A small OpenAI-compatible upstream for the gateway tests (and the benchmark).

It echoes the last user message, so tests can see exactly what the gateway
forwarded; it streams in 3-character deltas, so placeholders get split across
SSE chunks; a prompt containing ``LEAK`` makes it answer with an e-mail
address the caller never sent (an output leak for the output guard to catch).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

SEEN: list[dict[str, Any]] = []
SEEN_HEADERS: list[dict[str, str]] = []
LEAKED = "leaked.person@example-bank.com"


def _last_user(messages: list[dict[str, Any]]) -> str:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            c = msg.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def _answer(prompt: str) -> str:
    if "LEAK" in prompt:
        return f"The customer is {LEAKED}. You said: {prompt}"
    return f"You said: {prompt}"


def make_upstream(record: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "test"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        if record:
            SEEN.append(body)
            SEEN_HEADERS.append(dict(request.headers))
        text = _answer(_last_user(body.get("messages", [])))
        base = {"id": "chatcmpl-1", "created": int(time.time()), "model": body.get("model", "echo")}
        if body.get("stream"):

            async def gen() -> AsyncIterator[bytes]:
                for i in range(0, len(text), 3):
                    chunk = {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": {"content": text[i : i + 3]}, "finish_reason": None}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                end = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                yield f"data: {json.dumps(end)}\n\n".encode()
                yield b"data: [DONE]\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")
        return JSONResponse(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": len(text) // 4,
                    "completion_tokens": len(text) // 4,
                    "total_tokens": len(text) // 2,
                },
            }
        )

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        if record:
            SEEN.append(body)
        prompt = body.get("prompt")
        text = _answer(prompt if isinstance(prompt, str) else " ".join(prompt))
        return JSONResponse(
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        if record:
            SEEN.append(body)
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, item in enumerate(items):
            digest = hashlib.sha256(str(item).encode()).digest()
            data.append({"object": "embedding", "index": i, "embedding": [b / 255 for b in digest[:8]]})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"scores": [sum(r) for r in body["inputs"]]})

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, port: int | None = None, **kwargs: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a loopback port; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **kwargs)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":  # the benchmark runs it as its own process
    import sys

    uvicorn.run(
        make_upstream(record=False), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False
    )
