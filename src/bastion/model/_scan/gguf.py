"""GGUF: bounded header parsing, tensor bounds, and chat-template analysis.

GGUF carries no code, but its `tokenizer.chat_template` is a Jinja2 template that
inference servers render; sandbox escapes walk `__class__`/`__globals__` up to
`os` (CVE-2024-34359 and kin). Templates are parsed, never rendered, and their
syntax tree is checked for attribute walks into Python internals.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
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


_ATTR_FILTERS = {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max", "join"}
_STR_FILTERS = {"lower", "upper", "string", "trim", "title", "capitalize", "reverse", "replace", "join", "format"}
_MAX_VALUES = 64
_MAX_LEN = 512


def check_template(ctx: ScanContext, source: str, pointer: str) -> None:
    """Parse a Jinja2 template (never render it) and flag attribute walks into internals.

    Names of attributes and subscript keys are judged by value, not by spelling: constant
    string expressions (`'__cla' ~ 'ss__'`, `'_'*2 + 'globals' + '_'*2`, `{% set %}` variables,
    filters such as `|lower`, `|join`, `|replace`) are evaluated symbolically to the set of
    strings they can take. A key or attribute name that is built from strings but cannot be
    evaluated fails closed as suspicious (high); keys that are plain variables never assigned a
    string (`messages[i]`, `loop.index0 - 1`) are ordinary indexing.
    """
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
    folder = _Folder(nodes)
    try:
        folder.collect(tree)
        _walk(ctx, pointer, folder, tree)
    except RecursionError:
        ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, "template expressions nest too deeply to evaluate")


def _walk(ctx: ScanContext, pointer: str, folder: _Folder, tree: Any) -> None:
    nodes = folder.n
    built = (nodes.Concat, nodes.Add, nodes.Mul, nodes.CondExpr)
    for count, node in enumerate(tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Const, *built))):
        if count % 4096 == 4095:
            ctx.check_time()
        if isinstance(node, nodes.Getattr):
            _judge(ctx, pointer, node.attr)
        elif isinstance(node, nodes.Getitem):
            _judge_key(ctx, pointer, folder, node.arg, "subscript")
        elif isinstance(node, nodes.Filter):
            if node.name == "attr" and node.args:
                _judge_key(ctx, pointer, folder, node.args[0], "|attr()", required=True)
            if node.name in _ATTR_FILTERS:
                for kw in node.kwargs:
                    if kw.key == "attribute":
                        _judge_key(ctx, pointer, folder, kw.value, f"|{node.name}(attribute=)", required=True)
                if node.name in ("selectattr", "rejectattr") and node.args:
                    _judge_key(ctx, pointer, folder, node.args[0], f"|{node.name}()", required=True)
                if node.name == "map" and len(node.args) >= 2 and folder.fold(node.args[0]) == {"attr"}:
                    _judge_key(ctx, pointer, folder, node.args[1], "|map('attr')", required=True)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and any(x in node.value for x in _INTERNAL):
            ctx.add(R.TEMPLATE_INJECTION, pointer, f"string constant names an internal: {printable(node.value, 60)!r}")
        if isinstance(node, (*built, nodes.Filter)):
            for value in folder.fold(node) or ():
                if any(x in value for x in _INTERNAL):
                    ctx.add(R.TEMPLATE_INJECTION, pointer, f"string expression builds an internal: {value[:60]!r}")


def _judge_key(ctx: ScanContext, pointer: str, folder: _Folder, key: Any, how: str, *, required: bool = False) -> None:
    """A subscript key or attribute-name argument: evaluated when constant, else fail closed."""
    values = folder.fold(key)
    if values is not None:
        for value in values:
            _judge(ctx, pointer, value)
        return
    if required or folder.builds_string(key):
        ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, f"{how} with a computed name that cannot be evaluated")


def _judge(ctx: ScanContext, pointer: str, attr: str) -> None:
    if attr in _INTERNAL or (attr.startswith("__") and attr.endswith("__")):
        ctx.add(R.TEMPLATE_INJECTION, pointer, f"attribute walk to {printable(attr, 60)!r}")
    elif attr in _SINKS:
        ctx.add(R.TEMPLATE_INJECTION, pointer, f"attribute walk to {attr!r}", confidence=0.8)
    elif attr.startswith("_"):
        ctx.add(R.TEMPLATE_SUSPICIOUS, pointer, f"access to private attribute {printable(attr, 60)!r}", confidence=0.6)


class _Folder:
    """Symbolic evaluation of constant string expressions in a Jinja2 syntax tree.

    `fold` returns every string an expression can take (bounded), or None when it is not a
    constant string expression. Variables assigned with `{% set %}` (also block sets and
    namespace attributes) and `{% for %}` over literal lists carry the union of all the
    values assigned to them anywhere, which over-approximates every execution order.
    """

    def __init__(self, nodes: Any) -> None:
        self.n = nodes
        self.env: dict[str, set[str]] = {}
        self.dynamic: set[str] = set()  # names assigned a string-built value that does not fold
        self._memo: dict[int, set[str] | None] = {}  # per node, once the variables are final
        self._final = False

    def collect(self, tree: Any) -> None:
        n = self.n
        for _ in range(2):  # a second pass lets later assignments feed earlier references
            for node in tree.find_all((n.Assign, n.AssignBlock, n.For)):
                if isinstance(node, n.For):
                    target, expr = node.target, node.iter
                    values = self._items(expr)
                else:
                    target = node.target
                    expr = node.node if isinstance(node, n.Assign) else node
                    values = self._block(node) if isinstance(node, n.AssignBlock) else self.fold(expr)
                name = self._name(target)
                if name is None:
                    continue
                if values is not None:
                    merged = self.env.setdefault(name, set())
                    merged |= set(list(values)[: _MAX_VALUES - len(merged)]) if len(merged) < _MAX_VALUES else set()
                elif self.builds_string(expr):
                    self.dynamic.add(name)
        self._final = True

    def _name(self, target: Any) -> str | None:
        n = self.n
        if isinstance(target, n.Name):
            return str(target.name)
        if isinstance(target, n.NSRef):
            return f"{target.name}.{target.attr}"
        return None

    def _block(self, node: Any) -> set[str] | None:
        n = self.n
        parts: list[Any] = []
        for out in node.body:
            if not isinstance(out, n.Output):
                return None
            parts.extend(out.nodes)
        return self._concat(parts)

    def _items(self, expr: Any) -> set[str] | None:
        n = self.n
        if isinstance(expr, n.List | n.Tuple):
            out: set[str] = set()
            for item in expr.items:
                v = self.fold(item)
                if v is None:
                    return None
                out |= v
            return out
        return None

    def builds_string(self, node: Any) -> bool:
        """Whether an expression involves string building (so an unknown result is suspicious)."""
        n = self.n
        for sub in [node, *node.find_all(n.Expr)] if isinstance(node, n.Node) else []:
            if isinstance(sub, n.Concat | n.Filter | n.Call | n.TemplateData):
                return True
            if isinstance(sub, n.Const) and isinstance(sub.value, str):
                return True
            if isinstance(sub, n.Name) and (sub.name in self.env or sub.name in self.dynamic):
                return True
        return False

    def fold(self, node: Any) -> set[str] | None:
        """Every string the expression can evaluate to, or None (memoised: linear in the tree)."""
        if not self._final:
            return self._fold(node)
        key = id(node)
        if key not in self._memo:
            self._memo[key] = self._fold(node)
        value = self._memo[key]
        return None if value is None else set(value)

    def _fold(self, node: Any) -> set[str] | None:
        n = self.n
        if isinstance(node, n.Const):
            return {node.value} if isinstance(node.value, str) else None
        if isinstance(node, n.TemplateData):
            return {node.data}
        if isinstance(node, n.Name):
            if node.name in self.dynamic:
                return None
            return set(self.env[node.name]) if node.name in self.env else None
        if isinstance(node, n.Getattr) and isinstance(node.node, n.Name):
            key = f"{node.node.name}.{node.attr}"
            return set(self.env[key]) if key in self.env and key not in self.dynamic else None
        if isinstance(node, n.Concat):
            return self._concat(node.nodes)
        if isinstance(node, n.Add):
            return self._product(self.fold(node.left), self.fold(node.right))
        if isinstance(node, n.Mul):
            return self._repeat(node.left, node.right) or self._repeat(node.right, node.left)
        if isinstance(node, n.CondExpr):
            a, b = self.fold(node.expr1), self.fold(node.expr2) if node.expr2 is not None else {""}
            return None if a is None or b is None else self._cap(a | b)
        if isinstance(node, n.Filter) and node.node is not None:
            return self._filter(node)
        return None

    def _concat(self, parts: list[Any]) -> set[str] | None:
        n = self.n
        out: set[str] | None = {""}
        for part in parts:
            if isinstance(part, n.Const) and isinstance(part.value, int | float) and not isinstance(part.value, bool):
                value: set[str] | None = {str(part.value)}
            else:
                value = self.fold(part)
            out = self._product(out, value)
            if out is None:
                return None
        return out

    def _product(self, a: set[str] | None, b: set[str] | None) -> set[str] | None:
        if a is None or b is None:
            return None
        return self._cap({x + y for x in a for y in b})

    def _repeat(self, text: Any, count: Any) -> set[str] | None:
        n = self.n
        values = self.fold(text)
        if values is None or not (isinstance(count, n.Const) and isinstance(count.value, int)):
            return None
        times = max(0, min(int(count.value), _MAX_LEN))
        return self._cap({v * times for v in values})

    def _filter(self, node: Any) -> set[str] | None:
        n = self.n
        name = node.name
        if name not in _STR_FILTERS:
            return None
        base = self._items(node.node) if name == "join" else self.fold(node.node)
        if base is None:
            return None
        args = [self.fold(a) for a in node.args]
        if any(a is None for a in args):
            return None
        if name == "join":
            if not isinstance(node.node, n.List | n.Tuple) or len(args) > 1:
                return None
            seps = args[0] if args else {""}
            if seps is None or len(seps) != 1:
                return None
            sep = n.Const(next(iter(seps)))
            parts: list[Any] = []
            for i, item in enumerate(node.node.items):
                parts.extend([sep, item] if i else [item])
            return self._concat(parts)
        if name == "replace":
            if len(args) < 2:
                return None
            return self._cap({v.replace(o, r) for v in base for o in args[0] or () for r in args[1] or ()})
        funcs: dict[str, Callable[[str], str]] = {
            "lower": str.lower, "upper": str.upper, "string": str, "trim": str.strip, "title": str.title,
            "capitalize": str.capitalize, "reverse": lambda v: v[::-1],
        }  # fmt: skip
        fn = funcs.get(name)
        return None if fn is None else self._cap({fn(v) for v in base})

    @staticmethod
    def _cap(values: set[str]) -> set[str] | None:
        if len(values) > _MAX_VALUES or any(len(v) > _MAX_LEN for v in values):
            return None
        return values
