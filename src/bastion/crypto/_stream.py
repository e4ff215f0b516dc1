"""The streaming authenticated file format (chunked AES-256-GCM).

Layout::

    magic "BSTNENC1" | header_len u32 | header | chunk_0 | chunk_1 | ... | chunk_last

    header = version u8 | alg u8 | chunk_size u32 | salt[16]
             | key_id_len u16 | key_id | dek_id_len u16 | dek_id
             [ | context_len u16 | context ]        (version 2 only)

Version 1 (no context) is what single files use, unchanged. Version 2 adds a
`context`: bytes that say where the stream belongs (for folder members: the folder's
random id and the file's relative path; see `aead.encrypt_tree`). The context is part
of the header, so it is covered by H below: a file moved to another path, or into
another folder, is rejected with a message that says so, and editing the context to
match fails authentication of every chunk.

Each chunk is ``AES-256-GCM(subkey, nonce=index as 12 bytes, aad=H || index u64 || final u8)``
over up to `chunk_size` plaintext bytes, where ``H = SHA-256(magic | header_len | header)``
and ``subkey = HKDF-SHA256(DEK, salt, info="bastion-stream-v1" || H)``.

Why this catches each attack (Hoang-Reyhanitabar-Rogaway-Vizár "STREAM" construction):
- header tampering or a header taken from another file changes H, hence the subkey and the
  AAD of every chunk, so chunk 0 fails;
- reordering changes the nonce/AAD index;
- chunk swapping between files fails because each file has its own salt, hence subkey;
- moving or swapping version-2 files between paths or folders changes the context the
  reader expects (checked against the header), and any edit to the context changes H;
- truncation at a chunk boundary leaves a last chunk sealed with final=0, which fails
  when opened as final; an empty plaintext is still one (empty) final chunk, so a file cut
  right after the header fails too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.crypto._errors import FormatError, IntegrityError

MAGIC = b"BSTNENC1"
VERSION = 1  # no context: single files, `encrypt_bytes`
VERSION_CONTEXT = 2  # with a bound context: folder members and folder manifests
VERSIONS = (VERSION, VERSION_CONTEXT)
ALG_AES256GCM_CHUNKED = 1
TAG = 16
DEFAULT_CHUNK = 1 << 20
MIN_CHUNK = 1 << 10
MAX_CHUNK = 1 << 26
MAX_HEADER = 8192
MAX_ID = 256
MAX_CONTEXT = 4200  # a kind byte, a 16-byte folder id and a relative path of up to PATH_MAX
_FIXED = struct.Struct(">BBI16s")
_IDX = struct.Struct(">QB")  # chunk AAD suffix: index u64 | final u8


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """The cleartext header: which key and data key sealed the stream, and how it is chunked."""

    key_id: str
    dek_id: str
    chunk_size: int
    salt: bytes
    version: int = VERSION
    alg: int = ALG_AES256GCM_CHUNKED
    context: bytes = b""

    def encode(self) -> bytes:
        kid = self.key_id.encode()
        did = self.dek_id.encode()
        if len(kid) > MAX_ID or len(did) > MAX_ID:
            raise FormatError("key id or data-key id too long for the stream header")
        if (self.version == VERSION) != (not self.context):
            raise FormatError("a context needs format version 2, and version 2 needs a context")
        if len(self.context) > MAX_CONTEXT:
            raise FormatError("context too long for the stream header")
        body = _FIXED.pack(self.version, self.alg, self.chunk_size, self.salt)
        body += struct.pack(">H", len(kid)) + kid + struct.pack(">H", len(did)) + did
        if self.version == VERSION_CONTEXT:
            body += struct.pack(">H", len(self.context)) + self.context
        return MAGIC + struct.pack(">I", len(body)) + body

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()


def read_header(src: BinaryIO) -> StreamHeader:
    """Parse and bound-check the header; `FormatError` for anything that is not ours."""
    magic = _read_exact(src, len(MAGIC))
    if magic != MAGIC:
        raise FormatError("not a Bastion-encrypted file (bad magic)")
    raw_len = _read_exact(src, 4)
    if len(raw_len) < 4:
        raise FormatError("truncated header")
    (length,) = struct.unpack(">I", raw_len)
    if not _FIXED.size + 4 <= length <= MAX_HEADER:
        raise FormatError(f"header length {length} out of range")
    body = _read_exact(src, length)
    if len(body) < length:
        raise FormatError("truncated header")
    version, alg, chunk_size, salt = _FIXED.unpack_from(body, 0)
    if version not in VERSIONS:
        raise FormatError(f"unsupported format version {version}")
    if alg != ALG_AES256GCM_CHUNKED:
        raise FormatError(f"unsupported algorithm {alg}")
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise FormatError(f"chunk size {chunk_size} out of range")
    pos = _FIXED.size
    ids = []
    for _ in range(2):
        if pos + 2 > length:
            raise FormatError("malformed header")
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2
        if n == 0 or n > MAX_ID or pos + n > length:
            raise FormatError("malformed header (id length)")
        try:
            ids.append(body[pos : pos + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise FormatError("malformed header (id is not UTF-8)") from None
        pos += n
    context = b""
    if version == VERSION_CONTEXT:
        if pos + 2 > length:
            raise FormatError("malformed header (no context)")
        (n,) = struct.unpack_from(">H", body, pos)
        pos += 2
        if n == 0 or n > MAX_CONTEXT or pos + n > length:
            raise FormatError("malformed header (context length)")
        context = bytes(body[pos : pos + n])
        pos += n
    if pos != length:
        raise FormatError("malformed header (trailing bytes)")
    header = StreamHeader(
        key_id=ids[0], dek_id=ids[1], chunk_size=chunk_size, salt=salt, version=version, context=context
    )
    if header.encode() != magic + raw_len + body:  # canonical form only
        raise FormatError("malformed header (non-canonical)")
    return header


def _subkey(dek: bytes, header: StreamHeader) -> AESGCM:
    if len(dek) != 32:
        raise IntegrityError("data key must be 32 bytes (AES-256)")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt, info=b"bastion-stream-v1" + header.digest)
    return AESGCM(hkdf.derive(dek))


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    dek: bytes,
    *,
    key_id: str,
    dek_id: str,
    chunk_size: int = DEFAULT_CHUNK,
    context: bytes = b"",
) -> tuple[int, int]:
    """Seal `src` into `dst`; returns (plaintext bytes, ciphertext bytes).

    A non-empty `context` is written in a version-2 header and so bound to every chunk.

    Per chunk the loop does one AES-GCM call straight into a reused output buffer and
    one write; the AAD prefix and the header are built once. In-memory sources
    (`io.BytesIO`) are sealed from their buffer without copying the plaintext at all;
    other sources are read with `readinto` into two reused buffers (the second one is
    the look-ahead that tells whether a chunk is the last). Regular files are not
    memory-mapped on purpose: a file truncated while mapped kills the process (SIGBUS).
    """
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise FormatError(f"chunk size must be within {MIN_CHUNK}..{MAX_CHUNK}")
    header = StreamHeader(
        key_id=key_id,
        dek_id=dek_id,
        chunk_size=chunk_size,
        salt=os.urandom(16),
        version=VERSION_CONTEXT if context else VERSION,
        context=context,
    )
    encoded = header.encode()
    aead = _subkey(dek, header)
    seal = aead.encrypt_into
    h = hashlib.sha256(encoded).digest()
    dst.write(encoded)
    written = len(encoded)
    total = 0
    out = memoryview(bytearray(chunk_size + TAG))
    with _source(src, chunk_size) as pieces:
        for index, (piece, final) in enumerate(pieces):
            n_in = len(piece)
            n_out = seal(index.to_bytes(12, "big"), piece, h + _IDX.pack(index, final), out[: n_in + TAG])
            dst.write(out[:n_out])
            written += n_out
            total += n_in
    return total, written


@contextlib.contextmanager
def _source(src: BinaryIO, chunk_size: int) -> Iterator[Iterator[tuple[memoryview, bool]]]:
    """(chunk, is_final) pieces of `src`: always at least one (maybe empty) chunk."""
    if type(src) is io.BytesIO:  # exactly: a subclass may override read()
        # getvalue() hands back BytesIO's own bytes object when it can (always for
        # BytesIO(data) not written to since); getbuffer() would force a private copy.
        start = src.tell()
        with memoryview(src.getvalue()) as whole:
            view = whole[start:]
            try:
                yield _slices(view, chunk_size)
            finally:
                view.release()
        src.seek(0, io.SEEK_END)
    else:
        yield _pieces(src, chunk_size)


def _slices(view: memoryview, chunk_size: int) -> Iterator[tuple[memoryview, bool]]:
    """Zero-copy pieces of an in-memory buffer (same chunking as `_pieces`)."""
    n = len(view)
    last = max(0, (n - 1) // chunk_size) * chunk_size  # offset of the final chunk; 0 when empty
    for off in range(0, last, chunk_size):
        yield view[off : off + chunk_size], False
    yield view[last:], True


def _pieces(src: BinaryIO, chunk_size: int) -> Iterator[tuple[memoryview, bool]]:
    """Pieces of a file-like source through two reused buffers: one copy in, no allocation per chunk."""
    bufs = (bytearray(chunk_size), bytearray(chunk_size))
    cur = 0
    n_cur = _readinto_exact(src, bufs[cur])
    while True:
        n_next = _readinto_exact(src, bufs[1 - cur]) if n_cur == chunk_size else 0
        yield memoryview(bufs[cur])[:n_cur], n_next == 0
        if n_next == 0:
            return
        cur = 1 - cur
        n_cur = n_next


def decrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    resolve: Callable[[StreamHeader], bytes],
    *,
    context: bytes | None = None,
) -> tuple[StreamHeader, int]:
    """Open `src` into `dst`, chunk by chunk, each verified before it is written.

    `context`, when given, is the context the caller expects (b"" for a plain
    version-1 stream); a stream bound to another one fails before any key is fetched.

    A failure part-way leaves the verified prefix in `dst`: callers that must not
    expose partial plaintext write to a temporary file and rename (see `aead.decrypt_file`).
    """
    header = read_header(src)
    if context is not None and header.context != context:
        raise IntegrityError("the stream belongs somewhere else (its bound context differs from the expected one)")
    dek = resolve(header)
    aead = _subkey(dek, header)
    open_ = aead.decrypt_into
    h = header.digest
    total = 0
    out = memoryview(bytearray(header.chunk_size))
    with _source(src, header.chunk_size + TAG) as pieces:
        for index, (piece, final) in enumerate(pieces):
            if len(piece) < TAG:
                raise IntegrityError(f"truncated ciphertext at chunk {index}")
            try:
                n = open_(index.to_bytes(12, "big"), piece, h + _IDX.pack(index, final), out[: len(piece) - TAG])
            except InvalidTag:
                raise IntegrityError(
                    f"authentication failed at chunk {index}: wrong key, or the file was truncated, "
                    "reordered or modified"
                ) from None
            dst.write(out[:n])
            total += n
    return header, total


def _readinto_exact(src: BinaryIO, buf: bytearray) -> int:
    """Fill `buf` from `src`, looping over short reads; returns the byte count (short only at EOF)."""
    view = memoryview(buf)
    got = 0
    readinto = getattr(src, "readinto", None)
    while got < len(buf):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = src.read(len(buf) - got)
            n = len(data) if data else 0
            view[got : got + n] = data or b""
        if not n:
            break
        got += n
    return got


def _read_exact(src: BinaryIO, n: int) -> bytes:
    """Read up to n bytes, looping over short reads (pipes, sockets); fewer only at EOF."""
    data = src.read(n)
    if data is None:
        data = b""
    if len(data) == n or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
