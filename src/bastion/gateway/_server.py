"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol plus two connection-level guarantees.

1. **Request heads have a deadline** (`header_timeout_s`). Uvicorn times out idle
   keep-alive connections but not a request head that trickles in a byte at a time,
   so slow-header clients could hold connections (and file descriptors) for ever.
   A head not complete within the deadline gets `408` and the connection is closed.
2. **Early answers are not lost** (`drain_bytes`, `drain_timeout_s`). When the app
   answers before reading the whole body (413 for a declared size, 408 for a slow
   body, 415, ...) the connection must close (the rest of the body would otherwise be
   parsed as the next request), but closing a socket with unread data makes the kernel
   send a reset, and a client still uploading then sees `ECONNRESET` instead of the
   answer. So the gateway half-closes instead: it sends the answer and a FIN, reads and
   discards what the client still sends, up to `drain_bytes` or `drain_timeout_s`
   (whichever comes first, so a client cannot keep a connection by uploading for
   ever), and closes when the client stops (EOF) or a bound is reached (lingering
   close, as Apache and nginx do it).

Both are done here rather than in the ASGI app because the app never sees a request
whose head is incomplete, and cannot decide how its transport closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from bastion.gateway._settings import GatewaySettings

_TIMEOUT_BODY = json.dumps(
    {
        "error": {
            "message": "request head not received in time",
            "type": "invalid_request_error",
            "param": None,
            "code": "header_timeout",
        }
    }
).encode()
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


class _Transport:
    """The real transport, except that `close()` is the protocol's graceful close."""

    def __init__(self, real: asyncio.Transport, protocol: GatewayHttpProtocol) -> None:
        self._real = real
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._real.is_closing()

    def close(self) -> None:
        self._protocol.close_gracefully()


class GatewayHttpProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with a request-head deadline and lingering close (see the module)."""

    header_timeout_s: ClassVar[float] = 10.0
    drain_bytes: ClassVar[int] = 1024 * 1024
    drain_timeout_s: ClassVar[float] = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lingering = False
        self._raw: asyncio.Transport | None = None
        self._in_message = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drained = 0

    @classmethod
    def configure(cls, settings: GatewaySettings) -> None:
        cls.header_timeout_s = settings.header_timeout_s
        cls.drain_bytes = settings.drain_bytes
        cls.drain_timeout_s = settings.drain_timeout_s

    # -- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw = transport
        super().connection_made(_Transport(transport, self))  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:  # after an early answer: read and drop, within bounds
            self._drained += len(data)
            if self._drained > self.drain_bytes and self._raw is not None:
                self._raw.close()
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # False: close now (asyncio)
        if self.lingering:
            return False  # the client has stopped sending: asyncio closes the transport now
        super().eof_received()
        return None

    # -- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        if self._head_timer is None:  # a later request on a kept-alive connection: its own deadline
            self._arm_head_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    # -- closing ----------------------------------------------------------------------------

    def close_gracefully(self) -> None:
        """Close; if a request is still arriving, half-close and drain first (lingering close)."""
        raw = self._raw
        if raw is None or self.lingering or raw.is_closing():
            return
        self._cancel_head_timer()
        if not self._in_message or self.drain_bytes <= 0 or self.drain_timeout_s <= 0:
            raw.close()
            return
        self.lingering = True
        try:
            if raw.can_write_eof():  # TLS cannot half-close: the answer's length still tells the client
                raw.write_eof()  # after what is buffered: the answer goes out first
            raw.resume_reading()  # flow control may have paused it while the body piled up
        except (OSError, RuntimeError):
            raw.close()
            return
        self._drain_timer = self.loop.call_later(self.drain_timeout_s, raw.close)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        raw = self._raw
        if raw is None or raw.is_closing() or self.lingering:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being written: never interleave; close once it is done.
            self.cycle.keep_alive = False
            return
        if not self._in_message:  # nothing of a request arrived: close quietly, as for an idle keep-alive
            raw.close()
            return
        raw.write(_TIMEOUT_RESPONSE)
        self.close_gracefully()


def protocol_for(settings: GatewaySettings) -> type[GatewayHttpProtocol]:
    """A protocol class carrying these settings' limits (one class per app, so apps in one process differ)."""
    return type(
        "GatewayHttpProtocol",
        (GatewayHttpProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "drain_bytes": settings.drain_bytes,
            "drain_timeout_s": settings.drain_timeout_s,
        },
    )


# `bastion serve --workers N`: uvicorn imports the protocol by name in each worker, whose
# app factory (`_worker.app`) configures it from the settings handed over.
WORKER_PROTOCOL = "bastion.gateway._server:GatewayHttpProtocol"


def server_options(settings: GatewaySettings) -> dict[str, Any]:
    """Uvicorn options every gateway server uses (`bastion serve`, the tests, the benchmark)."""
    return {
        "http": protocol_for(settings),
        "access_log": False,  # the audit log records every request; no prompt ever reaches a log line
        "server_header": False,
        "h11_max_incomplete_event_size": 16 * 1024,  # (h11 only) oversized request heads refused by the server
        "timeout_keep_alive": 5,
    }
