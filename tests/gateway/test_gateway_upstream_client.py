"""The gateway's own HTTP/1.1 upstream client, against raw sockets that misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from gw_helpers import auth, base_settings, issue

from bastion.core.store import Store
from bastion.gateway import _upstream as up
from bastion.gateway import create_app

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b'{"ok":true}'


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


async def _server(handler: Handler) -> tuple[asyncio.Server, str, dict[str, int]]:
    stats = {"connections": 0}

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats["connections"] += 1
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:  # the test's loop is ending: nothing left to close
            return
        writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/x", stats


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _keepalive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        _, body = await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()


def test_keep_alive_reuses_one_connection() -> None:
    async def main() -> None:
        server, url, stats = await _server(_keepalive)
        pool = up.Http11Pool()
        for i in range(5):
            r = await pool.request("POST", url, b"n%d" % i, {"content-type": "application/json"}, 5)
            assert (r.status, r.body) == (200, b"n%d" % i)
        assert stats["connections"] == 1
        await pool.aclose()
        server.close()

    _run(main())


def test_chunked_and_close_delimited_bodies() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n')
        await writer.drain()
        await asyncio.sleep(0.2)

    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + OK)
        await writer.drain()

    async def main() -> None:
        pool = up.Http11Pool()
        for handler, want in ((chunked, b'{"a":1}'), (close_delimited, OK)):
            server, url, _ = await _server(handler)
            r = await pool.request("POST", url, b"{}", {}, 5)
            assert r.body == want and r.json()
            server.close()
        await pool.aclose()

    _run(main())


def test_idle_closed_connection_is_retried_once_on_a_fresh_one() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n" + OK)
        await writer.drain()
        # then close without a `connection: close` header, as a server's keep-alive timeout does

    async def main() -> None:
        server, url, stats = await _server(one_then_close)
        pool = up.Http11Pool()
        assert (await pool.request("POST", url, b"{}", {}, 5)).status == 200
        await asyncio.sleep(0.1)
        assert (await pool.request("POST", url, b"{}", {}, 5)).status == 200
        assert stats["connections"] == 2
        await pool.aclose()
        server.close()

    _run(main())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n" + OK, up.UpstreamError),  # truncated body
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", up.UpstreamError),  # not HTTP at all
        (b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n", up.UpstreamError),  # malformed head
        (None, up.UpstreamTimeout),  # never answers
    ],
)
def test_broken_upstreams_raise(reply: bytes | None, error: type[Exception]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        if reply is None:
            await asyncio.sleep(5)
            return
        writer.write(reply)
        await writer.drain()

    async def main() -> None:
        server, url, _ = await _server(handler)
        pool = up.Http11Pool()
        with pytest.raises(error):
            await pool.request("POST", url, b"{}", {}, 0.5)
        await pool.aclose()
        server.close()

    _run(main())


def test_refused_connection_oversized_answer_and_header_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()

    async def main() -> None:
        pool = up.Http11Pool()
        server, url, _ = await _server(big)
        server.close()
        await server.wait_closed()
        with pytest.raises(up.UpstreamError):
            await pool.request("POST", url, b"{}", {}, 2)
        server, url, _ = await _server(big)
        monkeypatch.setattr(up, "MAX_RESPONSE_BYTES", 1000)
        with pytest.raises(up.UpstreamError):
            await pool.request("POST", url, b"{}", {}, 2)
        with pytest.raises(up.UpstreamError):
            await pool.request("POST", url, b"{}", {"authorization": "Bearer x\r\nX-Evil: 1"}, 2)
        with pytest.raises(up.UpstreamError):
            await pool.request("POST", "ftp://127.0.0.1/x", b"{}", {}, 2)
        await pool.aclose()
        server.close()

    _run(main())


def test_stream_lines_across_chunk_boundaries() -> None:
    async def sse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b'data: {"a":', b"1}\r\n\r\nda", "ta: é".encode()[:-1], "é".encode()[-1:] + b"\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        server, url, _ = await _server(sse)
        pool = up.Http11Pool()
        stream = await pool.stream("POST", url, b"{}", {}, 5)
        lines = [line async for line in stream.lines()]
        await stream.aclose()
        assert [x for x in lines if x] == ['data: {"a":1}', "data: é"]
        await pool.aclose()
        server.close()

    _run(main())


def test_gateway_maps_upstream_failures_to_502_and_504(sqlite_store: Store) -> None:
    from fastapi.testclient import TestClient

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(3)

    import socket
    import threading

    loop = asyncio.new_event_loop()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server, url, _ = loop.run_until_complete(_server(slow))
        holder["url"] = url.rsplit("/v1", 1)[0] + "/v1"
        loop.run_forever()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while "url" not in holder:
        pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    settings = base_settings(
        dead,
        models=[
            {"name": "dead", "upstream": dead},
            {"name": "slow", "upstream": holder["url"], "timeout": 0.3},
        ],
    )
    key = issue(sqlite_store, "acme", "application")
    with TestClient(create_app(settings, sqlite_store), raise_server_exceptions=False) as client:
        body = {"messages": [{"role": "user", "content": "hi"}]}
        r = client.post("/v1/chat/completions", json={"model": "dead", **body}, headers=auth(key))
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
        r = client.post("/v1/chat/completions", json={"model": "slow", **body}, headers=auth(key))
        assert r.status_code == 504
        r = client.post("/v1/chat/completions", json={"model": "slow", "stream": True, **body}, headers=auth(key))
        assert r.status_code == 504
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


def test_stream_abandoned_after_back_pressure_leaves_a_usable_connection() -> None:
    async def many(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for _ in range(200):  # far more chunks than the reader buffers before pausing
                writer.write(b"6\r\ndata:\n\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def main() -> None:
        server, url, stats = await _server(many)
        pool = up.Http11Pool()
        stream = await pool.stream("POST", url, b"{}", {}, 5)
        await asyncio.sleep(0.2)  # the whole answer arrives; reading pauses; the consumer reads nothing
        await stream.aclose()
        again = await pool.stream("POST", url, b"{}", {}, 2)
        assert len([line async for line in again.lines() if line]) == 200
        await again.aclose()
        assert stats["connections"] == 1
        await pool.aclose()
        server.close()

    _run(main())
