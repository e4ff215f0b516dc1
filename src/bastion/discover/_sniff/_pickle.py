"""Pickle-based artifacts (raw pickle, legacy PyTorch, joblib) and compressed wrappers.

Recognition parses opcodes with `pickletools.genops`, which decodes the opcode
stream without executing it; no `pickle.load`, ever. Compressed joblib files are
inflated only up to a small bound (a zip bomb costs at most that), and the
inflated head is sniffed again, one level deep.
"""

from __future__ import annotations

import bz2
import io
import lzma
import pickletools
import zlib
from collections.abc import Callable

from bastion.core.types import Asset, AssetKind
from bastion.discover._sniff._base import Ctx

_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
_INFLATE_LIMIT = 64 * 1024
_FRAMEWORKS = (
    (b"sklearn", "sklearn"),
    (b"xgboost", "xgboost"),
    (b"lightgbm", "lightgbm"),
    (b"catboost", "catboost"),
    (b"torch", "pytorch"),
    (b"keras", "keras"),
    (b"tensorflow", "tensorflow"),
    (b"statsmodels", "statsmodels"),
    (b"pandas", "pandas"),
    (b"numpy", "numpy"),
)
_PROTO01_START = frozenset(b"(c]}lK")


def _opcodes_ok(data: bytes, minimum: int) -> bool:
    """True when `data` starts with at least `minimum` well-formed pickle opcodes."""
    n = 0
    try:
        for op, _arg, _pos in pickletools.genops(io.BytesIO(data)):
            n += 1
            if op.name == "STOP" or n >= minimum:
                return n >= minimum or op.name == "STOP"
    except Exception:  # genops raises ValueError and friends on junk or truncation
        return n >= minimum
    return n >= minimum


def _framework(head: bytes) -> str | None:
    for needle, name in _FRAMEWORKS:
        if needle in head:
            return name
    return None


def sniff_pickle(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 2:
        return None
    if h.startswith(_TORCH_LEGACY_MAGIC):
        return c.asset(AssetKind.MODEL, "pytorch-legacy", framework="pytorch")
    if h[0] == 0x80 and 2 <= h[1] <= 5:
        if not _opcodes_ok(h, 3):
            return None
        protocol = h[1]
    elif h[0] in _PROTO01_START and c.tail(1) == b".":
        if not _opcodes_ok(h, 4):
            return None
        protocol = 0 if h[:1] != b"}" and h[:1] != b"]" else 1
    else:
        return None
    joblib = b"joblib.numpy_pickle" in h or b"NumpyArrayWrapper" in h
    framework = _framework(h)
    fmt = "joblib" if joblib else "pickle"
    conf = 0.95 if (joblib or framework) else 0.8
    return c.asset(AssetKind.MODEL, fmt, framework=framework, confidence=conf, protocol=protocol)


def _inflater(h: bytes) -> tuple[str, Callable[[bytes], bytes]] | None:
    if h.startswith(b"\x1f\x8b\x08"):
        return "gzip", lambda d: zlib.decompressobj(31).decompress(d, _INFLATE_LIMIT)
    if len(h) >= 2 and h[0] == 0x78 and ((h[0] << 8) | h[1]) % 31 == 0 and h[1] in (0x01, 0x5E, 0x9C, 0xDA):
        return "zlib", lambda d: zlib.decompressobj().decompress(d, _INFLATE_LIMIT)
    if h.startswith(b"BZh") and h[3:4].isdigit() and h[4:10] == b"1AY&SY":
        return "bz2", lambda d: bz2.BZ2Decompressor().decompress(d, _INFLATE_LIMIT)
    if h.startswith(b"\xfd7zXZ\x00"):
        return "xz", lambda d: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(d, _INFLATE_LIMIT)
    if h.startswith(b"]\x00\x00") and len(h) >= 13:
        return "lzma", lambda d: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(d, _INFLATE_LIMIT)
    if h.startswith(b"\x04\x22\x4d\x18"):

        def _lz4(d: bytes) -> bytes:
            import lz4.frame

            return bytes(lz4.frame.LZ4FrameDecompressor().decompress(d, max_length=_INFLATE_LIMIT))

        return "lz4", _lz4
    if h.startswith(b"\x28\xb5\x2f\xfd"):

        def _zstd(d: bytes) -> bytes:
            try:
                from compression import zstd
            except ImportError:
                from backports import zstd
            return bytes(zstd.ZstdDecompressor().decompress(d, max_length=_INFLATE_LIMIT))

        return "zstd", _zstd
    if h.startswith(b"ZF0x"):  # joblib < 0.10 zlib files: "ZF0x<hex length>" + zlib stream
        return "zlib", lambda d: zlib.decompressobj().decompress(d[21:], _INFLATE_LIMIT)
    return None


def sniff_compressed(c: Ctx, sniff_inner: Callable[[Ctx], Asset | None]) -> Asset | None:
    """Inflate a bounded prefix and sniff what is inside, one level deep."""
    if c.depth >= 1:
        return None
    found = _inflater(c.head)
    if found is None:
        return None
    method, inflate = found
    try:
        inner = inflate(c.head)
    except Exception:
        return None
    if not inner:
        return None
    ic = Ctx(c.uri, None, len(inner) if len(inner) < _INFLATE_LIMIT else 1 << 62, inner, depth=1)
    asset = sniff_inner(ic)
    if asset is None:
        return None
    if asset.format == "pickle" and method in ("zlib", "gzip", "bz2", "xz", "lzma", "lz4"):
        asset.format = (
            "joblib"
            if (b"joblib" in inner or b"NumpyArrayWrapper" in inner or method in ("zlib", "lz4", "lzma"))
            else "pickle"
        )
    asset.size = c.size
    asset.tags["compression"] = method
    asset.confidence = min(asset.confidence, 0.9)
    return asset
