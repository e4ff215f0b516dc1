"""The symbolic values the pickle interpreter pushes instead of real objects.

Nothing here is ever a live object from the artifact: a `Global` is a name, a `Call`
records which callable would run with which (symbolic) arguments. Primitive values
(ints, short strings, tuples) are kept as Python values because resolving gadget
chains (`getattr(import_module('os'), 'system')`) and checking tensor bounds needs them.
"""

from __future__ import annotations

from typing import Any


class Unknown:
    """A value the model does not track (big blobs, results of persistent loads, ...)."""

    __slots__ = ("why",)

    def __init__(self, why: str = "") -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<{self.why or 'unknown'}>"


UNKNOWN = Unknown()


class BigBytes:
    """A bytes/str argument too large to copy; kept as a window into the buffer."""

    __slots__ = ("is_text", "length", "start")

    def __init__(self, start: int, length: int, is_text: bool) -> None:
        self.start = start
        self.length = length
        self.is_text = is_text

    def __repr__(self) -> str:
        return f"<{'str' if self.is_text else 'bytes'} of {self.length} bytes>"


class Global:
    """`module.name` as pickle would import it; `via` describes how it was reached."""

    __slots__ = ("deferred", "module", "name", "offset", "via")

    def __init__(self, module: str, name: str, offset: int, via: str = "") -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.via = via  # set when reached through getattr & co. rather than an opcode naming it
        # decided per reference, by the call that consumes it (policy.DEFERRED): every GET/DUP of it
        # is one more reference that must be called directly
        self.deferred = False

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return self.qualified


class ModuleRef:
    """A module object obtained through `__import__`/`import_module`."""

    __slots__ = ("module", "offset")

    def __init__(self, module: str, offset: int) -> None:
        self.module = module
        self.offset = offset

    def __repr__(self) -> str:
        return f"module {self.module}"


class Call:
    """The result of calling `func(*args)`; BUILD may attach `state`."""

    __slots__ = ("args", "func", "offset", "state")

    def __init__(self, func: Any, args: Any, offset: int) -> None:
        self.func = func
        self.args = args
        self.offset = offset
        self.state: Any = None

    def __repr__(self) -> str:
        return f"{render(self.func)}({render_args(self.args)})"


class Persistent:
    """What a `persistent_load` hook receives (PyTorch storages use this)."""

    __slots__ = ("offset", "pid")

    def __init__(self, pid: Any, offset: int) -> None:
        self.pid = pid
        self.offset = offset

    def __repr__(self) -> str:
        return f"persistent({render(self.pid)})"


def render(value: Any, depth: int = 0) -> str:
    """A short rendering of a symbolic value for evidence; strings are truncated and masked."""
    from bastion.core.redact import mask

    if depth > 3:
        return "…"
    if isinstance(value, str):
        shown = value if len(value) <= 48 else value[:32] + mask(value[32:], keep_end=0)[:8] + "…"
        return repr("".join(ch if ch.isprintable() else "?" for ch in shown))
    if isinstance(value, bytes):
        return f"<bytes of {len(value)}>"
    if isinstance(value, tuple):
        return "(" + ", ".join(render(v, depth + 1) for v in value[:6]) + (", …" if len(value) > 6 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(render(v, depth + 1) for v in value[:4]) + (", …" if len(value) > 4 else "") + "]"
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, Call):
        return f"{render(value.func, depth + 1)}({render_args(value.args, depth + 1)})"
    return repr(value)[:80]


def render_args(args: Any, depth: int = 0) -> str:
    if isinstance(args, tuple):
        return ", ".join(render(a, depth + 1) for a in args[:6]) + (", …" if len(args) > 6 else "")
    return render(args, depth + 1)
