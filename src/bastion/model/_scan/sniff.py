"""Content-based format identification. Extensions and other components' guesses are
never trusted: a hostile file names itself whatever gets it past the scanner."""

from __future__ import annotations

import pickletools
import struct

from bastion.model._scan._pickle.analyser import looks_like_pickle

ZIP = "zip"
PICKLE = "pickle"
NPY = "npy"
GZIP = "gzip"
BZ2 = "bz2"
XZ = "xz"
LZMA = "lzma"
ZLIB = "zlib"
LZ4 = "lz4"
SEVENZ = "7z"
TAR = "tar"
HDF5 = "hdf5"
GGUF = "gguf"
SAFETENSORS = "safetensors"
PROTOBUF = "protobuf"  # ONNX, SavedModel or GraphDef, told apart by the protobuf reader
JSON = "json"
TORCHSCRIPT_CODE = "torchscript-code"
JOBLIB_ZF = "joblib-zf"  # joblib < 0.9.3 compressed pickle: b"ZF" + hex length + zlib

COMPRESSED = (GZIP, BZ2, XZ, LZMA, ZLIB, LZ4)


def sniff(head: bytes, size: int, tail: bytes = b"") -> str | None:
    """The format of a blob from its first bytes (and its last, for zips)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return ZIP
    if head.startswith(b"\x93NUMPY"):
        return NPY
    if head.startswith(b"GGUF"):
        return GGUF
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return HDF5
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVENZ
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"BZh"):
        return BZ2
    if head.startswith(b"\xfd7zXZ"):  # joblib matches these five bytes
        return XZ
    if head.startswith(b"\x04\x22\x4d\x18"):
        return LZ4
    if len(head) >= 262 and head[257:262] == b"ustar":
        return TAR
    if _headerless_binary_pickle(head, size):
        return PICKLE
    if looks_like_pickle(head):
        # A safetensors header length whose low byte is 0x80 (1 in 32 of the lengths the official
        # writer produces) reads as a pickle PROTO opcode. Its zero high bytes are not opcodes,
        # while anything torch.load could run must parse there, so only that case goes to the
        # (strict, fail-closed) safetensors reader.
        if _safetensors_head(head, size) and not _opens_as_pickle(head):
            return SAFETENSORS
        return PICKLE
    if _safetensors_head(head, size):
        return SAFETENSORS
    # joblib picks its decompressor by prefix alone (b"\x78" zlib, b"\x5d\x00" lzma-alone with
    # any dictionary size, b"ZF" its legacy format); a stream it inflates is one it unpickles.
    if len(head) >= 2 and head[0] == 0x78 and (0x7800 | head[1]) % 31 == 0:
        return ZLIB
    if head.startswith(b"\x5d\x00"):
        return LZMA
    if head.startswith(b"ZF") and len(head) >= 21 and _hex_length(head[2:21]):
        return JOBLIB_ZF
    if head[:1] in (b"\x08", b"\x0a") and _plausible_protobuf(head):
        return PROTOBUF
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"[") and size < 256 * 1024**2:
        return JSON
    if tail and b"PK\x05\x06" in tail:
        return ZIP  # a zip with data prepended still loads with zipfile
    return None


def _safetensors_head(head: bytes, size: int) -> bool:
    """An 8-byte little-endian length, then the JSON header's opening brace.

    A length past the end of the file (or past the reader's limit) still claims the file,
    so the strict reader reports it (high) instead of the file passing as unrecognised.
    Text that merely has a brace at offset 8 (JSON, prose) is left alone.
    """
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (n,) = struct.unpack_from("<Q", head)
    if 0 < n <= size - 8:
        return True
    return n > 0 and not all(32 <= b < 127 or b in b"\t\r\n" for b in head[:8])


_LEGACY_TORCH_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _headerless_binary_pickle(head: bytes, size: int) -> bool:
    """Binary pickles without PROTO that the head alone can vouch for: a FRAME whose length fits
    the file followed by opcodes that parse, or legacy `torch.save`'s magic number pickle.
    Other headerless streams are found by the full-stream parse in `dispatch.scan_blob`."""
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return True
    if len(head) < 12 or head[0] != 0x95:
        return False
    (frame,) = struct.unpack_from("<Q", head, 1)
    return 0 < frame <= size - 9 and head[9] in _OPCODES and _opens_as_pickle(head[9:])


_OPCODES = frozenset(ord(op.code) for op in pickletools.opcodes)


def _hex_length(field: bytes) -> bool:
    try:
        int(field, 16)
    except ValueError:
        return False
    return True


def _opens_as_pickle(head: bytes) -> bool:
    """Whether the first opcodes parse (running out of bytes counts as parsing: the head is short)."""
    import io
    import pickletools

    try:
        for count, (opcode, _arg, _pos) in enumerate(pickletools.genops(io.BytesIO(head[:64]))):
            if opcode.name == "STOP" or count >= 15:
                return True
    except ValueError as exc:
        return "unknown" not in str(exc)
    return True


def _plausible_protobuf(head: bytes) -> bool:
    from bastion.model._scan.protobuf import plausible

    return plausible(head)
