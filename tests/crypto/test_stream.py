"""The streaming format alone: every tampering the issue lists is detected."""

from __future__ import annotations

import contextlib
import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.crypto._stream import MIN_CHUNK, TAG, StreamHeader, decrypt_stream, encrypt_stream, read_header
from bastion.crypto.aead import FormatError, IntegrityError

DEK = os.urandom(32)
CHUNK = MIN_CHUNK


def seal(data: bytes, dek: bytes = DEK, dek_id: str = "dek_1") -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, dek, key_id="k", dek_id=dek_id, chunk_size=CHUNK)
    return out.getvalue()


def open_(blob: bytes, dek: bytes = DEK) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, lambda h: dek)
    return out.getvalue()


def header_len(blob: bytes) -> int:
    return 12 + struct.unpack(">I", blob[8:12])[0]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7])
def test_round_trip_sizes(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert open_(blob) == data
    h = header_len(blob)
    n_chunks = max(1, -(-size // CHUNK))
    assert len(blob) == h + size + TAG * n_chunks


def test_wrong_key() -> None:
    with pytest.raises(IntegrityError, match="chunk 0"):
        open_(seal(b"secret data"), os.urandom(32))


def test_truncation_at_chunk_boundary_and_inside() -> None:
    data = os.urandom(3 * CHUNK + 5)
    blob = seal(data)
    h = header_len(blob)
    for cut in (h + (CHUNK + TAG), h + 2 * (CHUNK + TAG), len(blob) - 1, h, h + 3):
        with pytest.raises((IntegrityError, FormatError)):
            open_(blob[:cut])


def test_reordered_chunks() -> None:
    data = os.urandom(3 * CHUNK)
    blob = seal(data)
    h = header_len(blob)
    c = CHUNK + TAG
    chunks = [blob[h + i * c : h + (i + 1) * c] for i in range(3)]
    swapped = blob[:h] + chunks[1] + chunks[0] + chunks[2] + blob[h + 3 * c :]
    with pytest.raises(IntegrityError, match="chunk 0"):
        open_(swapped)


def test_chunk_from_another_file_same_key() -> None:
    a = seal(os.urandom(2 * CHUNK + 3))
    b = seal(os.urandom(2 * CHUNK + 3))
    h = header_len(a)
    c = CHUNK + TAG
    mixed = a[: h + c] + b[h + c : h + 2 * c] + a[h + 2 * c :]
    with pytest.raises(IntegrityError, match="chunk 1"):
        open_(mixed)


def test_header_from_another_file_same_key() -> None:
    a = seal(b"a" * 100)
    b = seal(b"b" * 100)
    assert header_len(a) == header_len(b)
    with pytest.raises(IntegrityError):
        open_(b[: header_len(b)] + a[header_len(a) :])


@pytest.mark.parametrize("where", ["magic", "chunk", "salt", "key_id"])
def test_header_tampering(where: str) -> None:
    blob = bytearray(seal(b"x" * 50))
    offset = {"magic": 0, "chunk": 14, "salt": 20, "key_id": 12 + 6 + 16 + 2}[where]
    blob[offset] ^= 0x02
    with pytest.raises((IntegrityError, FormatError)):
        open_(bytes(blob))


def test_appended_garbage() -> None:
    with pytest.raises(IntegrityError):
        open_(seal(b"hello") + b"\x00" * 20)


def test_not_ours() -> None:
    with pytest.raises(FormatError, match="magic"):
        open_(b"PK\x03\x04 this is a zip")
    with pytest.raises(FormatError):
        read_header(io.BytesIO(b"BSTNENC1" + b"\xff\xff\xff\xff"))


def test_header_encode_parse_round_trip() -> None:
    h = StreamHeader(key_id="key:1", dek_id="dek_é", chunk_size=4096, salt=b"s" * 16)
    assert read_header(io.BytesIO(h.encode())) == h


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_header_parser_never_crashes(junk: bytes) -> None:
    with contextlib.suppress(FormatError):
        read_header(io.BytesIO(b"BSTNENC1" + junk))


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3 * CHUNK), flip=st.integers(min_value=0))
def test_any_bit_flip_is_detected(data: bytes, flip: int) -> None:
    blob = bytearray(seal(data))
    blob[flip % len(blob)] ^= 1 << (flip % 8)
    with pytest.raises((IntegrityError, FormatError)):
        open_(bytes(blob))


class _Trickle:
    """A file-like source that returns short reads (pipes, sockets): forces the readinto path."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readinto(self, buf: memoryview) -> int:
        n = min(len(buf), self._step, len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else len(self._data), self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


@settings(max_examples=30, deadline=None)
@given(size=st.sampled_from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]), step=st.integers(1, 3000))
def test_copy_and_zero_copy_paths_agree(size: int, step: int) -> None:
    """BytesIO (zero-copy) and short-reading sources (readinto) chunk identically, both ways round."""
    data = os.urandom(size)
    via_reader = io.BytesIO()
    encrypt_stream(_Trickle(data, step), via_reader, DEK, key_id="k", dek_id="dek_1", chunk_size=CHUNK)  # type: ignore[arg-type]
    blob = via_reader.getvalue()
    assert len(blob) == len(seal(data))
    assert open_(blob) == data
    out = io.BytesIO()
    decrypt_stream(_Trickle(blob, step), out, lambda h: DEK)  # type: ignore[arg-type]
    assert out.getvalue() == data
    trunc = blob[: header_len(blob) + (CHUNK + TAG)] if size > CHUNK else blob[:-1]
    with pytest.raises(IntegrityError):
        decrypt_stream(_Trickle(trunc, step), io.BytesIO(), lambda h: DEK)  # type: ignore[arg-type]


def test_bytesio_source_from_its_current_position() -> None:
    src = io.BytesIO(b"skip-me|" + b"payload" * 500)
    src.seek(8)
    out = io.BytesIO()
    n_in, n_out = encrypt_stream(src, out, DEK, key_id="k", dek_id="d", chunk_size=CHUNK)
    assert n_in == 3500 and n_out == len(out.getvalue())
    assert src.read() == b""  # consumed, like a file
    src.write(b"more")  # the borrowed buffer was released: the stream is still writable
    assert open_(out.getvalue()) == b"payload" * 500
    sealed = io.BytesIO(b"junk" + out.getvalue())
    sealed.seek(4)
    back = io.BytesIO()
    decrypt_stream(sealed, back, lambda h: DEK)
    assert back.getvalue() == b"payload" * 500
