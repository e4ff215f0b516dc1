"""A zip reader that parses archives the way PyTorch's loader (miniz) does.

Python's `zipfile` rejects archives that PyTorch happily loads: a bad CRC, an
encryption flag bit, a local header whose file name disagrees with the central
directory (CVE-2025-1944/1945, CVE-2025-10156). Scanners built on `zipfile` then
see an error, or nothing, while `torch.load` runs the payload. This reader follows
the loader instead: central directory first, local header only for the data
offset, sizes from the central directory, and every disagreement is reported as
tampering while the member is still scanned.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan import sniff as S
from bastion.model._scan.compress import DecompressError, decompress
from bastion.model._scan.context import ScanContext, join_pointer

_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD64_LOC = struct.Struct("<4sIQI")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_CDH = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LFH = struct.Struct("<4sHHHHHIIIHH")


class ZipError(Exception):
    pass


@dataclass(slots=True)
class Entry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    data_offset: int = -1
    index: int = 0


def read_directory(ctx: ScanContext, data: Any, pointer: str) -> list[Entry]:
    """Parse the central directory and each member's local header; report tampering."""
    size = len(data)
    tail_start = max(0, size - (65535 + _EOCD.size))
    tail = bytes(data[tail_start:size])
    idx = tail.rfind(b"PK\x05\x06")
    if idx < 0:
        raise ZipError("no end-of-central-directory record")
    eocd_pos = tail_start + idx
    if eocd_pos + _EOCD.size > size:
        raise ZipError("truncated end-of-central-directory record")
    _, disk, _cd_disk, _n_disk, n_total, cd_size, cd_offset, _clen = _EOCD.unpack_from(data, eocd_pos)
    if disk not in (0, 0xFFFF):
        raise ZipError("multi-disk archives are not supported")
    loc = eocd_pos - _EOCD64_LOC.size
    has64 = loc >= 0 and bytes(data[loc : loc + 4]) == b"PK\x06\x07"
    if has64:
        _, _, eocd64_pos, _ = _EOCD64_LOC.unpack_from(data, loc)
        if eocd64_pos + _EOCD64.size > size or bytes(data[eocd64_pos : eocd64_pos + 4]) != b"PK\x06\x06":
            raise ZipError("zip64 end-of-central-directory record missing")
        fields = _EOCD64.unpack_from(data, eocd64_pos)
        n_total, cd_size, cd_offset = fields[7], fields[8], fields[9]
        cd_end = eocd64_pos
    elif n_total == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        raise ZipError("zip64 locator missing")
    else:
        cd_end = eocd_pos
    delta = cd_end - cd_size - cd_offset  # bytes prepended to the archive (zipfile tolerates this)
    if delta < 0 or cd_offset + delta < 0:
        raise ZipError("central directory offset points outside the file")
    if delta:
        ctx.add(
            R.CONTAINER_TAMPERED,
            pointer,
            f"{delta} bytes precede the zip archive; loaders disagree on how to read it",
            confidence=0.6,
        )
    if n_total > ctx.limits.max_members:
        ctx.limit(pointer, f"zip declares {n_total} members (limit {ctx.limits.max_members})")
        n_total = ctx.limits.max_members
    entries: list[Entry] = []
    pos = cd_offset + delta
    for i in range(n_total):
        if pos + _CDH.size > size:
            raise ZipError(f"central directory entry {i} is truncated")
        (sig, _vm, _vn, flags, method, _t, _d, crc, csize, usize, nlen, xlen, clen, _ds, _ia, _ea, hoff) = (
            _CDH.unpack_from(data, pos)
        )
        if sig != b"PK\x01\x02":
            raise ZipError(f"bad central directory signature at entry {i}")
        raw_name = bytes(data[pos + 46 : pos + 46 + nlen])
        extra = bytes(data[pos + 46 + nlen : pos + 46 + nlen + xlen])
        usize, csize, hoff = _zip64_extra(extra, usize, csize, hoff)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        entries.append(Entry(name, raw_name, flags, method, crc, csize, usize, hoff + delta, index=i))
        pos += 46 + nlen + xlen + clen
        if i % 4096 == 0:
            ctx.check_time()
    _check_locals(ctx, data, entries, pointer)
    offsets = {e.header_offset for e in entries}
    if bytes(data[0:4]) == b"PK\x03\x04" and 0 not in offsets:
        ctx.add(
            R.CONTAINER_TAMPERED,
            pointer,
            "local file entries that the central directory does not list (hidden from some loaders)",
        )
    return entries


def _zip64_extra(extra: bytes, usize: int, csize: int, hoff: int) -> tuple[int, int, int]:
    p = 0
    while p + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, p)
        body = extra[p + 4 : p + 4 + ln]
        if tag == 1:
            q = 0
            if usize == 0xFFFFFFFF and q + 8 <= len(body):
                usize = struct.unpack_from("<Q", body, q)[0]
                q += 8
            if csize == 0xFFFFFFFF and q + 8 <= len(body):
                csize = struct.unpack_from("<Q", body, q)[0]
                q += 8
            if hoff == 0xFFFFFFFF and q + 8 <= len(body):
                hoff = struct.unpack_from("<Q", body, q)[0]
        p += 4 + ln
    return usize, csize, hoff


