"""Symbolic execution of a pickle opcode stream, without ever unpickling it.

The interpreter mirrors `pickle.Unpickler` opcode by opcode (stack, mark stack,
memo), but pushes symbolic values: a GLOBAL becomes a `Global` name, a REDUCE a
`Call` record. That lets it follow what real loaders do and scanners that only
list GLOBAL opcodes miss: callables fetched from the memo, `getattr` /
`import_module` / `pkgutil.resolve_name` / `operator.attrgetter` chains, payloads
nested through `pickle.loads`, and joblib's arrays that interrupt the stream.

Speed matters (multi-GiB checkpoints, 70 MB op-dense pickles), so the hot opcodes
are handled inline in one loop with locals; rare ones go through `_slow`.
Memory is bounded: the stack, the memo and the items kept inside containers have
caps, and a cap that bites is reported rather than silently dropping coverage.
"""

from __future__ import annotations

import _compat_pickle
import re
import struct
from collections import ChainMap
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan._pickle import policy
from bastion.model._scan._pickle.values import (
    UNKNOWN,
    BigBytes,
    Call,
    Global,
    ModuleRef,
    Persistent,
    Unknown,
    render,
    render_args,
)
from bastion.model._scan.context import LimitReached, ScanContext, join_pointer, printable

_u8 = struct.Struct("<B").unpack_from
_u16 = struct.Struct("<H").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from
_f64 = struct.Struct(">d").unpack_from

_BIG = 1 << 16  # strings/bytes longer than this are kept as windows, not copied
_LIST_KEEP = 4096  # items the model keeps per container
_CHECK_EVERY = 1 << 18  # bytes between time checks

_JOBLIB_WRAPPERS = {
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
}
_TENSOR_REBUILDERS = {
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_qtensor",
}

