"""Keras model configs (v3 `.keras` config.json, legacy HDF5 `model_config`).

Keras deserialization imports the `module` a layer names and calls what it finds;
Lambda layers carry marshalled Python bytecode that runs on load or call. Safe
mode blocks some of this, but it has been bypassed (CVE-2024-3660, CVE-2025-1550)
and many loaders turn it off, so the config is checked on its own terms.
"""

from __future__ import annotations

import json
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan._pickle import policy
from bastion.model._scan.context import ScanContext, join_pointer, printable

_KERAS_MODULES = (
    "keras",
    "tf_keras",
    "keras_nlp",
    "keras_hub",
    "keras_cv",
    "tensorflow.keras",
    "tensorflow.python.keras",
)
_BAD_KERAS_FUNCS = {"get_file", "enable_unsafe_deserialization", "set_image_data_format", "load_model", "save_model"}
_MAX_NODES = 2_000_000


def scan_keras_json(ctx: ScanContext, raw: bytes | str, pointer: str) -> None:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"Keras config is not valid JSON: {printable(str(exc), 60)}")
        return
    walk_keras(ctx, config, pointer)


def walk_keras(ctx: ScanContext, config: Any, pointer: str) -> None:
    stack: list[tuple[Any, str]] = [(config, "")]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            ctx.limit(pointer, "Keras config larger than the node limit")
            return
        if seen % 65536 == 0:
            ctx.check_time()
        if isinstance(node, list):
            stack.extend((v, f"{path}/{i}") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        _check_layer(ctx, node, join_pointer(pointer, path or "/"))
        stack.extend((v, f"{path}/{k}") for k, v in node.items())


def _check_layer(ctx: ScanContext, node: dict[str, Any], where: str) -> None:
    cls = node.get("class_name")
    cfg = node.get("config")
    if cls in ("Lambda", "TFOpLambda") or cls == "__lambda__":
        fn = cfg.get("function") if isinstance(cfg, dict) else None
        if (
            cls == "__lambda__"
            or isinstance(fn, list | str)
            or (isinstance(fn, dict) and fn.get("class_name") in ("__lambda__", "__tuple__"))
        ):
            ctx.add(R.KERAS_LAMBDA, where, f"{cls} layer with marshalled Python bytecode{_hint(node)}")
        elif cls == "Lambda":
            ctx.add(R.KERAS_LAMBDA, where, f"Lambda layer calls {printable(json.dumps(fn)[:80], 80)}", confidence=0.8)
    module = node.get("module")
    if isinstance(module, str) and module:
        name = str(node.get("registered_name") or cls or "")
        if not module.startswith(_KERAS_MODULES):
            verdict = policy.classify(module, name or "x")
            sev_rule = R.DANGEROUS_CALLABLE if verdict is policy.Verdict.DANGEROUS else R.KERAS_FOREIGN
            ctx.add(sev_rule, where, f"config references {printable(module, 60)}.{printable(name, 40)}")
        elif cls == "function" and isinstance(cfg, str) and cfg in _BAD_KERAS_FUNCS:
            ctx.add(R.KERAS_FOREIGN, where, f"config calls {printable(module, 60)}.{cfg}")
    if cls == "function" and isinstance(cfg, str) and module is None:
        ctx.add(R.KERAS_FOREIGN, where, f"config references function {printable(cfg, 60)!r} without a module")


_CODE_NAMES = (
    "exec", "eval", "compile", "__import__", "import_module", "system", "popen", "subprocess", "os",
    "open", "getattr", "globals", "__builtins__", "socket", "urlopen", "loads",
)  # fmt: skip


def _hint(node: dict[str, Any]) -> str:
    names = _bytecode_names(node)
    if names:
        return f" (bytecode references {', '.join(repr(n) for n in names[:6])})"
    text = json.dumps(node)[:4096]
    for word in ("os", "system", "subprocess", "eval", "exec", "popen", "__import__"):
        if f'"{word}' in text or word in text:
            return f" (mentions {word!r})"
    return ""


def _bytecode_names(node: dict[str, Any]) -> list[str]:
    """Names a Lambda's marshalled code object refers to, read without unmarshalling.

    Keras stores the function as base64 of `marshal.dumps(code)` (a string, a
    `[code, defaults, closure]` list, or tf-keras' `{"class_name": "__tuple__", "items": [...]}`).
    `marshal.loads` on hostile bytes is unsafe, but a code object's names are plain strings
    in it, each right after its length byte, so they are matched as bytes.
    """
    import base64
    import binascii

    cfg = node.get("config")
    fn = cfg.get("function") if isinstance(cfg, dict) else None
    if isinstance(fn, dict):
        fn = fn.get("items") if fn.get("class_name") == "__tuple__" else (fn.get("config") or {}).get("code")
    if isinstance(fn, list) and fn:
        fn = fn[0]
    if not isinstance(fn, str) or len(fn) < 8:
        return []
    try:
        code = base64.b64decode(fn[: 4 * 1024**2], validate=False)
    except (binascii.Error, ValueError):
        return []
    return [n for n in _CODE_NAMES if bytes([len(n)]) + n.encode() in code]


def scan_hdf5(ctx: ScanContext, data: Any, pointer: str) -> None:
    """Legacy Keras `.h5`: read `model_config` through h5py (no code runs on read)."""
    try:
        import io

        import h5py
    except ImportError:
        _raw_fallback(ctx, data, pointer)
        return
    try:
        with h5py.File(io.BytesIO(bytes(data)), "r") as f:
            for key in ("model_config", "training_config"):
                if key in f.attrs:
                    value = f.attrs[key]
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    scan_keras_json(ctx, str(value), join_pointer(pointer, key))
    except Exception as exc:  # h5py raises many types for corrupt files
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"HDF5 file cannot be read: {printable(str(exc), 80)}")
        _raw_fallback(ctx, data, pointer)


def _raw_fallback(ctx: ScanContext, data: Any, pointer: str) -> None:
    raw = bytes(data[: 256 * 1024**2])
    if b'"Lambda"' in raw or b"__lambda__" in raw:
        ctx.add(R.KERAS_LAMBDA, pointer, "Lambda layer found in raw HDF5 bytes", confidence=0.7)
