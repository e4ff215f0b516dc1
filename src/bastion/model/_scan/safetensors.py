"""safetensors header verification, mirroring the checks of the reference loader.

safetensors cannot execute code, so what matters is that the header tells the
truth: its size is bounded, every tensor's byte range lies inside the data
section, ranges do not overlap, they cover the data section, and each range's
length equals shape x dtype size. A header that lies is how a tampered file
smuggles data past a loader that trusts offsets (over-reads, aliasing tensors).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan.context import ScanContext

MAX_HEADER = 100_000_000  # the reference implementation's limit
DTYPE_SIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1,
    "F6_E3M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8,
    "U64": 8, "F64": 8, "C64": 8, "C128": 16,
}  # fmt: skip


def scan_safetensors(ctx: ScanContext, data: Any, pointer: str) -> None:
    size = len(data)
    if size < 8:
        ctx.add(R.CONTAINER_MALFORMED, pointer, "safetensors file shorter than its 8-byte header length")
        return
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > MAX_HEADER:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"header length {n} exceeds the {MAX_HEADER}-byte limit")
        return
    if 8 + n > size:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"header length {n} runs past the end of the file ({size})")
        return
    raw = bytes(data[8 : 8 + n])
    try:
        pairs = json.loads(raw.decode("utf-8"), object_pairs_hook=lambda kv: kv)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"header is not valid JSON: {str(exc)[:80]}")
        return
    if not isinstance(pairs, list):
        ctx.add(R.CONTAINER_MALFORMED, pointer, "header is not a JSON object")
        return
    seen: set[str] = set()
    spans: list[tuple[int, int, str]] = []
    data_len = size - 8 - n
    for name, info in pairs:
        if name in seen:
            ctx.add(R.CONTAINER_TAMPERED, f"{pointer}#{name}", f"duplicate tensor name {name!r}")
        seen.add(name)
        if name == "__metadata__":
            if not isinstance(info, list) or not all(isinstance(v, str) for _, v in info):
                ctx.add(R.CONTAINER_MALFORMED, f"{pointer}#__metadata__", "metadata must map strings to strings")
            continue
        info_d = dict(info) if isinstance(info, list) else None
        where = f"{pointer}#{name}"
        if info_d is None or set(info_d) - {"dtype", "shape", "data_offsets"}:
            ctx.add(R.CONTAINER_MALFORMED, where, "tensor entry has unexpected structure")
            continue
        dtype, shape, offs = info_d.get("dtype"), info_d.get("shape"), info_d.get("data_offsets")
        if dtype not in DTYPE_SIZE:
            ctx.add(R.TENSOR_BOUNDS, where, f"unknown dtype {str(dtype)[:20]!r}")
            continue
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            ctx.add(R.TENSOR_BOUNDS, where, "shape must be a list of non-negative integers")
            continue
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offs)
            or offs[0] > offs[1]
        ):
            ctx.add(R.TENSOR_BOUNDS, where, "data_offsets must be [begin, end] with begin <= end")
            continue
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel * DTYPE_SIZE[dtype]
        if dtype in ("F4",):
            nbytes = (numel + 1) // 2
        elif dtype in ("F6_E2M3", "F6_E3M2"):
            nbytes = (numel * 6 + 7) // 8
        if offs[1] - offs[0] != nbytes:
            ctx.add(
                R.TENSOR_BOUNDS,
                where,
                f"{dtype}{shape} needs {nbytes} bytes but data_offsets span {offs[1] - offs[0]}",
            )
        if offs[1] > data_len:
            ctx.add(R.TENSOR_BOUNDS, where, f"data_offsets end {offs[1]} beyond the data section ({data_len})")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin < cursor:
            ctx.add(R.TENSOR_BOUNDS, f"{pointer}#{name}", "tensor byte range overlaps another tensor")
        elif begin > cursor:
            ctx.add(R.TENSOR_BOUNDS, f"{pointer}#{name}", f"{begin - cursor} unreferenced bytes before tensor")
        cursor = max(cursor, end)
    if spans and cursor < data_len:
        ctx.add(
            R.TENSOR_BOUNDS,
            pointer,
            f"{data_len - cursor} bytes after the last tensor are not referenced",
            confidence=0.7,
        )
