"""NumPy `.npy` headers: bounded literal parsing, object arrays analysed as pickles.

`np.load` refuses object arrays unless `allow_pickle=True`; many pipelines set it,
and then the array body is a pickle stream that runs on load.
"""

from __future__ import annotations

import ast
import struct
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan._pickle.analyser import PickleAnalyser
from bastion.model._scan.context import ScanContext, join_pointer


def scan_npy(ctx: ScanContext, data: Any, pointer: str) -> None:
    size = len(data)
    if size < 10:
        ctx.add(R.CONTAINER_MALFORMED, pointer, "truncated .npy header")
        return
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", data, 8)
        start = 10
    elif major in (2, 3):
        if size < 12:
            ctx.add(R.CONTAINER_MALFORMED, pointer, "truncated .npy header")
            return
        (hlen,) = struct.unpack_from("<I", data, 8)
        start = 12
    else:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"unknown .npy format version {major}")
        return
    if hlen > 1 << 20 or start + hlen > size:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f".npy header length {hlen} is out of bounds")
        return
    text = bytes(data[start : start + hlen]).decode("utf-8" if major == 3 else "latin-1", "replace")
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        ctx.add(R.CONTAINER_MALFORMED, pointer, ".npy header is not a Python literal")
        return
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        ctx.add(R.CONTAINER_MALFORMED, pointer, ".npy header lacks descr/fortran_order/shape")
        return
    body = start + hlen
    descr, shape = header["descr"], header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        ctx.add(R.TENSOR_BOUNDS, pointer, "shape must be a tuple of non-negative integers")
        return
    try:
        import numpy
        from numpy.lib import format as npformat

        dtype = npformat.descr_to_dtype(descr)
    except Exception:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"unparseable dtype descriptor {str(descr)[:40]!r}")
        return
    if dtype.hasobject:
        ctx.add(R.OBJECT_ARRAY, pointer, f"object array {tuple(shape)}: loading it unpickles its elements")
        PickleAnalyser(ctx, join_pointer(pointer, "body")).analyse(data, body)
        return
    count = int(numpy.prod(shape, dtype=object)) if shape else 1
    need = count * dtype.itemsize
    if body + need > size:
        ctx.add(R.TENSOR_BOUNDS, pointer, f"array needs {need} bytes but only {size - body} follow the header")
