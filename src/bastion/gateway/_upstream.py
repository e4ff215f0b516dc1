"""The gateway's HTTP/1.1 client to its upstreams: a keep-alive pool on asyncio + httptools.

httpx/httpcore cost about a millisecond of CPU per proxied request (request and
header models, anyio streams, the pool's assignment scan, h11 in pure Python),
which was most of the gateway's own overhead. The upstream side of a gateway
needs far less: POST a JSON body to a fixed, configured origin over a reused
connection and read the answer (whole, or chunk by chunk for SSE). This client
does exactly that with the C parser uvicorn already uses (httptools), and keeps
the properties that matter:

- TLS with the platform's default verification (certificate chain and host
  name; TLS 1.2 minimum); no proxy variables, no redirects followed.
- A connect timeout, an overall timeout per request (`timeout`), a read
  timeout per chunk for streams, a pool wait timeout, and a response size cap.
- Keep-alive with an idle expiry shorter than common server keep-alive
  timeouts; a request that fails on a reused connection before a single
  response byte arrived (the server closed it while idle) is retried once on a
  fresh connection, as Go's net/http does. Any other failure closes the
  connection: a half-read connection never goes back into the pool.
- Header values are internal (content type, the gateway's own upstream key);
  CR/LF in them is refused rather than written.

`HttpxUpstream` offers the same interface over an httpx transport, for callers
that route upstream calls in-process (the demo, tests).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import httptools

if TYPE_CHECKING:
    import httpx

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
IDLE_EXPIRY_S = 4.0  # below uvicorn's 5 s keep-alive default, so we close first
CONNECT_TIMEOUT_S = 5.0
POOL_TIMEOUT_S = 30.0


class UpstreamError(Exception):
    """The upstream could not be reached or answered something that is not HTTP."""


class UpstreamTimeout(UpstreamError):
    """Connect, pool wait, response or chunk time limit passed."""


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class UpstreamStream(Protocol):
    status: int

    def lines(self) -> AsyncIterator[str]: ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamResponse: ...

    async def stream(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    target: bytes  # path + query, as sent on the request line
    host_header: bytes

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@lru_cache(maxsize=1024)
def _parse(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError("upstream URL must be http(s)://host[:port]/path")
    if parts.username or parts.password:
        raise UpstreamError("credentials in upstream URLs are not supported; use api_key_env")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(c in path for c in "\r\n \t"):
        raise UpstreamError("upstream URL contains whitespace")
    default = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return _Target(
        parts.scheme, host, port, path.encode("ascii"), (shown if default else f"{shown}:{port}").encode("ascii")
    )


def _head(method: str, t: _Target, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} ".encode("ascii") + t.target + b" HTTP/1.1", b"host: " + t.host_header]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise UpstreamError("refusing to send a header containing CR/LF")
        lines.append(f"{name}: {value}".encode("latin-1"))
    lines.append(b"content-length: " + str(length).encode("ascii"))
    lines.append(b"accept-encoding: identity")
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _Conn(asyncio.Protocol):
    """One upstream connection; serves one request at a time (no pipelining)."""

    def __init__(self, origin: tuple[str, str, int]) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._head: asyncio.Future[int] | None = None
        self._done: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._got_bytes = False
        self._complete = False
        self._streaming = False
        self._wakeup: asyncio.Future[None] | None = None
        self._paused = False
        self._framed = False
        self._keep_alive = False
        self._error: BaseException | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._head is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self._fail(UpstreamError("unsolicited data from upstream"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamError("upstream sent a malformed HTTP response"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        head = self._head
        if head is not None and head.done() and not self._complete and not self._framed and self._error is None:
            self.on_message_complete()  # a response delimited by the connection's end (no length, not chunked)
            return
        if head is not None and not self._complete:
            self._fail(UpstreamError("upstream closed the connection" if self._got_bytes else "idle-closed"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_result(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self._error is not None:
            return
        self._size += len(body)
        if self._size > MAX_RESPONSE_BYTES:
            self._fail(UpstreamError("upstream response too large"))
            return
        self._chunks.append(body)
        if self._streaming:
            if len(self._chunks) > 64 and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()  # llhttp forgets it once the message ends
        self._complete = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self._wake()

    # -- request side ----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        for fut in (self._head, self._done, self._wakeup):
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: a caller that already gave up must not log it
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, head: bytes, body: bytes, streaming: bool) -> None:
        assert self.transport is not None
        self._head = self._loop.create_future()
        self._done = self._loop.create_future()
        self._chunks.clear()
        self._size = 0
        self._got_bytes = False
        self._complete = False
        self._streaming = streaming
        self._framed = False
        self._keep_alive = False
        self._error = None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def status(self) -> int:
        assert self._head is not None
        return await self._head

    async def body(self) -> bytes:
        assert self._done is not None
        await self._done
        return b"".join(self._chunks)

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next body chunk, or None at the end of the response."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                if self._paused and len(self._chunks) < 16 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            self._wakeup = self._loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup
            except TimeoutError:
                raise UpstreamTimeout("upstream stream stalled") from None
            finally:
                self._wakeup = None

    def reusable(self) -> bool:
        return self._complete and not self.closed and self._error is None and self._keep_alive

    def finished(self) -> None:
        self._head = self._done = None
        self._chunks.clear()
        if self._paused and self.transport is not None:  # a consumer that stopped early left reading paused
            self._paused = False
            self.transport.resume_reading()
        self.idle_since = time.monotonic()
        self.reused = True


class _Stream:
    def __init__(self, pool: Http11Pool, conn: _Conn, status: int, timeout: float) -> None:
        self._pool = pool
        self._conn = conn
        self.status = status
        self._timeout = timeout
        self._closed = False

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._conn.next_chunk(self._timeout)
            if chunk is None:
                return
            yield chunk

    async def read(self) -> bytes:
        return b"".join([c async for c in self._chunks()])

    async def lines(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buf = ""
        async for chunk in self._chunks():
            buf += decoder.decode(chunk)
            if len(buf) > MAX_LINE_BYTES and "\n" not in buf:
                raise UpstreamError("upstream stream line too long")
            while True:
                cut = buf.find("\n")
                if cut < 0:
                    break
                line, buf = buf[:cut], buf[cut + 1 :]
                yield line.rstrip("\r")
        buf += decoder.decode(b"", final=True)
        if buf:
            yield buf.rstrip("\r")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool._release(self._conn)


class Http11Pool:
    """Keep-alive connections per origin, LIFO (the warmest first), bounded, with a wait queue."""

    def __init__(self, *, max_per_origin: int = 512, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_per_origin = max_per_origin
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._busy: dict[tuple[str, str, int], int] = {}
        self._waiters: dict[tuple[str, str, int], deque[asyncio.Future[None]]] = {}
        self._ssl = ssl_context
        self._closed = False

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context()
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            self._ssl = ctx
        return self._ssl

    async def _acquire(self, t: _Target, *, fresh: bool = False) -> _Conn:
        origin = t.origin
        idle = self._idle.setdefault(origin, [])
        now = time.monotonic()
        while idle and not fresh:
            conn = idle.pop()
            if conn.closed or now - conn.idle_since > IDLE_EXPIRY_S:
                conn.close()
                continue
            self._busy[origin] = self._busy.get(origin, 0) + 1
            return conn
        while self._busy.get(origin, 0) >= self.max_per_origin:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(origin, deque()).append(waiter)
            try:
                async with asyncio.timeout(POOL_TIMEOUT_S):
                    await waiter
            except TimeoutError:
                raise UpstreamTimeout("no upstream connection free in time") from None
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters[origin].remove(waiter)
            if idle and not fresh:
                return await self._acquire(t)
        self._busy[origin] = self._busy.get(origin, 0) + 1
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, conn = await loop.create_connection(
                    lambda: _Conn(origin),
                    t.host,
                    t.port,
                    ssl=self._tls() if t.scheme == "https" else None,
                    server_hostname=t.host if t.scheme == "https" else None,
                )
        except TimeoutError:
            self._busy[origin] -= 1
            self._notify(origin)
            raise UpstreamTimeout("upstream connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._busy[origin] -= 1
            self._notify(origin)
            raise UpstreamError(f"cannot connect to upstream ({type(exc).__name__})") from None
        except BaseException:
            self._busy[origin] -= 1
            self._notify(origin)
            raise
        return conn

    def _notify(self, origin: tuple[str, str, int]) -> None:
        waiters = self._waiters.get(origin)
        while waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _release(self, conn: _Conn) -> None:
        origin = conn.origin
        self._busy[origin] -= 1
        if conn.reusable() and not self._closed:
            conn.finished()
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        self._notify(origin)

    async def _start(self, method: str, url: str, body: bytes, headers: Mapping[str, str], streaming: bool) -> _Conn:
        """Send the request and wait for the response head; retry once if a reused connection was idle-closed."""
        t = _parse(url)
        head = _head(method, t, headers, len(body))
        fresh = False
        while True:
            conn = await self._acquire(t, fresh=fresh)
            try:
                if conn.closed:
                    raise UpstreamError("idle-closed")
                conn.send(head, body, streaming)
                await conn.status()
                return conn
            except UpstreamError as exc:
                reused = conn.reused
                conn.close()
                self._release(conn)
                if str(exc) == "idle-closed" and reused and not fresh:
                    fresh = True
                    continue
                raise UpstreamError("upstream closed the connection") if str(exc) == "idle-closed" else exc from None
            except BaseException:  # cancelled or timed out mid-request: the connection state is unknown
                conn.close()
                self._release(conn)
                raise

    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamResponse:
        try:
            async with asyncio.timeout(timeout):
                conn = await self._start(method, url, body, headers, streaming=False)
                try:
                    data = await conn.body()
                    status = conn._parser.get_status_code()
                finally:
                    self._release(conn)
        except TimeoutError:
            raise UpstreamTimeout("upstream timed out") from None
        return UpstreamResponse(status, data)

    async def stream(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamStream:
        try:
            async with asyncio.timeout(timeout):
                conn = await self._start(method, url, body, headers, streaming=True)
        except TimeoutError:
            raise UpstreamTimeout("upstream timed out") from None
        return _Stream(self, conn, conn._parser.get_status_code(), timeout)

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _HttpxStream:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code

    async def lines(self) -> AsyncIterator[str]:
        async for line in self._resp.aiter_lines():
            yield line

    async def read(self) -> bytes:
        return await self._resp.aread()

    async def aclose(self) -> None:
        await self._resp.aclose()


class HttpxUpstream:
    """The same interface over an httpx transport (in-process ASGI upstreams for the demo and tests)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)

    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamResponse:
        try:
            resp = await self._client.request(method, url, content=body, headers=dict(headers), timeout=timeout)
        except self._httpx.TimeoutException:
            raise UpstreamTimeout("upstream timed out") from None
        except self._httpx.HTTPError as exc:
            raise UpstreamError(type(exc).__name__) from None
        return UpstreamResponse(resp.status_code, resp.content)

    async def stream(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamStream:
        req = self._client.build_request(method, url, content=body, headers=dict(headers), timeout=timeout)
        try:
            resp = await self._client.send(req, stream=True)
        except self._httpx.TimeoutException:
            raise UpstreamTimeout("upstream timed out") from None
        except self._httpx.HTTPError as exc:
            raise UpstreamError(type(exc).__name__) from None
        return _HttpxStream(resp)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_upstream(transport: httpx.AsyncBaseTransport | None = None) -> Upstream:
    return HttpxUpstream(transport) if transport is not None else Http11Pool()
