"""Connection-level hardening of the gateway's server protocol, with raw sockets.

- an early 413 (body not read) reaches a client that is still uploading, and the
  connection is then closed gracefully (half-close, bounded drain), not reset or kept;
- request heads have a deadline (slow-header clients get 408 and are disconnected);
- a 408 for a slow body closes the connection.

Timeouts are configured small (fractions of a second) so each test takes about a second;
socket timeouts below are generous upper bounds for a loaded machine, not budgets.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gw_helpers import auth, base_settings, issue
from gw_upstream import serve

from bastion.core.store import Store
from bastion.gateway import create_app
from bastion.gateway._server import server_options

CHAT = b'{"model": "echo", "messages": [{"role": "user", "content": "hello"}]}'


@pytest.fixture
def gw(sqlite_store: Store, upstream_url: str) -> Iterator[Any]:
    settings = base_settings(
        upstream_url,
        max_body_bytes=4096,
        header_timeout_s=0.5,
        body_timeout_s=0.5,
        drain_bytes=256 * 1024,
        drain_timeout_s=1.0,
    )
    app = create_app(settings, sqlite_store)
    key = issue(sqlite_store, "acme", "application")
    options = {**server_options(settings), "timeout_keep_alive": 60}  # only our own bounds may close
    with serve(app, **options) as url:
        yield int(url.rsplit(":", 1)[1]), key, url


def _head(key: str, extra: str) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _read_all(sock: socket.socket, limit_s: float = 10.0) -> tuple[bytes, str]:
    """Everything the server sends, and how it ended: "eof" (a graceful close), "reset", or "open".

    The server's keep-alive timeout is set far above `limit_s` (see the fixture), so a
    connection the server meant to keep shows as "open" here.
    """
    sock.settimeout(limit_s)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except TimeoutError:
        return data, "open"
    except ConnectionResetError:
        return data, "reset"


def _status(data: bytes) -> int:
    return int(data.split(b"\r\n", 1)[0].split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _still_serving(url: str, key: str) -> None:
    r = httpx.post(
        url + "/v1/chat/completions", content=CHAT, headers={**auth(key), "content-type": "application/json"}
    )
    assert r.status_code == 200


def test_early_413_reaches_an_uploading_client_then_the_connection_closes(gw: Any) -> None:
    port, key, url = gw
    total = 16 * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_head(key, f"Content-Length: {total}\r\n"))
    upload_error: list[BaseException] = []

    def upload() -> None:  # a client that keeps uploading while the answer comes back
        chunk = b"x" * 65536
        try:
            for _ in range(total // len(chunk)):
                sock.sendall(chunk)
        except OSError as exc:
            upload_error.append(exc)

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    data, closed = _read_all(sock)
    sender.join(10)
    sock.close()
    assert _status(data) == 413 and b"request body exceeds 4096 bytes" in data
    assert b"connection: close" in data.lower()
    assert closed == "eof"  # answered, then a graceful close: neither kept open for the upload nor reset
    assert upload_error  # the drain is bounded: the rest of the 16 MiB was refused
    _still_serving(url, key)


@pytest.mark.parametrize("chunked", [False, True])
def test_client_that_sends_everything_before_reading_sees_the_413(gw: Any, chunked: bool) -> None:
    port, key, url = gw
    body = b"y" * (128 * 1024)  # under the drain bound: read and discarded, then a clean close
    with socket.create_connection(("127.0.0.1", port)) as sock:
        if chunked:
            pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
            payload = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
            sock.sendall(_head(key, "Transfer-Encoding: chunked\r\n") + payload)
        else:
            sock.sendall(_head(key, f"Content-Length: {len(body)}\r\n") + body)
        data, closed = _read_all(sock)
    assert _status(data) == 413 and closed == "eof"
    _still_serving(url, key)


def test_slow_header_client_gets_408_and_is_disconnected(gw: Any) -> None:
    port, key, url = gw
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # keeps trickling: the deadline is for the whole head, not per byte
            time.sleep(0.1)
            sock.sendall(b"X")
        data, closed = _read_all(sock)
    assert _status(data) == 408 and b"header_timeout" in data and closed == "eof"
    _still_serving(url, key)


def test_silent_connection_is_closed_without_an_answer(gw: Any) -> None:
    port, _, _ = gw
    with socket.create_connection(("127.0.0.1", port)) as sock:
        data, closed = _read_all(sock)
    assert data == b"" and closed == "eof"


def test_slow_body_gets_408_and_the_connection_is_closed(gw: Any) -> None:
    port, key, url = gw
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(key, "Content-Length: 200\r\n") + b"{")
        data, closed = _read_all(sock)
    assert _status(data) == 408 and b"connection: close" in data.lower() and closed == "eof"
    _still_serving(url, key)


def test_keep_alive_requests_each_get_their_own_head_deadline(gw: Any) -> None:
    port, key, _ = gw
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        for _ in range(3):
            sock.sendall(_head(key, f"Content-Length: {len(CHAT)}\r\n") + CHAT)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert _status(head) == 200
            length = int(
                next(h for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")).split(b":")[1]
            )
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(65536)
            time.sleep(0.3)  # idle between requests, within keep-alive; the sum passes the head deadline


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello on the plain port
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_heads_are_answered_and_closed(gw: Any, raw: bytes) -> None:
    port, key, url = gw
    with socket.create_connection(("127.0.0.1", port)) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        data, closed = _read_all(sock)
    assert closed != "open" and (data == b"" or 400 <= _status(data) < 500)
    _still_serving(url, key)
