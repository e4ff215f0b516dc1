"""Content-based format identification. Extensions and other components' guesses are
never trusted: a hostile file names itself whatever gets it past the scanner."""

from __future__ import annotations

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
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ
    if head.startswith(b"\x04\x22\x4d\x18"):
        return LZ4
    if len(head) >= 262 and head[257:262] == b"ustar":
        return TAR
    if looks_like_pickle(head):
        return PICKLE
    if len(head) >= 9:
        (n,) = struct.unpack_from("<Q", head)
        if 0 < n <= size - 8 and head[8:9] == b"{":
            return SAFETENSORS
    if head[:2] in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"):
        return ZLIB
    if head.startswith(b"\x5d\x00\x00"):
        return LZMA
    if head[:1] in (b"\x08", b"\x0a") and _plausible_protobuf(head):
        return PROTOBUF
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"[") and size < 256 * 1024**2:
        return JSON
    if tail and b"PK\x05\x06" in tail:
        return ZIP  # a zip with data prepended still loads with zipfile
    return None


def _plausible_protobuf(head: bytes) -> bool:
    from bastion.model._scan.protobuf import plausible

    return plausible(head)