def _check_locals(ctx: ScanContext, data: Any, entries: list[Entry], pointer: str) -> None:
    size = len(data)
    names: dict[str, int] = {}
    for e in entries:
        ptr = join_pointer(pointer, e.name)
        if e.name in names:
            ctx.add(R.CONTAINER_TAMPERED, ptr, f"duplicate member name {e.name!r}: loaders pick different copies")
        names[e.name] = e.index
        # The encryption flag is judged when the member is read (dispatch._read_zip_member):
        # a lying flag on plaintext is tampering, a really encrypted member is not.
        if e.name.startswith(("/", "\\")) or ".." in e.name.replace("\\", "/").split("/"):
            ctx.add(R.PATH_TRAVERSAL, ptr, f"member name {e.name!r} escapes the archive")
        if e.header_offset + _LFH.size > size:
            ctx.add(R.CONTAINER_MALFORMED, ptr, "local header lies outside the file")
            continue
        (sig, _v, lflags, lmethod, _t, _d, lcrc, lcsize, lusize, lnlen, lxlen) = _LFH.unpack_from(data, e.header_offset)
        if sig != b"PK\x03\x04":
            ctx.add(R.CONTAINER_MALFORMED, ptr, "local header signature missing")
            continue
        lname = bytes(data[e.header_offset + 30 : e.header_offset + 30 + lnlen])
        e.data_offset = e.header_offset + 30 + lnlen + lxlen
        problems = []
        if lname != e.raw_name:
            problems.append("file name")
        if lmethod != e.method:
            problems.append("compression method")
        if (lflags & ~0x8) != (e.flags & ~0x8):
            problems.append("flags")
        if (
            not (lflags & 0x8)
            and (lcrc, lcsize, lusize) != (e.crc, e.csize, e.usize)
            and 0xFFFFFFFF
            not in (
                lcsize,
                lusize,
            )
        ):
            problems.append("crc/sizes")
        if problems:
            ctx.add(
                R.CONTAINER_TAMPERED,
                ptr,
                f"local header disagrees with central directory on {', '.join(problems)}",
            )
        if e.data_offset + e.csize > size:
            ctx.add(
                R.TENSOR_BOUNDS if "/data/" in e.name else R.CONTAINER_MALFORMED,
                ptr,
                f"member data ({e.csize} bytes at {e.data_offset}) runs past the end of the file ({size})",
            )
    spans = sorted((e.data_offset, e.data_offset + e.csize, e.name) for e in entries if e.data_offset >= 0)
    for (s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(spans):
        if s2 < e1 and e1 > s1:
            ctx.add(
                R.CONTAINER_TAMPERED,
                join_pointer(pointer, n2),
                f"member data overlaps {n1!r} (overlapping entries are a zip-bomb technique)",
            )


def read_member(ctx: ScanContext, data: Any, e: Entry, pointer: str, limit: int | None = None) -> bytes | None:
    """Member content as the loader would read it (CRC mismatch reported, not fatal)."""
    ptr = join_pointer(pointer, e.name)
    if e.data_offset < 0 or e.data_offset + e.csize > len(data):
        return None
    cap = ctx.limits.max_member_read if limit is None else limit
    raw = data[e.data_offset : e.data_offset + min(e.csize, cap if e.method == 0 else e.csize)]
    if e.method == 0:
        out = bytes(raw)
        complete = e.csize <= cap
        if not complete:
            ctx.limit(ptr, f"member of {e.csize} bytes is larger than the read limit {cap}")
    elif e.method in (8, 12, 14):
        # zipfile (np.load, Keras) inflates all three; PyTorch's miniz only deflate, but a
        # member the scanner skipped is one a different loader may still read.
        kind = {8: "deflate", 12: S.BZ2, 14: "zip-lzma"}[e.method]
        try:
            out, complete = decompress(ctx, raw, kind, limit=cap)
        except DecompressError as exc:
            ctx.add(R.CONTAINER_MALFORMED, ptr, str(exc))
            return None
        if not complete:
            ctx.limit(ptr, f"member inflates beyond the read limit {cap} or the expansion-ratio limit")
    else:
        ctx.add(R.CONTAINER_MALFORMED, ptr, f"unsupported compression method {e.method}; member unverified")
        return None
    if complete and (zlib.crc32(out) & 0xFFFFFFFF) != e.crc:
        ctx.add(
            R.CONTAINER_TAMPERED,
            ptr,
            "CRC-32 mismatch: the member was modified after the archive was written "
            "(PyTorch loads it anyway; zipfile-based scanners stop)",
        )
    return out
