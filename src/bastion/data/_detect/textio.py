"""Reading untrusted bytes as text: UTF-8 with replacement, counting what was replaced."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO


class CountingDecoder:
    """Incremental UTF-8 decoding that never fails and remembers where input was invalid."""

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.invalid = 0
        self.first_invalid: int | None = None
        self._consumed = 0
        self.nul = 0

    def decode(self, data: bytes, final: bool = False) -> str:
        text = self._dec.decode(data, final)
        bad = text.count("\ufffd") - data.count("\xef\xbf\xbd".encode("latin-1"))
        if bad > 0:
            if self.first_invalid is None:
                self.first_invalid = self._consumed
            self.invalid += bad
        self.nul += data.count(b"\x00")
        self._consumed += len(data)
        return text


def iter_text(fh: BinaryIO, decoder: CountingDecoder, chunk: int = 1 << 20) -> Iterator[str]:
    while True:
        data = fh.read(chunk)
        if not data:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        yield decoder.decode(data)
