"""The context every sniffer gets: the head in memory, bounded extra reads on demand."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core.types import Asset, AssetKind

MAX_EXTRA_READ = 16 * 1024 * 1024


class SniffError(ValueError):
    """The bytes claim a format but break it; becomes a problem tag, never a crash."""


@dataclass(slots=True)
class Ctx:
    uri: str
    path: Path | None
    size: int
    head: bytes
    depth: int = 0
    _tail: bytes | None = field(default=None, repr=False)

    @property
    def whole(self) -> bool:
        """True when `head` is the entire file."""
        return len(self.head) >= self.size

    def read(self, offset: int, length: int) -> bytes:
        """Bytes at `offset`, from the head when possible; bounded, never past EOF."""
        length = max(0, min(length, MAX_EXTRA_READ, self.size - offset))
        if offset + length <= len(self.head):
            return self.head[offset : offset + length]
        if self.path is None:
            return self.head[offset : offset + length]
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def tail(self, length: int) -> bytes:
        length = min(length, self.size)
        if self.whole:
            return self.head[len(self.head) - length :]
        if self._tail is None or len(self._tail) < length:
            self._tail = self.read(self.size - length, length)
        return self._tail[len(self._tail) - length :]

    def asset(
        self,
        kind: AssetKind,
        fmt: str,
        *,
        framework: str | None = None,
        confidence: float = 0.95,
        **tags: Any,
    ) -> Asset:
        return Asset(
            uri=self.uri,
            kind=kind,
            format=fmt,
            size=self.size,
            framework=framework,
            confidence=confidence,
            tags={k: v for k, v in tags.items() if v is not None},
        )


def problem(asset: Asset, message: str, *, confidence: float | None = None) -> Asset:
    """Mark an asset whose format was recognised but whose header is broken (fail closed)."""
    asset.tags.setdefault("problems", []).append(message)
    if confidence is not None:
        asset.confidence = confidence
    return asset
