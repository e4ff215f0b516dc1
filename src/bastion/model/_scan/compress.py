"""Bounded decompression for the streams model files come wrapped in.

Every inflate goes through one budget on the scan context, so a decompression
bomb stops at the limit with a finding instead of exhausting memory.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any

from bastion.model._scan import sniff as S
from bastion.model._scan.context import LimitReached, ScanContext

_CHUNK = 1 << 20


class DecompressError(Exception):
    """A corrupt or truncated stream. `partial` holds what inflated before the error: a loader
    reading incrementally has already handed those bytes to the unpickler, so they are analysed."""

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


def _new(kind: str) -> Any:
    if kind == S.GZIP:
        return zlib.decompressobj(wbits=47)
    if kind == S.ZLIB:
        return zlib.decompressobj()
    if kind == S.BZ2:
        return bz2.BZ2Decompressor()
    if kind in (S.XZ, S.LZMA):
        return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    if kind == S.LZ4:
        try:
            import lz4.frame
        except ImportError:
            raise DecompressError("lz4 support is not installed (pip install lz4)") from None
        return lz4.frame.LZ4FrameDecompressor()
    if kind == "deflate":
        return zlib.decompressobj(wbits=-15)
    raise DecompressError(f"unsupported compression {kind}")


def _zip_lzma(data: Any) -> tuple[Any, Any]:
    """A zip LZMA member (method 14) as `zipfile` reads it: 2-byte version, 2-byte properties
    size, LZMA1 properties, then a raw LZMA1 stream. Returns (decompressor, stream)."""
    view = memoryview(data)
    if len(view) < 4:
        raise DecompressError("zip LZMA member is truncated")
    psize = int.from_bytes(view[2:4], "little")
    if len(view) < 4 + psize:
        raise DecompressError("zip LZMA properties are truncated")
    try:
        filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, bytes(view[4 : 4 + psize]))  # type: ignore[attr-defined]
        dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
    except (lzma.LZMAError, ValueError, TypeError) as exc:
        raise DecompressError(f"zip LZMA properties are invalid: {exc}") from None
    return dec, view[4 + psize :]


def decompress(ctx: ScanContext, data: Any, kind: str, limit: int | None = None) -> tuple[bytes, bool]:
    """Inflate `data`; returns (output, complete). Stops at the budget with `complete=False`.

    Concatenated streams are followed as the loaders' readers follow them (`_next_stream`);
    bytes after the last stream that do not start a valid one are ignored, as they do.
    """
    cap = ctx.limits.max_member_read if limit is None else limit
    out = bytearray()
    view = memoryview(data)
    pos = 0
    follow = kind != "zip-lzma"  # a zip member is exactly one stream
    streams = 0
    stream_start = 0
    if kind == "zip-lzma":
        dec, view = _zip_lzma(data)
        kind = S.LZMA
    else:
        dec = _new(kind)
    total_in = max(len(view), 1)
    try:
        while True:
            ctx.check_time()
            chunk = view[pos : pos + _CHUNK] if not _unconsumed(dec) else b""
            if not _unconsumed(dec):
                pos += len(chunk)
            room = cap - len(out)
            if room <= 0:
                return bytes(out), False
            piece = _feed(dec, kind, bytes(chunk), min(room, _CHUNK * 4))
            if piece:
                ctx.charge_decompressed(len(piece))
                out += piece
                if len(out) > ctx.limits.ratio_floor and len(out) > ctx.limits.max_ratio * total_in:
                    return bytes(out), False  # callers report the incomplete stream (high)
            if _eof(dec):
                rest = _unused(dec) + bytes(view[pos:])
                if follow and _next_stream(kind, rest):
                    dec = _new(kind)
                    view = memoryview(rest)
                    pos = 0
                    streams += 1
                    stream_start = len(out)
                    continue
                return bytes(out), True
            if not piece and pos >= len(view) and not _unconsumed(dec):
                raise DecompressError("truncated compressed stream", bytes(out))
    except LimitReached:
        return bytes(out), False
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError, RuntimeError) as exc:
        if streams and len(out) == stream_start and kind != S.GZIP:
            return bytes(out), True  # trailing bytes that are not a stream: the readers ignore them
        raise DecompressError(f"{kind} stream is corrupt: {exc}", bytes(out)) from None


def _next_stream(kind: str, rest: bytes) -> bool:
    """Whether the loader reads on after a finished stream, as its reader does.

    `gzip.open` follows gzip members; `bz2`/`lzma` file objects (and joblib's, which are
    those) read every concatenated stream and ignore trailing bytes that are not one.
    joblib's zlib reader stops after the first stream, and so does a raw zip member.
    """
    if kind == S.GZIP:
        return rest[:2] == b"\x1f\x8b"
    if kind in (S.BZ2, S.XZ, S.LZMA):
        return bool(rest)  # any next stream, including an lzma-alone one with other properties
    return False


def _feed(dec: Any, kind: str, chunk: bytes, max_length: int) -> bytes:
    if isinstance(dec, type(zlib.decompressobj())):
        buf = dec.unconsumed_tail + chunk if dec.unconsumed_tail else chunk
        return bytes(dec.decompress(buf, max_length))
    if kind in (S.BZ2, S.XZ, S.LZMA):
        if dec.eof:
            return b""
        return bytes(dec.decompress(chunk, max_length=max_length))
    return bytes(dec.decompress(chunk, max_length=max_length))


def _unconsumed(dec: Any) -> bool:
    if isinstance(dec, type(zlib.decompressobj())):
        return bool(dec.unconsumed_tail)
    return bool(getattr(dec, "needs_input", True) is False)


def _eof(dec: Any) -> bool:
    return bool(getattr(dec, "eof", False))


def _unused(dec: Any) -> bytes:
    return bytes(getattr(dec, "unused_data", b"") or b"")