_PROTO_MAX = 5
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class Malformed(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


@dataclass(slots=True)
class PickleResult:
    end: int = 0  # offset just past STOP (or where parsing stopped)
    ok: bool = True
    globals: list[str] = field(default_factory=list)
    persistent_ids: list[Any] = field(default_factory=list)
    tensor_views: list[tuple[Any, ...]] = field(default_factory=list)


_MISSING: Any = object()
# What GET yields for a key the loader has but whose value was not kept (past the memo cap): BUILD
# cannot verify such a state (a planted hook could hide there), so it says so.
DROPPED = Unknown("memo value not kept past the memo cap")
_INTERESTING = frozenset({str, Global, Call, ModuleRef})


def _worth_keeping(value: Any) -> bool:
    """Past the memo cap, keep only values that can matter to callable resolution."""
    t = type(value)
    return t in _INTERESTING and not (t is str and len(value) > 256)


class Memo:
    """The loader's memo, key for key, with values kept only where they can matter.

    `pickle._Unpickler` numbers MEMOIZE as `len(memo)`, and `len(memo)` counts every
    key ever set by MEMOIZE, PUT, BINPUT or LONG_BINPUT (a re-PUT key counts once).
    The keys are therefore tracked exactly, in O(1) memory for the usual streams:
    every key below `dense` is set and `sparse` holds the keys set above it. Values
    are kept for the first `keep` keys, afterwards only those `_worth_keeping`; a GET
    of a key whose value was not kept yields UNKNOWN, a GET of a key the loader does
    not have is malformed. Dropping the key itself (as past 1,000,000 entries before)
    shifted every later MEMOIZE index, so GET saw other values than the loader did.
    """

    __slots__ = ("dense", "keep", "sparse", "values")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.values: MutableMapping[int, Any] = {}
        self.dense = 0
        self.sparse: set[int] = set()

    def __len__(self) -> int:
        return self.dense + len(self.sparse)

    def has(self, key: int) -> bool:
        return 0 <= key < self.dense or key in self.sparse

    def put(self, key: int, value: Any) -> None:
        if key >= self.dense:
            if key == self.dense:
                dense = key + 1
                sparse = self.sparse
                while sparse and dense in sparse:
                    sparse.discard(dense)
                    dense += 1
                self.dense = dense
            else:
                self.sparse.add(key)
        values = self.values
        if key in values or len(values) < self.keep or _worth_keeping(value):
            values[key] = value

    def get(self, key: int, pos: int, opname: str) -> Any:
        value = self.values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if self.has(key):
            return DROPPED
        raise Malformed(pos, f"{opname} of missing memo entry {key}")

    def fork(self) -> Memo:
        """A copy for a shadow run, which must not write into this memo; big ones are layered."""
        twin = Memo(self.keep)
        twin.values = dict(self.values) if len(self.values) <= 65536 else ChainMap({}, self.values)
        twin.dense = self.dense
        twin.sparse = set(self.sparse)
        return twin


# Implied object count (a value counted once per path that reaches it) above which a
# pickle is an expansion bomb; and the factor by which it must also exceed the bytes read,
# so a large genuine graph that shares a few containers is not one.
_EXPANSION_LIMIT = 10_000_000
_EXPANSION_PER_BYTE = 16
_WEIGHED = frozenset({tuple, list, dict, Call})
# Values the loader certainly cannot call (REDUCE on them raises TypeError).
_NOT_CALLABLE = frozenset({str, bytes, int, float, bool, type(None), tuple, list, dict, BigBytes})


def _maybe_str(value: Any) -> bool:
    """Could this symbolic value be a str at load time (STACK_GLOBAL requires str operands)?"""
    return type(value) is str or isinstance(value, Unknown) or (isinstance(value, BigBytes) and value.is_text)


# Keys the symbolic dicts keep: scalars only. Hashing a symbolic tuple costs what hashing the real
# one does, and a shared nested tuple used as a key would hang the analyser as it hangs the loader.
_KEYS = frozenset({str, int, bytes, float, bool, type(None)})
_ONE = (1, None)

# Keys a symbolic dict keeps past its item caps: what BUILD/state checks look for (planted method
# hooks, scipy's exec'd template, joblib's sidecar name). Without this a state padded with 4,096 junk
# items (or a stream past `max_kept_items`) hid them. Bounded: a dict holds each key once.
_WATCHED = policy.HOOK_STATE_KEYS | {"_parse_arg_template", "filename", "append", "extend", "add"}


def _keep_watched(target: dict[Any, Any], items: list[Any], start: int) -> None:
    """Store the watched keys among `items[start:]` (key, value pairs) that the caps dropped."""
    for i in range(start, len(items) - 1, 2):
        k = items[i]
        if type(k) is str and k in _WATCHED:
            target[k] = items[i + 1]


class PickleAnalyser:
    """Analyses one pickle (and what it nests) into findings on a `ScanContext`.

    `joblib` enables joblib's in-stream array layout (arrays written between
    opcodes); `torchscript` allows the names TorchScript's own unpickler resolves.
    """

    def __init__(
        self,
        ctx: ScanContext,
        pointer: str = "",
        *,
        joblib: bool = False,
        torchscript: bool = False,
        depth: int = 0,
    ) -> None:
        self.ctx = ctx
        self.pointer = pointer
        self.joblib = joblib
        self.torchscript = torchscript
        self.depth = depth
        self.result = PickleResult()
        # Deferred callables (policy.DEFERRED) -> references not yet consumed by a direct call.
        self._pending: dict[int, tuple[Global, int]] = {}
        self._kept = 0
        self._seen_globals: set[str] = set()
        self.proto = 0
        # Expansion tracking (billion laughs): id -> (implied object count, the object, kept alive
        # so its id is not reused). Only containers reached more than once (GET, DUP) or built from
        # such are entered, so a stream without sharing never pays for it.
        self._weights: dict[int, tuple[int, Any]] = {}
        self._bomb_reported = False
        self._start = 0
        # A shadow run (what plain pickle.load makes of joblib's array bytes) stops where the real
        # loader certainly raises: nothing after that point runs, so nothing after it is a finding.
        self.shadow = False
        self._shadow_spent = 0  # [containers] bytes re-read by shadow plain-load runs

    # ------------------------------------------------------------------ findings
    def _ptr(self, offset: int) -> str:
        return join_pointer(self.pointer, f"offset:{offset}")

    def _note(self, g: Global, evidence: str | None = None) -> None:
        """Classify a callable reference and record a finding unless it is allowed."""
        qualified = g.qualified
        if qualified not in self._seen_globals and len(self.result.globals) < 10_000:
            self._seen_globals.add(qualified)
            self.result.globals.append(qualified)
        verdict = policy.classify(g.module, g.name, torchscript=self.torchscript)
        if verdict is policy.Verdict.ALLOWED:
            return
        text = evidence or qualified
        if g.via:
            text = f"{text} (via {g.via})"
        if verdict is policy.Verdict.DANGEROUS:
            self.ctx.add(
                R.DANGEROUS_CALLABLE,
                self._ptr(g.offset),
                text,
                confidence=0.95,
                properties={"callable": qualified},
            )
        else:
            self.ctx.add(
                R.UNKNOWN_CALLABLE,
                self._ptr(g.offset),
                text,
                confidence=0.7,
                properties={"callable": qualified},
            )

    def _unresolved(self, offset: int, evidence: str, dangerous: bool = False) -> None:
        if dangerous:
            self.ctx.add(R.DANGEROUS_CALLABLE, self._ptr(offset), evidence, confidence=0.9)
        else:
            self.ctx.add(R.UNRESOLVED_CALLABLE, self._ptr(offset), evidence, confidence=0.8)

    # ------------------------------------------------------------------ globals
    def _make_global(self, module: Any, name: Any, offset: int, opname: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            if self.shadow and not (_maybe_str(module) and _maybe_str(name)):
                raise Malformed(offset, f"{opname} with non-string operands: the loader raises here")
            self._unresolved(
                offset,
                f"{opname} with non-string operands {render(module)}, {render(name)}",
                dangerous=isinstance(module, Call | Global) or isinstance(name, Call | Global),
            )
            return UNKNOWN
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        g = Global(module, name, offset)
        key = policy.call_key(module, name)
        if key in policy.DEFERRED:
            # Decided when called: getattr(AllowedEnum, 'MEMBER') is how enums pickle, a loader by its
            # payload. Each reference must be called directly (see _reference / _settle_pending).
            g.deferred = True
            self._pending[id(g)] = (g, 1)
            if key in policy.LOADERS:
                self._note(g)  # a loader is judged by name as well (pickle.loads is dangerous anyway)
        else:
            self._note(g)
        return g

    def _defer(self, g: Global) -> Global:
        """A deferred callable produced by getattr & co. (not GLOBAL): its one reference must be called, too."""
        if policy.call_key(g.module, g.name) in policy.DEFERRED:
            g.deferred = True
            self._pending[id(g)] = (g, 1)
        return g

    def _append_hook(self, target: Call, names: tuple[str, ...], pos: int) -> None:
        """APPEND(S)/ADDITEMS on an object that is not a list/set: the loader calls `target.<name>(items)`.

        The method is looked up on the instance, so a BUILD that put `append`/`extend`/`add` in its
        __dict__ makes the loader call the planted value with the pickle's items.
        """
        state = target.state
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        planted = sorted({n for part in parts if isinstance(part, dict) for n in names if n in part})
        if planted:
            self._unresolved(
                pos,
                f"the loader calls {render(target)}.{planted[0]}(...) for APPEND/ADDITEMS, and BUILD put "
                f"{', '.join(planted)} in that instance's __dict__",
            )

    def _reference(self, g: Global) -> None:
        """GET/DUP pushed another reference to a deferred callable: it, too, must be called directly."""
        entry = self._pending.get(id(g))
        self._pending[id(g)] = (g, entry[1] + 1 if entry else 1)

    def _consume(self, g: Global) -> None:
        """A direct call (REDUCE & co.) used up one reference to a deferred callable."""
        entry = self._pending.get(id(g))
        if entry is None:
            return
        if entry[1] <= 1:
            del self._pending[id(g)]
        else:
            self._pending[id(g)] = (g, entry[1] - 1)

    def _settle_pending(self) -> None:
        """References to deferred callables that no direct call consumed: handed to something else."""
        for g, _count in self._pending.values():
            if policy.call_key(g.module, g.name) in policy.LOADERS:
                self.ctx.add(
                    R.DANGEROUS_CALLABLE,
                    self._ptr(g.offset),
                    f"{g.qualified} passed on as a value instead of being called: whatever calls it "
                    "deserializes a payload the scanner cannot see",
                    confidence=0.9,
                    properties={"callable": g.qualified},
                )
            else:
                self._note(g, f"{g.qualified} referenced without a resolvable call")
        self._pending.clear()

    def _resolve_attr(self, obj: Any, attr: Any, offset: int, how: str) -> Any:
        if not isinstance(attr, str):
            self._unresolved(offset, f"{how} with a computed attribute name {render(attr)}", dangerous=True)
            return UNKNOWN
        if isinstance(obj, Global):
            # Named exactly as `Class.attr`: allowed only if that dotted name is listed (ZoneInfo._unpickle),
            # never because `Class` is (pathlib.Path.write_text, DataFrame.eval).
            g = Global(obj.module, f"{obj.name}.{attr}", offset, via=how)
        elif isinstance(obj, ModuleRef):
            g = Global(obj.module, attr, offset, via=how)
        elif (
            isinstance(obj, Call)
            and isinstance(obj.func, Global)
            and not obj.func.via
            and f"{policy.canonical(obj.func.module, obj.func.name)}.{attr}" in policy.BOUND_METHODS
        ):
            # A listed bound method of an instance (scipy's vectorize(self._entropy)): a value to
            # keep, not a callable: calling it is a computed call and flagged.
            return Unknown(f"bound method {obj.func.qualified}.{attr}")
        elif (
            isinstance(obj, Call)
            and isinstance(obj.func, Global)
            and policy.call_key(obj.func.module, obj.func.name) in policy.IMPORTERS
            and isinstance(obj.args, tuple)
            and obj.args
            and isinstance(obj.args[0], str)
        ):
            g = Global(obj.args[0], attr, offset, via=how)
        else:
            bad = policy.classify("?", attr) is policy.Verdict.DANGEROUS
            self._unresolved(
                offset, f"{how}: attribute {attr!r} of {render(obj)}", dangerous=bad or attr.startswith("_")
            )
            return UNKNOWN
        self._note(g, f"{g.qualified}")
        return self._defer(g)

    # ------------------------------------------------------------------ expansion (billion laughs)
    def _shared(self, value: Any, pos: int) -> None:
        """`value` is referenced again (GET/DUP): from now on it counts once per reference."""
        weights = self._weights
        if type(value) in _WEIGHED and id(value) not in weights and len(weights) < 1_000_000:
            size = len(value.args) if type(value) is Call and isinstance(value.args, tuple) else 0
            weights[id(value)] = (1 + (size if type(value) is Call else len(value)), value)

    def _grow(self, target: Any, items: Any, pos: int) -> None:
        """APPEND(S)/SETITEM(S) into `target`: its implied size grows by what the items imply."""
        known = self._weights.get(id(target))
        base = known[0] if known else (len(target) + 1 if type(target) in _WEIGHED and type(target) is not Call else 1)
        self._weigh(target, items, pos, base)

    def _weigh(self, new: Any, items: Any, pos: int, base: int = 1) -> None:
        """Record `new`'s implied size when it is built from shared (weighed) items.

        Linear in the items: each item is looked up once; a container reached through
        itself (a list appended to itself) does not count its own weight again.
        """
        weights = self._weights
        total = 0
        count = 0
        for item in items:
            count += 1
            if item is not new:
                total += weights.get(id(item), _ONE)[0]
        if total <= count:
            return  # nothing shared inside: the stream itself bounds it
        total = min(total + base, 2 * _EXPANSION_LIMIT + 1)
        weights[id(new)] = (total, new)
        if total > _EXPANSION_LIMIT and not self._bomb_reported:
            read = max(pos - self._start, 1)
            if total > _EXPANSION_PER_BYTE * read:
                self._bomb_reported = True
                self.ctx.add(
                    R.RESOURCE_LIMIT,
                    self._ptr(pos),
                    f"memo/DUP references expand {read} bytes of pickle into more than {_EXPANSION_LIMIT:,} "
                    "implied objects (billion-laughs pickle): hashing, copying or serialising the loaded "
                    "object, or loading it where it is used as a set member or dict key, does not finish",
                    confidence=0.9,
                    title="Pickle builds an exponentially shared object graph (billion laughs)",
                )

    # ------------------------------------------------------------------ calls
    def _call(self, func: Any, args: Any, offset: int, opname: str) -> Any:
        result = self._call_inner(func, args, offset, opname)
        if self._weights and type(result) is Call and isinstance(args, tuple):
            self._weigh(result, args, offset)
        return result

    def _call_inner(self, func: Any, args: Any, offset: int, opname: str) -> Any:
        if isinstance(func, Global):
            key = policy.call_key(func.module, func.name)
            targs = args if isinstance(args, tuple) else ()
            if func.deferred:
                self._consume(func)
            if key in policy.GETATTRS:
                if len(targs) >= 2:
                    res = self._resolve_attr(
                        targs[0], targs[1], offset, f"getattr({render(targs[0])}, {render(targs[1])})"
                    )
                    if isinstance(res, Unknown) and res.why.startswith("bound method "):
                        return res
                    if isinstance(res, Global) and policy.classify(res.module, res.name) is not policy.Verdict.ALLOWED:
                        self._note(func, f"builtins.getattr -> {res.qualified}")
                    elif not isinstance(res, Global):
                        self._note(func, f"builtins.getattr({render_args(targs)})")
                    return res
                self._note(func, f"builtins.getattr({render_args(targs)})")
                return UNKNOWN
            if key in policy.UFUNC_RECONSTRUCT:
                if len(targs) == 2 and isinstance(targs[0], str) and isinstance(targs[1], str):
                    g = Global(targs[0], targs[1], offset, via=func.qualified)
                    self._note(g)
                    return self._defer(g)
                self._note(func, f"{func.qualified}({render_args(targs)}) with computed target")
                return UNKNOWN
            if key in policy.IMPORTERS:
                if targs and isinstance(targs[0], str):
                    self._note(func, f"{func.qualified}({targs[0]!r})")
                    return Call(func, args, offset)
                self._note(func, f"{func.qualified}(<computed>)")
                return UNKNOWN
            if key in policy.RESOLVERS:
                if targs and isinstance(targs[0], str):
                    spec = targs[0]
                    mod, _, name = spec.partition(":") if ":" in spec else spec.rpartition(".")
                    g = Global(mod, name or mod, offset, via=f"{func.qualified}({spec!r})")
                    self._note(g)
                    return self._defer(g)
                return UNKNOWN
            if key in policy.LOADERS:
                self._nested(targs, offset, func.qualified)
                return UNKNOWN
            if key in policy.EVALUATORS and targs and isinstance(targs[0], str):
                self.ctx.add(
                    R.DANGEROUS_CALLABLE,
                    self._ptr(offset),
                    f"{func.qualified}({printable(targs[0], 80)!r})",
                    confidence=1.0,
                    properties={"callable": func.qualified},
                )
            qualified = policy.canonical(func.module, func.name)
            if (
                qualified in policy.APPLY_GADGETS
                or qualified in policy.CLASS_ARGS
                or qualified in policy.NAME_OR_CLASS_ARGS
                or qualified in _STATE_SETTERS
                or func.name.startswith("__pyx_unpickle_")
            ):
                self._gadget_args(func, qualified, targs, offset)
            if (
                func.qualified in _TENSOR_REBUILDERS
                and targs
                and isinstance(targs[0], Persistent)
                and len(self.result.tensor_views) < 1_000_000
            ):
                self.result.tensor_views.append(targs)
            if func.via and policy.classify(func.module, func.name) is not policy.Verdict.ALLOWED:
                # A callable produced by getattr/attrgetter/resolve_name rather than by an allowlisted
                # GLOBAL: calling it is only fine when its exact dotted name is allowlisted.
                self._note(func, f"{func.qualified}({render_args(targs)}) (via {func.via})")
            return Call(func, args, offset)
        if isinstance(func, Call) and isinstance(func.func, Global):
            key = policy.call_key(func.func.module, func.func.name)
            targs = args if isinstance(args, tuple) else ()
            if key in policy.ATTRGETTERS and targs and isinstance(func.args, tuple) and func.args:
                obj: Any = targs[0]
                names = func.args[0]
                if isinstance(names, str):
                    for part in names.split("."):
                        obj = self._resolve_attr(obj, part, offset, f"attrgetter({names!r})")
                    return obj
            if key in policy.METHODCALLERS and targs and isinstance(func.args, tuple) and func.args:
                return self._resolve_attr(targs[0], func.args[0], offset, f"methodcaller({render_args(func.args)})")
        if isinstance(func, Unknown) and func.why == "joblib-array":
            return UNKNOWN
        if self.shadow and type(func) in _NOT_CALLABLE:
            raise Malformed(offset, f"{opname} on a {type(func).__name__}: the loader raises here")
        self._unresolved(offset, f"{opname} calls a computed value {render(func)}({render_args(args)})")
        return UNKNOWN

    def _gadget_args(self, func: Global, qualified: str, targs: tuple[Any, ...], offset: int) -> None:
        """Arguments of allowed callables that call an argument or look methods up on it.

        An apply gadget's callable is analysed as if REDUCE called it with the arguments the gadget
        passes; one that is not a name the pickle imported is a finding. An argument meant to be a
        class must be such a name: an instance's `__dict__` would supply `__new__`/`__init__`.
        """
        if func.via:
            return  # reached through getattr & co.: already judged by its exact name
        if func.name.startswith("__pyx_unpickle_") and len(targs) >= 3 and isinstance(targs[2], tuple):
            # Cython's generated unpickler ends with `result.__dict__.update(state[-1])` when it has one
            for part in targs[2]:
                if isinstance(part, dict):
                    _check_hook_keys(self, Call(func, targs, offset), part, offset)
        if qualified in _STATE_SETTERS and len(targs) >= 4 and targs[3] is not None:
            # these apply their last argument like BUILD (setattr per item, or __setstate__)
            _check_hook_keys(self, Call(func, targs, offset), targs[3], offset)
        if qualified == "torch._tensor._rebuild_from_type_v2" and len(targs) >= 4 and targs[3] is not None:
            # ret.__setstate__(state) or setattr per item on ret, whose type is exactly new_type unless
            # it is a tensor: scipy distributions exec() the template in their state there, too
            new_type = targs[1]
            if isinstance(new_type, Global) and policy.canonical(new_type.module, new_type.name) in policy.RV_GENERIC:
                _check_rv_state(self, policy.canonical(new_type.module, new_type.name), targs[3], offset)
        spec = policy.APPLY_GADGETS.get(qualified)
        if spec is not None:
            at, args_at = spec
            if len(targs) > at:
                inner = targs[at]
                inner_args: Any = (targs[0],) if args_at < 0 else (targs[args_at] if len(targs) > args_at else ())
                if isinstance(inner, Global):
                    self._call(inner, inner_args, offset, f"{qualified} calling")
                else:
                    self._unresolved(
                        offset,
                        f"{qualified} calls its argument {render(inner)}({render_args(inner_args)}), "
                        "which is not a callable the pickle imports by name",
                    )
        for at in policy.CLASS_ARGS.get(qualified, ()):
            if len(targs) > at and not isinstance(targs[at], Global):
                self._unresolved(
                    offset,
                    f"{qualified} looks __new__/__init__ up on {render(targs[at])}, which is not a class "
                    "the pickle imports by name (an instance's __dict__ can supply any callable there)",
                )
        for at in policy.NAME_OR_CLASS_ARGS.get(qualified, ()):
            if len(targs) > at and not isinstance(targs[at], str | Global):
                self._unresolved(
                    offset, f"{qualified} instantiates {render(targs[at])}, not a class named by the pickle"
                )

    def _nested(self, targs: tuple[Any, ...], offset: int, via: str) -> None:
        self.ctx.add(R.NESTED_PICKLE, self._ptr(offset), f"{via}(<payload>) deserializes a nested pickle")
        if not targs:
            return
        payload = targs[0]
        blob: bytes | None = None
        if isinstance(payload, bytes):
            blob = payload
        elif isinstance(payload, BigBytes) and self._buffer is not None:
            blob = bytes(self._buffer[payload.start : payload.start + payload.length])
        if blob is None:
            return
        self.ctx.nested_pickles += 1
        if self.ctx.nested_pickles > self.ctx.limits.max_nested_pickles or self.depth >= 8:
            self.ctx.limit(self._ptr(offset), "nested pickle depth/count limit")
            return
        sub = PickleAnalyser(
            self.ctx,
            join_pointer(self._ptr(offset), "nested"),
            depth=self.depth + 1,
            torchscript=self.torchscript,
        )
        sub.analyse(blob)

    _buffer: Any = None

    # ------------------------------------------------------------------ entry points
    def analyse(self, data: Any, start: int = 0) -> PickleResult:
        """Analyse the pickle at `start`; findings go to the context, facts to the result.

        A broken stream keeps everything found before the break and adds a
        finding for the break itself: real loaders execute opcodes as they read.
        """
        self._buffer = data
        self._start = start
        res = self.result
        try:
            res.end = self._run(data, start)
        except Malformed as exc:
            res.ok = False
            res.end = exc.offset
            self.ctx.add(R.MALFORMED_PICKLE, self._ptr(exc.offset), exc.message, confidence=0.9)
        except LimitReached as exc:
            res.ok = False
            self.ctx.limit(self.pointer, str(exc))
        finally:
            self._settle_pending()
        return res

    # ------------------------------------------------------------------ the interpreter
    def _run(self, data: Any, pos: int, seed: tuple[list[Any], list[int], Memo] | None = None) -> int:
        ctx = self.ctx
        limits = ctx.limits
        end = len(data)
        stack: list[Any] = list(seed[0]) if seed else []
        marks: list[int] = list(seed[1]) if seed else []
        # a shadow run must not write into the real memo
        memo = seed[2].fork() if seed else Memo(limits.max_memo)
        mvals = memo.values
        msparse = memo.sparse
        weights = self._weights
        push = stack.append
        max_stack = limits.max_pickle_stack
        max_memo = limits.max_memo
        check_at = pos + _CHECK_EVERY
        u32 = _u32
        i32 = _i32
        u16 = _u16
        start = pos
        if pos >= end:
            raise Malformed(pos, "empty pickle stream")
        try:
            while True:
                if pos >= check_at:
                    ctx.check_time()
                    check_at = pos + _CHECK_EVERY
                    if len(stack) > max_stack:
                        raise LimitReached(f"pickle stack above {max_stack} entries")
                op = data[pos]
                if op == 0x4B:  # BININT1
                    push(data[pos + 1])
                    pos += 2
                elif op == 0x4A:  # BININT
                    push(i32(data, pos + 1)[0])
                    pos += 5
                elif op == 0x94:  # MEMOIZE: the loader's key is len(memo), every key counted (see Memo)
                    if not stack:
                        raise Malformed(pos, "MEMOIZE on empty stack")
                    if msparse:
                        memo.put(len(memo), stack[-1])
                    else:  # keys are exactly 0..dense-1: the common case, inlined
                        n = memo.dense
                        memo.dense = n + 1
                        if len(mvals) < max_memo or _worth_keeping(stack[-1]):
                            mvals[n] = stack[-1]
                    pos += 1
                elif op == 0x8C:  # SHORT_BINUNICODE
                    n = data[pos + 1]
                    s = pos + 2
                    e = s + n
                    if e > end:
                        raise Malformed(pos, "SHORT_BINUNICODE past end of data")
                    try:
                        push(data[s:e].decode("utf-8", "surrogatepass"))
                    except UnicodeDecodeError:
                        raise Malformed(pos, "invalid UTF-8 in unicode string") from None
                    pos = e
                elif op == 0x28:  # MARK
                    marks.append(len(stack))
                    pos += 1
                elif op == 0x47:  # BINFLOAT: the value never matters to callable resolution
                    if pos + 9 > end:
                        raise Malformed(pos, "BINFLOAT past end of data")
                    push(0.0)
                    pos += 9
                elif op == 0x74:  # TUPLE
                    if not marks:
                        raise Malformed(pos, "TUPLE without MARK")
                    m = marks.pop()
                    t = tuple(stack[m:])
                    del stack[m:]
                    push(t)
                    if weights:
                        self._weigh(t, t, pos)
                    pos += 1
                elif op == 0x71:  # BINPUT
                    if not stack:
                        raise Malformed(pos, "BINPUT on empty stack")
                    memo.put(data[pos + 1], stack[-1])
                    pos += 2
                elif op == 0x68:  # BINGET
                    v = mvals.get(data[pos + 1], _MISSING)
                    if v is _MISSING:
                        v = memo.get(data[pos + 1], pos, "BINGET")
                    push(v)
                    if type(v) in _WEIGHED:
                        self._shared(v, pos)
                    elif type(v) is Global and v.deferred:
                        self._reference(v)
                    pos += 2
                elif op == 0x65:  # APPENDS
                    if not marks:
                        raise Malformed(pos, "APPENDS without MARK")
                    m = marks.pop()
                    if m < 1:
                        raise Malformed(pos, "APPENDS without a list")
                    target = stack[m - 1]
                    if weights:
                        self._grow(target, stack[m:], pos)
                    if type(target) is Call:
                        self._append_hook(target, ("extend", "append"), pos)
                    if type(target) is list and len(target) < _LIST_KEEP and self._kept < limits.max_kept_items:
                        room = _LIST_KEEP - len(target)
                        items = stack[m : m + room]
                        target.extend(items)
                        self._kept += len(items)
                    del stack[m:]
                    pos += 1
                elif op == 0x4D:  # BININT2
                    push(u16(data, pos + 1)[0])
                    pos += 3
                elif op == 0x86:  # TUPLE2
                    if len(stack) < 2:
                        raise Malformed(pos, "TUPLE2 on short stack")
                    b = stack.pop()
                    stack[-1] = (stack[-1], b)
                    if weights:
                        self._weigh(stack[-1], stack[-1], pos)
                    pos += 1
                elif op == 0x85:  # TUPLE1
                    if not stack:
                        raise Malformed(pos, "TUPLE1 on empty stack")
                    stack[-1] = (stack[-1],)
                    if weights:
                        self._weigh(stack[-1], stack[-1], pos)
                    pos += 1
                elif op == 0x87:  # TUPLE3
                    if len(stack) < 3:
                        raise Malformed(pos, "TUPLE3 on short stack")
                    t = (stack[-3], stack[-2], stack[-1])
                    del stack[-3:]
                    push(t)
                    if weights:
                        self._weigh(t, t, pos)
                    pos += 1
                elif op == 0x75:  # SETITEMS
                    if not marks:
                        raise Malformed(pos, "SETITEMS without MARK")
                    m = marks.pop()
                    if m < 1 or (len(stack) - m) % 2:
                        raise Malformed(pos, "SETITEMS with odd item count or no dict")
                    target = stack[m - 1]
                    if weights:
                        self._grow(target, stack[m:], pos)
                    if type(target) is dict and len(target) < _LIST_KEEP and self._kept < limits.max_kept_items:
                        for i in range(m, len(stack), 2):
                            if type(stack[i]) in _KEYS:
                                target[stack[i]] = stack[i + 1]
                        self._kept += (len(stack) - m) // 2
                    elif type(target) is dict:
                        _keep_watched(target, stack, m)
                    del stack[m:]
                    pos += 1
                elif op == 0x5D:  # EMPTY_LIST
                    push([])
                    pos += 1
                elif op == 0x7D:  # EMPTY_DICT
                    push({})
                    pos += 1
                elif op == 0x29:  # EMPTY_TUPLE
                    push(())
                    pos += 1
                elif op == 0x4E:  # NONE
                    push(None)
                    pos += 1
                elif op == 0x88:  # NEWTRUE
                    push(True)
                    pos += 1
                elif op == 0x89:  # NEWFALSE
                    push(False)
                    pos += 1
                elif op == 0x61:  # APPEND
                    if len(stack) < 2:
                        raise Malformed(pos, "APPEND on short stack")
                    v = stack.pop()
                    target = stack[-1]
                    if weights:
                        self._grow(target, (v,), pos)
                    if type(target) is list and len(target) < _LIST_KEEP and self._kept < limits.max_kept_items:
                        target.append(v)
                        self._kept += 1
                    elif type(target) is Call:
                        self._append_hook(target, ("append",), pos)
                    pos += 1
                elif op == 0x73:  # SETITEM
                    if len(stack) < 3:
                        raise Malformed(pos, "SETITEM on short stack")
                    v = stack.pop()
                    k = stack.pop()
                    target = stack[-1]
                    if weights:
                        self._grow(target, (k, v), pos)
                    if (
                        type(target) is dict
                        and type(k) in _KEYS
                        and len(target) < _LIST_KEEP
                        and self._kept < limits.max_kept_items
                    ):
                        target[k] = v
                        self._kept += 1
                    elif type(target) is dict and type(k) is str and k in _WATCHED:
                        target[k] = v
                    pos += 1
                elif op == 0x58:  # BINUNICODE
                    n = u32(data, pos + 1)[0]
                    s = pos + 5
                    e = s + n
                    if e > end:
                        raise Malformed(pos, "BINUNICODE past end of data")
                    push(_text(data, s, e, pos) if n <= _BIG else BigBytes(s, n, True))
                    pos = e
                elif op == 0x43:  # SHORT_BINBYTES
                    n = data[pos + 1]
                    s = pos + 2
                    e = s + n
                    if e > end:
                        raise Malformed(pos, "SHORT_BINBYTES past end of data")
                    push(bytes(data[s:e]))
                    pos = e
                elif op == 0x72:  # LONG_BINPUT
                    if not stack:
                        raise Malformed(pos, "LONG_BINPUT on empty stack")
                    memo.put(u32(data, pos + 1)[0], stack[-1])
                    pos += 5
                elif op == 0x6A:  # LONG_BINGET
                    idx = u32(data, pos + 1)[0]
                    v = mvals.get(idx, _MISSING)
                    if v is _MISSING:
                        v = memo.get(idx, pos, "LONG_BINGET")
                    push(v)
                    if type(v) in _WEIGHED:
                        self._shared(v, pos)
                    elif type(v) is Global and v.deferred:
                        self._reference(v)
                    pos += 5
                elif op == 0x95:  # FRAME
                    if pos + 9 > end:
                        raise Malformed(pos, "FRAME past end of data")
                    pos += 9
                elif op == 0x2E:  # STOP
                    if (len(stack) != 1 or marks) and not stack:
                        raise Malformed(pos, "STOP on empty stack")
                    pos += 1
                    break
                else:
                    pos = self._slow(op, data, pos, end, stack, marks, memo)
        except IndexError:
            raise Malformed(min(pos, end), "truncated pickle stream (read past end of data)") from None
        except struct.error:
            raise Malformed(min(pos, end), "truncated pickle stream (argument past end of data)") from None
        finally:
            del start
        return pos

    def _slow(self, op: int, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
        handler = _SLOW.get(op)
        if handler is None:
            raise Malformed(pos, f"unknown opcode 0x{op:02x}")
        return handler(self, data, pos, end, stack, marks, memo)

    # ------------------------------------------------------------------ rare opcodes
    def _pop_mark(self, pos: int, stack: list[Any], marks: list[int], name: str) -> list[Any]:
        if not marks:
            raise Malformed(pos, f"{name} without MARK")
        m = marks.pop()
        items = stack[m:]
        del stack[m:]
        return items

    def _shadow_plain_load(self, data: Any, pos: int, seed: tuple[list[Any], list[int], Memo]) -> None:
        """What plain `pickle.load` would do with the bytes joblib reads as array data.

        joblib's loader skips them, `pickle.load` executes them as opcodes; a file built
        for the latter must not hide a payload behind a fake array wrapper. Genuine
        array bytes stop the interpreter within a few bytes (0x00-0x10 and 0xff are not
        opcodes), so this costs nothing on benign files.
        """
        # [containers] A shadow run may read on past the array into the rest of the stream, so
        # many wrappers made the scan quadratic. Total shadow bytes are capped at a multiple of the
        # file (genuine array bytes stop a shadow within a few bytes); past the cap, fail closed.
        self.ctx.check_time()
        if self._shadow_spent > 4 * len(data) + (1 << 16):
            raise LimitReached("joblib array bytes re-read as opcodes beyond the linear work budget")
        shadow_ctx = self.ctx.child()
        sub = PickleAnalyser(shadow_ctx, join_pointer(self._ptr(pos), "as-plain-pickle"), depth=self.depth + 1)
        sub.shadow = True
        # the same Unpickler reads on, so the protocol seen so far still decides name mapping: with a
        # fresh proto of 0 the shadow mapped `copy_reg` onto the allowed `copyreg` while the loader of a
        # protocol-4 stream imports a `copy_reg` module planted next to the artifact
        sub.proto = self.proto
        sub._buffer = data
        stop = pos
        try:
            stop = sub._run(data, pos, seed)
        except Malformed as exc:
            stop = exc.offset
        except LimitReached:
            stop = len(data)
        self._shadow_spent += max(1, stop - pos)
        sub._settle_pending()
        for f in shadow_ctx.findings:
            if f.rule_id in _SHADOW_RULES:
                self.ctx.findings.append(f)

    def _joblib_array(
        self,
        wrapper: Call,
        data: Any,
        pos: int,
        end: int,
        seed: tuple[list[Any], list[int], Memo],
    ) -> int:
        """Skip (or descend into) the array joblib wrote right after the wrapper's BUILD."""
        state = wrapper.state
        if not isinstance(state, dict):
            raise Malformed(pos, "joblib array wrapper without a state dict")
        dtype = state.get("dtype")
        shape = state.get("shape")
        itemsize, has_object = _dtype_info(dtype)
        # [containers] An empty span without padding is read identically by joblib and plain
        # pickle.load (the next opcode is the same byte), so the shadow run would only repeat the main one.
        if has_object or state.get("numpy_array_alignment_bytes") is not None or _span_bytes(itemsize, shape) != 0:
            self._shadow_plain_load(data, pos, seed)
        if has_object:
            sub = PickleAnalyser(
                self.ctx, join_pointer(self._ptr(pos), "object-array"), joblib=True, depth=self.depth + 1
            )
            self.ctx.add(R.OBJECT_ARRAY, self._ptr(pos), "joblib object array: elements are unpickled")
            sub._buffer = data
            try:
                return sub._run(data, pos)
            finally:
                sub._settle_pending()
        if itemsize is None or not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise Malformed(pos, f"joblib array with unverifiable dtype/shape {render(dtype)} {render(shape)}")
        count = 1
        for d in shape:
            count *= d
        nbytes = count * itemsize
        if state.get("numpy_array_alignment_bytes") is not None:
            if pos >= end:
                raise Malformed(pos, "joblib array padding past end of data")
            pos += 1 + data[pos]
        if pos + nbytes > end:
            self.ctx.add(
                R.TENSOR_BOUNDS,
                self._ptr(pos),
                f"joblib array of {nbytes} bytes runs past the end of the stream",
            )
            raise Malformed(end, "joblib array data truncated")
        return pos + nbytes


_SHADOW_RULES = {
    R.DANGEROUS_CALLABLE.id,
    R.UNKNOWN_CALLABLE.id,
    R.UNRESOLVED_CALLABLE.id,
    R.NESTED_PICKLE.id,
    R.GLOBAL_MUTATION.id,
}


def _span_bytes(itemsize: int | None, shape: Any) -> int | None:
    """[containers] Bytes of a joblib array span, or None when dtype/shape are not literal."""
    if itemsize is None or not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    count = 1
    for d in shape:
        count *= d
    return count * itemsize


def _text(data: Any, s: int, e: int, pos: int) -> str:
    try:
        return bytes(data[s:e]).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise Malformed(pos, "invalid UTF-8 in unicode string") from None


def _dtype_info(dtype: Any) -> tuple[int | None, bool]:
    """Item size and object-ness of a symbolic `numpy.dtype(...)` call, if determinable."""
    if not isinstance(dtype, Call) or not isinstance(dtype.func, Global) or dtype.func.name != "dtype":
        return None, False
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    if not args or not isinstance(args[0], str) or len(args[0]) > 64:
        return None, False
    descr = args[0]
    if "O" in descr:
        return None, True
    state = dtype.state
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        fields = state[4]
        if isinstance(fields, dict) and fields:
            has_object = any(isinstance(v, tuple) and v and _dtype_info(v[0])[1] for v in fields.values())
            return (None if has_object else state[5]), has_object
        return state[5], False
    try:
        import numpy

        dt = numpy.dtype(descr)
    except Exception:
        return None, False
    return dt.itemsize, bool(dt.hasobject)


# ---------------------------------------------------------------------- slow-path handlers
_Handler = Callable[[PickleAnalyser, Any, int, int, list[Any], list[int], Memo], int]
_SLOW: dict[int, _Handler] = {}


def _op(*codes: int) -> Callable[[_Handler], _Handler]:
    def deco(fn: _Handler) -> _Handler:
        for c in codes:
            _SLOW[c] = fn
        return fn

    return deco


def _need(stack: list[Any], n: int, pos: int, name: str) -> None:
    if len(stack) < n:
        raise Malformed(pos, f"{name} on short stack")


def _line(data: Any, pos: int, end: int) -> tuple[bytes, int]:
    nl = data.find(b"\n", pos, min(end, pos + (1 << 20)))
    if nl < 0:
        raise Malformed(pos, "unterminated text argument")
    return bytes(data[pos:nl]), nl + 1


@_op(0x80)
def _proto(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    v = data[pos + 1]
    if v > _PROTO_MAX:
        raise Malformed(pos, f"unsupported pickle protocol {v}")
    a.proto = v
    return pos + 2


@_op(0x63, 0x69)  # GLOBAL, INST
def _global(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    op = data[pos]
    mod_b, p = _line(data, pos + 1, end)
    name_b, p = _line(data, p, end)
    try:
        module = mod_b.decode("ascii")
        name = name_b.decode("ascii")
    except UnicodeDecodeError:
        try:
            module, name = mod_b.decode("utf-8"), name_b.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(pos, "non-text module/name in GLOBAL") from None
    g = a._make_global(module, name, pos, "GLOBAL" if op == 0x63 else "INST")
    if op == 0x63:
        stack.append(g)
    else:
        args = tuple(a._pop_mark(pos, stack, marks, "INST"))
        stack.append(a._call(g, args, pos, "INST"))
    return p


@_op(0x93)  # STACK_GLOBAL
def _stack_global(
    a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo
) -> int:
    _need(stack, 2, pos, "STACK_GLOBAL")
    name = stack.pop()
    module = stack.pop()
    stack.append(a._make_global(module, name, pos, "STACK_GLOBAL"))
    return pos + 1


@_op(0x52)  # REDUCE
def _reduce(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 2, pos, "REDUCE")
    args = stack.pop()
    func = stack[-1]
    stack[-1] = a._call(func, args, pos, "REDUCE")
    return pos + 1


@_op(0x81)  # NEWOBJ
def _newobj(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 2, pos, "NEWOBJ")
    args = stack.pop()
    cls = stack[-1]
    # cls.__new__ runs no constructor, so a class named by GLOBAL was already decided there; one
    # reached through getattr & co. is judged as a call.
    plain = isinstance(cls, Global) and not cls.via
    stack[-1] = Call(cls, args, pos) if plain else a._call(cls, args, pos, "NEWOBJ")
    return pos + 1


@_op(0x92)  # NEWOBJ_EX
def _newobj_ex(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 3, pos, "NEWOBJ_EX")
    kwargs = stack.pop()
    args = stack.pop()
    cls = stack[-1]
    plain = isinstance(cls, Global) and not cls.via
    stack[-1] = Call(cls, args, pos) if plain else a._call(cls, (args, kwargs), pos, "NEWOBJ_EX")
    return pos + 1


@_op(0x6F)  # OBJ
def _obj(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    items = a._pop_mark(pos, stack, marks, "OBJ")
    if not items:
        raise Malformed(pos, "OBJ without a class")
    stack.append(a._call(items[0], tuple(items[1:]), pos, "OBJ"))
    return pos + 1


# Allowed helpers whose fourth argument is applied to the object they build as BUILD state would be.
_STATE_SETTERS = frozenset({"torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_parameter_with_state"})
_COPYREG_NEW = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})


def _instance_class(obj: Call) -> str | None:
    """The class an object was created from (`cls(...)`, NEWOBJ, or copyreg's helpers), canonically named."""
    func = obj.func
    if not isinstance(func, Global):
        return None
    name = policy.canonical(func.module, func.name)
    if name in _COPYREG_NEW and isinstance(obj.args, tuple) and obj.args and isinstance(obj.args[0], Global):
        return policy.canonical(obj.args[0].module, obj.args[0].name)
    return name


def _check_hook_keys(a: PickleAnalyser, obj: Call, state: Any, pos: int) -> None:
    """State that plants a method hook (`__new__`, `__array__`, ...) in an instance's __dict__.

    Checked for BUILD and for the torch helpers that apply a state argument (`_STATE_SETTERS`).
    """
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    keys = [k for part in parts if isinstance(part, dict) for k in part if isinstance(k, str)]
    if isinstance(state, list | tuple):
        # a custom __setstate__ doing `self.__dict__.update(state)` (torch Module) also takes (key, value) pairs
        keys += [p[0] for p in state if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)]
    hooks = sorted(k for k in keys if k in policy.HOOK_STATE_KEYS)
    if hooks:
        a._unresolved(
            pos,
            f"state applied to {render(obj)} sets {', '.join(hooks)} in the instance's __dict__: helpers that look "
            "these up on the instance (copyreg._reconstructor's base.__new__/__init__, NumPy __array__, "
            "torch __torch_function__) then call the planted value",
        )


# joblib < 0.10 wrappers: on BUILD, joblib.load reads `os.path.join(dirname, filename)`, the NDArrayWrapper
# with `np.load(..., allow_pickle=True)`, which unpickles whatever that file holds.
_JOBLIB_SIDECAR = frozenset({"joblib.numpy_pickle_compat.NDArrayWrapper", "joblib.numpy_pickle_compat.ZNDArrayWrapper"})


def _check_sidecar(a: PickleAnalyser, obj: Call, cls: str, state: Any, pos: int) -> None:
    """An old-format joblib array wrapper: joblib.load loads the file it names (a pickle, for NDArrayWrapper).

    The file is outside this scan, so it is always a finding; a name that leaves the pickle's folder
    (absolute, `..`, a drive) can reach any file on the machine and is critical.
    """
    filename: Any = _MISSING
    if isinstance(state, dict) and "filename" in state:
        filename = state["filename"]
    elif isinstance(obj.func, Global) and isinstance(obj.args, tuple) and obj.args:
        filename = obj.args[0]  # NDArrayWrapper(filename, subclass) called directly
    if isinstance(filename, str):
        parts = filename.replace("\\", "/").split("/")
        escapes = filename.startswith(("/", "\\", "~")) or ":" in filename or ".." in parts or len(parts) > 1
        a.ctx.add(
            R.DANGEROUS_CALLABLE if escapes else R.UNRESOLVED_CALLABLE,
            a._ptr(pos),
            f"{cls} makes joblib.load read {printable(filename, 120)!r}"
            + (" with np.load(allow_pickle=True), which unpickles it" if cls.endswith(".NDArrayWrapper") else "")
            + ("; the path leaves the pickle's folder" if escapes else "; that file must be scanned as well"),
            confidence=0.9,
            properties={"callable": "numpy.load" if cls.endswith(".NDArrayWrapper") else cls},
        )
    else:
        a._unresolved(
            pos, f"{cls} with a file name the analyser cannot read ({render(filename)}): joblib.load opens it"
        )


def _check_rv_state(a: PickleAnalyser, cls: str, state: Any, pos: int) -> None:
    """BUILD on a scipy.stats distribution: its __setstate__ exec()s `state['_parse_arg_template']`.

    Only a dict whose template is one scipy generates is safe (policy.scipy_template_ok); any other
    state (a list of pairs also feeds `__dict__.update`, a computed value) cannot be verified.
    """
    template = state.get("_parse_arg_template", _MISSING) if isinstance(state, dict) else _MISSING
    if policy.scipy_template_ok(template):
        return
    shown = printable(template, 120) if isinstance(template, str) else render(state)
    a.ctx.add(
        R.DANGEROUS_CALLABLE if isinstance(template, str) else R.UNRESOLVED_CALLABLE,
        a._ptr(pos),
        f"state set on {cls}: scipy's __setstate__ exec()s _parse_arg_template, and the pickled one "
        f"is not a template scipy generates: {shown!r}",
        confidence=0.95,
        properties={"callable": "builtins.exec"},
    )


@_op(0x62)  # BUILD
def _build(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 2, pos, "BUILD")
    state = stack.pop()
    obj = stack[-1]
    if isinstance(obj, Global | ModuleRef):
        a.ctx.add(
            R.GLOBAL_MUTATION,
            a._ptr(pos),
            f"BUILD sets state {render(state)} on {render(obj)}",
            confidence=0.9,
        )
    elif isinstance(obj, Call):
        obj.state = state
        if state is DROPPED:
            a._unresolved(pos, f"BUILD on {render(obj)} with a state fetched from past the memo cap: not verifiable")
        _check_hook_keys(a, obj, state, pos)
        cls = _instance_class(obj)
        if cls in policy.RV_GENERIC:
            _check_rv_state(a, cls, state, pos)
        elif cls in _JOBLIB_SIDECAR:
            _check_sidecar(a, obj, cls, state, pos)
        if a.joblib and isinstance(obj.func, Global) and obj.func.qualified in _JOBLIB_WRAPPERS:
            stack[-1] = Unknown("joblib-array")
            return a._joblib_array(obj, data, pos + 1, end, (stack, marks, memo))
    return pos + 1


@_op(0x50)  # PERSID
def _persid(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    pid, p = _line(data, pos + 1, end)
    stack.append(Persistent(pid.decode("ascii", "replace"), pos))
    return p


@_op(0x51)  # BINPERSID
def _binpersid(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 1, pos, "BINPERSID")
    pid = stack[-1]
    if len(a.result.persistent_ids) < 1_000_000:
        a.result.persistent_ids.append(pid)
    stack[-1] = Persistent(pid, pos)
    return pos + 1


@_op(0x82, 0x83, 0x84)  # EXT1/2/4
def _ext(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    op = data[pos]
    width = {0x82: 1, 0x83: 2, 0x84: 4}[op]
    if pos + 1 + width > end:
        raise Malformed(pos, "EXT past end of data")
    code = int.from_bytes(bytes(data[pos + 1 : pos + 1 + width]), "little")
    a._unresolved(pos, f"EXT{width} extension code {code} resolves a callable through the copyreg registry")
    stack.append(UNKNOWN)
    return pos + 1 + width


@_op(0x30)  # POP
def _pop(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    if stack and (not marks or marks[-1] < len(stack)):
        stack.pop()
    elif marks:
        marks.pop()
    else:
        raise Malformed(pos, "POP on empty stack")
    return pos + 1


@_op(0x31)  # POP_MARK
def _pop_mark(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    a._pop_mark(pos, stack, marks, "POP_MARK")
    return pos + 1


@_op(0x32)  # DUP
def _dup(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    _need(stack, 1, pos, "DUP")
    stack.append(stack[-1])
    if type(stack[-1]) in _WEIGHED:
        a._shared(stack[-1], pos)
    elif type(stack[-1]) is Global and stack[-1].deferred:
        a._reference(stack[-1])
    return pos + 1


@_op(0x46, 0x49, 0x4C)  # FLOAT, INT, LONG (text)
def _text_number(
    a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo
) -> int:
    op = data[pos]
    raw, p = _line(data, pos + 1, end)
    text = raw.decode("ascii", "replace").rstrip("L")
    try:
        if op == 0x46:
            stack.append(float(text))
        elif text in ("00", "01"):
            stack.append(text == "01")
        else:
            stack.append(int(text) if len(text) < 4300 else UNKNOWN)
    except ValueError:
        raise Malformed(pos, "invalid text number") from None
    return p


@_op(0x8A, 0x8B)  # LONG1, LONG4
def _long(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    if data[pos] == 0x8A:
        n = data[pos + 1]
        s = pos + 2
    else:
        n = _i32(data, pos + 1)[0]
        if n < 0:
            raise Malformed(pos, "LONG4 with negative length")
        s = pos + 5
    if s + n > end:
        raise Malformed(pos, "LONG past end of data")
    stack.append(int.from_bytes(bytes(data[s : s + n]), "little", signed=True) if n <= 64 else UNKNOWN)
    return s + n


@_op(0x53, 0x56)  # STRING, UNICODE (text)
def _text_string(
    a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo
) -> int:
    op = data[pos]
    raw, p = _line(data, pos + 1, end)
    if op == 0x53:
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[:1] in (b"'", b'"'):
            raw = raw[1:-1]
        else:
            raise Malformed(pos, "STRING opcode argument must be quoted")
        try:
            import codecs

            stack.append(codecs.escape_decode(raw)[0].decode("latin-1"))
        except Exception:
            raise Malformed(pos, "invalid escaped STRING") from None
    else:
        stack.append(raw.decode("raw-unicode-escape", "replace"))
    return p


@_op(0x54, 0x55, 0x42, 0x8D, 0x8E, 0x96)  # BINSTRING, SHORT_BINSTRING, BINBYTES, BINUNICODE8, BINBYTES8, BYTEARRAY8
def _blob(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    op = data[pos]
    if op == 0x55:
        n, s = data[pos + 1], pos + 2
    elif op in (0x54, 0x42):
        n, s = (_i32(data, pos + 1)[0] if op == 0x54 else _u32(data, pos + 1)[0]), pos + 5
        if n < 0:
            raise Malformed(pos, "negative string length")
    else:
        n, s = _u64(data, pos + 1)[0], pos + 9
    e = s + n
    if e > end:
        raise Malformed(pos, f"string/bytes of {n} bytes runs past end of data")
    is_text = op in (0x54, 0x55, 0x8D)
    if n > _BIG:
        stack.append(BigBytes(s, n, is_text))
    elif op == 0x8D:
        stack.append(_text(data, s, e, pos))
    elif is_text:
        stack.append(bytes(data[s:e]).decode("latin-1"))
    else:
        stack.append(bytes(data[s:e]))
    return e


@_op(0x67, 0x70)  # GET, PUT (text)
def _text_memo(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    op = data[pos]
    raw, p = _line(data, pos + 1, end)
    try:
        idx = int(raw)
    except ValueError:
        raise Malformed(pos, "invalid memo index") from None
    if op == 0x70:
        _need(stack, 1, pos, "PUT")
        if idx < 0:
            raise Malformed(pos, "negative PUT argument")  # the loader raises ValueError
        memo.put(idx, stack[-1])
    else:
        v = memo.get(idx, pos, "GET")
        stack.append(v)
        if type(v) in _WEIGHED:
            a._shared(v, pos)
        elif type(v) is Global and v.deferred:
            a._reference(v)
    return p


@_op(0x74, 0x6C, 0x64, 0x91)  # TUPLE, LIST, DICT, FROZENSET
def _from_mark(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    op = data[pos]
    items = a._pop_mark(pos, stack, marks, "TUPLE/LIST/DICT")
    if op == 0x74:
        stack.append(tuple(items))
    elif op == 0x6C:
        stack.append(items[:_LIST_KEEP])
    elif op == 0x64:
        if len(items) % 2:
            raise Malformed(pos, "DICT with odd item count")
        d: dict[Any, Any] = {}
        for i in range(0, min(len(items), 2 * _LIST_KEEP), 2):
            if type(items[i]) in _KEYS:
                d[items[i]] = items[i + 1]
        if len(items) > 2 * _LIST_KEEP:
            _keep_watched(d, items, 2 * _LIST_KEEP)
        stack.append(d)
    else:  # FROZENSET: hashing its members is where a shared graph hangs the loader
        stack.append(Unknown("frozenset"))
    if a._weights:
        a._weigh(stack[-1], items, pos)
    return pos + 1


@_op(0x8F)  # EMPTY_SET
def _empty_set(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    stack.append(Unknown("set"))
    return pos + 1


@_op(0x90)  # ADDITEMS
def _additems(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    items = a._pop_mark(pos, stack, marks, "ADDITEMS")
    if not stack:
        raise Malformed(pos, "ADDITEMS without a set")
    if a._weights:
        a._weigh(stack[-1], items, pos)
    if type(stack[-1]) is Call:
        a._append_hook(stack[-1], ("add",), pos)
    return pos + 1


@_op(0x97, 0x98)  # NEXT_BUFFER, READONLY_BUFFER
def _buffers(a: PickleAnalyser, data: Any, pos: int, end: int, stack: list[Any], marks: list[int], memo: Memo) -> int:
    if data[pos] == 0x97:
        stack.append(Unknown("out-of-band buffer"))
    else:
        _need(stack, 1, pos, "READONLY_BUFFER")
    return pos + 1


def looks_like_pickle(head: bytes) -> bool:
    """Cheap content test: a protocol header, or a protocol-0/1 opening whose first
    opcodes parse (JSON, text and other binaries fail within a few bytes)."""
    if len(head) >= 2 and head[0] == 0x80 and head[1] < 16:  # future protocols still get analysed
        return True
    if not head or head[0] not in b"(cdl]})NIJKLMFSVUTXGBCiP":
        return False
    import io
    import pickletools

    count = 0
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if opcode.name in ("GLOBAL", "INST") and not all(_IDENT.match(part) for part in str(arg).split(" ", 1)):
                return False  # CSV and prose parse as INST; real pickles name identifiers
            if opcode.name == "STOP" or count >= 16:  # text rarely survives 16 opcodes
                return True
    except Exception:
        return False
    return False
