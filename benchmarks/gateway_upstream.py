"""A minimal OpenAI-compatible upstream for the gateway benchmark: a pure ASGI echo, as cheap as possible.

Run: python benchmarks/gateway_upstream.py PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    try:
        req = json.loads(body or b"{}")
        prompt = req.get("messages", [{}])[-1].get("content", "")
    except (ValueError, AttributeError, IndexError):
        prompt = ""
    out = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "echo",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"ok: {prompt[:64]}"}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": 16,
                "total_tokens": len(prompt) // 4 + 16,
            },
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": out})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
