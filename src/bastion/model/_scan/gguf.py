"""GGUF: bounded header parsing, tensor bounds, and chat-template analysis.

GGUF carries no code, but its `tokenizer.chat_template` is a Jinja2 template that
inference servers render; sandbox escapes walk `__class__`/`__globals__` up to
`os` (CVE-2024-34359 and kin). Templates are parsed, never rendered, and their
syntax tree is checked for attribute walks into Python internals.
"""

from __future__ import annotations

import itertools
import struct
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan.context import ScanContext, join_pointer, printable

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# ggml type -> (block size in elements, bytes per block)
GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}  # fmt: skip
_MAX_STRING = 64 * 1024**2
_MAX_ITEMS = 50_000_000


class _Bad(Exception):
    pass


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.pos = 0
        self.size = len(data)

    def take(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise _Bad("truncated GGUF header")
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += n
        return v

    def string(self) -> bytes:
        n = self.take("<Q")
        if n > _MAX_STRING or self.pos + n > self.size:
            raise _Bad(f"string of {n} bytes is out of bounds")
        s = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return s

    def value(self, vtype: int, ctx: ScanContext, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            if depth > 2:
                raise _Bad("nested GGUF arrays deeper than 2")
            itype = self.take("<I")
            n = self.take("<Q")
            if n > _MAX_ITEMS:
                raise _Bad(f"array of {n} items is out of bounds")
            if itype in _SCALARS:
                width = struct.calcsize(_SCALARS[itype])
                if self.pos + n * width > self.size:
                    raise _Bad("array runs past the end of the file")
                self.pos += n * width
                return None
            for i in range(n):
                if i % 65536 == 0:
                    ctx.check_time()
                self.value(itype, ctx, depth + 1)
            return None
        raise _Bad(f"unknown GGUF value type {vtype}")


def scan_gguf(ctx: ScanContext, data: Any, pointer: str) -> None:
    r = _Reader(data)
    try:
        r.take("<4s")
        version = r.take("<I")
        if version not in (1, 2, 3):
            raise _Bad(f"unsupported GGUF version {version}")
        n_tensors = r.take("<Q")
        n_kv = r.take("<Q")
        if n_kv > 1_000_000 or n_tensors > 10_000_000:
            raise _Bad(f"implausible counts ({n_kv} keys, {n_tensors} tensors)")
        alignment = 32
        for _ in range(n_kv):
            key = r.string().decode("utf-8", "replace")
            vtype = r.take("<I")
            value = r.value(vtype, ctx)
            if key == "general.alignment" and isinstance(value, int) and value > 0:
                alignment = value
            if key.startswith("tokenizer.chat_template") and isinstance(value, bytes):
                check_template(ctx, value.decode("utf-8", "replace"), join_pointer(pointer, key))
        tensors = []
        for _ in range(n_tensors):
            name = r.string().decode("utf-8", "replace")
            n_dims = r.take("<I")
            if n_dims > 8:
                raise _Bad(f"tensor {name!r} has {n_dims} dimensions")
            dims = [r.take("<Q") for _ in range(n_dims)]
            ttype = r.take("<I")
            offset = r.take("<Q")
            tensors.append((name, dims, ttype, offset))
            ctx.check_time() if len(tensors) % 4096 == 0 else None
    except _Bad as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, str(exc))
        return
    data_start = (r.pos + alignment - 1) // alignment * alignment
    spans = []
    for name, dims, ttype, offset in tensors:
        where = join_pointer(pointer, f"tensor:{printable(name, 60)}")
        numel = 1
        for d in dims:
            numel *= d
        block = GGML_BLOCKS.get(ttype)
        if block is None:
            ctx.add(R.TENSOR_BOUNDS, where, f"unknown ggml type {ttype}; size cannot be verified", confidence=0.6)
            continue
        if numel % block[0]:
            ctx.add(R.TENSOR_BOUNDS, where, f"{numel} elements is not a multiple of the block size {block[0]}")
            continue
        nbytes = numel // block[0] * block[1]
        if offset % alignment:
            ctx.add(R.TENSOR_BOUNDS, where, f"offset {offset} is not aligned to {alignment}")
        if data_start + offset + nbytes > len(data):
            ctx.add(R.TENSOR_BOUNDS, where, f"tensor data ({nbytes} bytes at {offset}) runs past the end of the file")
        spans.append((offset, offset + nbytes, name))
    spans.sort()
    for (s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(spans):
        if s2 < e1 and s1 < e1:
            ctx.add(
                R.TENSOR_BOUNDS, join_pointer(pointer, f"tensor:{printable(n2, 60)}"), f"overlaps {printable(n1, 60)!r}"
            )


_INTERNAL = {
    "__globals__", "__builtins__", "__import__", "__class__", "__mro__", "__base__", "__bases__",
    "__subclasses__", "__init__", "__dict__", "__code__", "__func__", "__self__", "__getattribute__",
    "__reduce__", "__reduce_ex__", "func_globals", "f_globals", "f_back", "gi_frame", "tb_frame",
    "_TemplateReference__context", "__loader__", "__spec__",
}  # fmt: skip
_SINKS = {"os", "popen", "system", "subprocess", "eval", "exec", "import_module", "sys", "builtins", "modules"}
_FUNC_GADGETS = {"cycler", "joiner", "namespace", "lipsum", "range", "dict", "self", "request", "config"}


def check_template(ctx: ScanContext, source: str, pointer: str) -> None:
    """Parse a Jinja2 template (never render it) and flag attribute walks into internals."""
    try:
        from jinja2 import nodes
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, "jinja2 is not installed; template not verified")
        return
    env = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])
    try:
        tree = env.parse(source)
    except Exception as exc:
        ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, f"template does not parse: {printable(str(exc), 80)}")
        return
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Const, nodes.Name)):
        attr: str | None = None
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            attr = node.arg.value
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Concat | nodes.Add | nodes.Filter):
            ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, "subscript with a computed key (attribute-name building)")
            continue
        elif isinstance(node, nodes.Filter) and node.name in ("attr", "map") and node.args:
            arg = node.args[0] if node.name == "attr" else None
            if node.name == "attr":
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    attr = arg.value
                else:
                    ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, "|attr() with a computed attribute name")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            v = node.value
            if any(x in v for x in _INTERNAL):
                ctx.add(R.TEMPLATE_INJECTION, pointer, f"string constant names an internal: {printable(v, 60)!r}")
            continue
        elif isinstance(node, nodes.Name):
            continue
        if attr is None:
            continue
        if attr in _INTERNAL or (attr.startswith("__") and attr.endswith("__")):
            ctx.add(R.TEMPLATE_INJECTION, pointer, f"attribute walk to {attr!r}")
        elif attr in _SINKS:
            ctx.add(R.TEMPLATE_INJECTION, pointer, f"attribute walk to {attr!r}", confidence=0.8)
        elif attr.startswith("_"):
            ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, f"access to private attribute {attr!r}", confidence=0.6)
