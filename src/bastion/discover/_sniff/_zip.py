"""Zip-based formats: PyTorch, TorchScript, NumPy .npz, Keras v3, skops.

Only the central directory is read (bounded in size and entry count), plus at
most a few small members such as Keras' ``metadata.json``, inflated with a hard
output cap. A zip bomb therefore costs a few KiB, and nested archives are never
opened: this is identification, not extraction.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

from bastion.core.types import Asset, AssetKind
from bastion.discover._sniff._base import Ctx, SniffError, problem

MAX_CD_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_MEMBER = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    method: int
    csize: int
    usize: int
    offset: int


def _eocd(c: Ctx) -> tuple[int, int, int]:
    """(entries, cd_size, cd_offset) from the end-of-central-directory records."""
    tail = c.tail(min(c.size, 65536 + 22))
    idx = tail.rfind(b"PK\x05\x06")
    if idx < 0 or idx + 22 > len(tail):
        raise SniffError("no end-of-central-directory record (truncated zip)")
    entries, cd_size, cd_off = struct.unpack_from("<HII", tail, idx + 10)
    if 0xFFFF in (entries,) or 0xFFFFFFFF in (cd_size, cd_off):
        loc = tail.rfind(b"PK\x06\x07", 0, idx)
        if loc < 0:
            raise SniffError("zip64 locator missing")
        (z64,) = struct.unpack_from("<Q", tail, loc + 8)
        rec = c.read(z64, 56)
        if rec[:4] != b"PK\x06\x06" or len(rec) < 56:
            raise SniffError("zip64 end record missing")
        entries, cd_size, cd_off = struct.unpack_from("<QQQ", rec, 32)
    return entries, cd_size, cd_off


def central_directory(c: Ctx) -> tuple[list[Entry], bool]:
    """The archive's entries (bounded) and whether the listing was cut short."""
    entries, cd_size, cd_off = _eocd(c)
    if cd_off + cd_size > c.size:
        raise SniffError("central directory lies past the end of the file")
    cut = cd_size > MAX_CD_BYTES or entries > MAX_ENTRIES
    cd = c.read(cd_off, min(cd_size, MAX_CD_BYTES))
    out: list[Entry] = []
    pos = 0
    while pos + 46 <= len(cd) and len(out) < MAX_ENTRIES:
        if cd[pos : pos + 4] != b"PK\x01\x02":
            raise SniffError("corrupt central directory")
        (method,) = struct.unpack_from("<H", cd, pos + 10)
        csize, usize, nlen, xlen, clen = struct.unpack_from("<IIHHH", cd, pos + 20)
        (offset,) = struct.unpack_from("<I", cd, pos + 42)
        name = cd[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")
        extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
        if 0xFFFFFFFF in (csize, usize, offset):
            csize, usize, offset = _zip64_extra(extra, csize, usize, offset)
        out.append(Entry(name, method, csize, usize, offset))
        pos += 46 + nlen + xlen + clen
    return out, cut


def _zip64_extra(extra: bytes, csize: int, usize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            vals = list(struct.unpack_from(f"<{size // 8}Q", extra, pos + 4))
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
            break
        pos += 4 + size
    return csize, usize, offset


def read_member(c: Ctx, e: Entry, limit: int = MAX_MEMBER) -> bytes:
    """A small member's bytes (stored or deflated), inflated to at most `limit` bytes."""
    if e.csize > limit * 64:
        raise SniffError(f"member {e.name!r} too large to inspect")
    lh = c.read(e.offset, 30)
    if lh[:4] != b"PK\x03\x04":
        raise SniffError("bad local header")
    nlen, xlen = struct.unpack_from("<HH", lh, 26)
    data = c.read(e.offset + 30 + nlen + xlen, min(e.csize, limit * 64))
    if e.method == 0:
        return data[:limit]
    if e.method == 8:
        return zlib.decompressobj(-15).decompress(data, limit)
    raise SniffError(f"compression method {e.method} not inspected")


def _npz_shapes(c: Ctx, entries: list[Entry]) -> dict[str, object]:
    from bastion.discover._sniff._binary import sniff_npy

    shapes: dict[str, object] = {}
    for e in entries[:16]:
        try:
            head = read_member(c, e, 4096)
        except (SniffError, zlib.error):
            continue
        a = sniff_npy(Ctx(e.name, None, e.usize, head))
        if a is not None and "shape" in a.tags:
            shapes[e.name[:-4]] = a.tags["shape"]
    return shapes


def sniff_zip(c: Ctx) -> Asset | None:
    if not c.head.startswith(b"PK\x03\x04") or c.path is None:
        return None
    try:
        entries, cut = central_directory(c)
    except SniffError as exc:
        first = c.head[30 : 30 + struct.unpack_from("<H", c.head, 26)[0]] if len(c.head) >= 30 else b""
        if first.endswith(b"data.pkl") or first.endswith(b".npy"):
            a = c.asset(AssetKind.MODEL, "pytorch-zip" if first.endswith(b".pkl") else "npz", confidence=0.6)
            return problem(a, str(exc))
        return None
    names = [e.name for e in entries]
    by_name = {e.name: e for e in entries}
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if pkl:
        prefix = pkl[0][: -len("data.pkl")]
        if f"{prefix}version" not in by_name and f"{prefix}.data/version" not in by_name:
            return None
        tensors = sum(1 for n in names if n.startswith(f"{prefix}data/"))
        if f"{prefix}constants.pkl" in by_name or any(n.startswith(f"{prefix}code/") for n in names):
            return c.asset(AssetKind.MODEL, "torchscript", framework="pytorch", storages=tensors, members=len(names))
        return c.asset(AssetKind.MODEL, "pytorch-zip", framework="pytorch", storages=tensors, members=len(names))
    if names and all(n.endswith(".npy") for n in names):
        a = c.asset(
            AssetKind.MODEL, "npz", framework="numpy", arrays=len(names), shapes=_npz_shapes(c, entries) or None
        )
        return problem(a, "central directory too large; listing cut short") if cut else a
    if (
        "metadata.json" in by_name
        and "config.json" in by_name
        and ("model.weights.h5" in by_name or "model.weights.npz" in by_name)
    ):
        a = c.asset(AssetKind.MODEL, "keras-v3", framework="keras")
        try:
            meta = json.loads(read_member(c, by_name["metadata.json"]))
            cfg = json.loads(read_member(c, by_name["config.json"]))
            if isinstance(meta, dict):
                a.tags["keras_version"] = str(meta.get("keras_version", ""))[:32] or None
            if isinstance(cfg, dict):
                a.tags["class_name"] = str(cfg.get("class_name", ""))[:64] or None
                a.tags["lambda_layers"] = b'"Lambda"' in json.dumps(cfg).encode() or None
        except (SniffError, ValueError, zlib.error) as exc:
            problem(a, f"config unreadable: {exc}", confidence=0.8)
        a.tags = {k: v for k, v in a.tags.items() if v is not None}
        return a
    if "schema.json" in by_name and any(n.endswith(".npy") for n in names):
        return c.asset(AssetKind.MODEL, "skops", framework="sklearn", confidence=0.85)
    return None
