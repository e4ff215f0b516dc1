"""Where alerts go: an HMAC-signed webhook, or syslog (RFC 5424 over UDP, TCP or a Unix socket).

Webhook bodies are signed like Stripe/GitHub do it: ``X-Bastion-Signature:
sha256=HEX(HMAC(secret, timestamp + "." + body))`` with ``X-Bastion-Timestamp``,
so a receiver can reject forged and replayed alerts (`verify_signature`). Alert
payloads carry ids, counts and scores only, never raw values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

SIGNATURE_HEADER = "X-Bastion-Signature"
TIMESTAMP_HEADER = "X-Bastion-Timestamp"


class AlertSink(Protocol):
    name: str

    def send(self, payload: Mapping[str, Any]) -> None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, body: bytes, headers: Mapping[str, str], *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """True when the signature matches and the timestamp is within `tolerance_s` (replay window)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ts = lowered.get(TIMESTAMP_HEADER.lower(), "")
    sig = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        age = abs((time.time() if now is None else now) - float(ts))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sig, sign(secret, ts, body))


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, secret: bytes | str, *, timeout: float = 5.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("webhook url must be http(s)")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self.url = url
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.timeout = timeout

    def send(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
        ts = str(int(time.time()))
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "bastion-alerts/1",
                TIMESTAMP_HEADER: ts,
                SIGNATURE_HEADER: sign(self.secret, ts, body),
            },
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            if resp.status >= 300:
                raise OSError(f"webhook answered HTTP {resp.status}")


_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}


class SyslogSink:
    """RFC 5424 messages; `address` is (host, port) for UDP/TCP or a path such as ``/dev/log``."""

    name = "syslog"

    def __init__(
        self, address: tuple[str, int] | str = ("127.0.0.1", 514), *, facility: int = 1, tcp: bool = False,
        app: str = "bastion", timeout: float = 2.0,
    ) -> None:  # fmt: skip
        self.address = address
        self.facility = facility
        self.tcp = tcp
        self.app = app
        self.timeout = timeout

    def format(self, payload: Mapping[str, Any]) -> bytes:
        pri = self.facility * 8 + _SEVERITY.get(str(payload.get("severity", "medium")), 4)
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        host = socket.gethostname()[:255] or "-"
        msg = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        msgid = str(payload.get("kind", "alert"))[:32].replace(" ", "_") or "-"
        return f"<{pri}>1 {ts} {host} {self.app} - {msgid} - {msg}".encode()

    def send(self, payload: Mapping[str, Any]) -> None:
        data = self.format(payload)
        if isinstance(self.address, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.address)
                s.send(data)
            return
        if self.tcp:
            with socket.create_connection(self.address, timeout=self.timeout) as s:
                s.sendall(f"{len(data)} ".encode() + data)  # RFC 6587 octet counting
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(self.timeout)
            s.sendto(data, self.address)
