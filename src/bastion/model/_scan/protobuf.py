"""Minimal protobuf wire-format reader for ONNX and TensorFlow graphs.

Walking the wire format with the few field numbers that matter avoids depending
on TensorFlow, and parses hostile input with explicit bounds instead of trusting
a generated parser: nothing is executed, and nesting is capped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan.context import ScanContext, join_pointer, printable


class ProtoError(Exception):
    pass


def _varint(data: Any, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ProtoError("bad varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: Any, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value); length-delimited values as (start, end)."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        fno, wt = key >> 3, key & 7
        if fno == 0:
            raise ProtoError("field number 0")
        if wt == 0:
            v, pos = _varint(data, pos, end)
            yield fno, wt, v
        elif wt == 1:
            pos += 8
            yield fno, wt, None
        elif wt == 2:
            n, pos = _varint(data, pos, end)
            if pos + n > end:
                raise ProtoError("length-delimited field runs past its message")
            yield fno, wt, (pos, pos + n)
            pos += n
        elif wt == 5:
            pos += 4
            yield fno, wt, None
        else:
            raise ProtoError(f"unsupported wire type {wt}")
        if pos > end:
            raise ProtoError("field runs past its message")


def plausible(head: bytes) -> bool:
    """Two well-formed leading fields with small field numbers; a field may run past the head."""
    pos = 0
    end = len(head)
    for _ in range(2):
        try:
            key, pos = _varint(head, pos, end)
        except ProtoError:
            return False
        fno, wt = key >> 3, key & 7
        if fno == 0 or fno > 64 or wt not in (0, 1, 2, 5):
            return False
        try:
            if wt == 0:
                _, pos = _varint(head, pos, end)
            elif wt == 2:
                n, pos = _varint(head, pos, end)
                if pos + n > end:
                    return True
                pos += n
            else:
                pos += 8 if wt == 1 else 4
        except ProtoError:
            return False
        if pos >= end:
            return True
    return True


def _sub(data: Any, span: tuple[int, int]) -> list[tuple[int, int, Any]]:
    return list(fields(data, span[0], span[1]))


def _str(data: Any, span: Any) -> str:
    return bytes(data[span[0] : span[1]]).decode("utf-8", "replace") if isinstance(span, tuple) else ""


_TF_DANGEROUS = {
    "PyFunc": 1.0, "PyFuncStateless": 1.0, "EagerPyFunc": 1.0, "ReadFile": 0.9, "WriteFile": 0.9,
    "MatchingFiles": 0.7, "DatasetToTFRecord": 0.8, "ExperimentalDatasetToTFRecord": 0.8,
    "DebugIdentity": 0.6, "DebugIdentityV2": 0.6, "DebugNumericSummary": 0.6, "LoadLibrary": 1.0,
    "ImmutableConst": 0.6, "DeleteFile": 0.9, "RecursivelyCreateDir": 0.8, "CopyFile": 0.8,
}  # fmt: skip
_ONNX_STD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}


def scan_protobuf(ctx: ScanContext, data: Any, pointer: str) -> None:
    end = len(data)
    try:
        top = list(fields(data, 0, end))
    except ProtoError as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"protobuf does not parse: {exc}")
        return
    numbers = {f for f, _, _ in top}
    if _is_fingerprint(top):
        return  # SavedModel fingerprint.pb: hashes and a version, nothing a loader executes
    if numbers & {7, 8} and 1 in numbers:
        _scan_onnx(ctx, data, top, pointer)
        return
    if numbers == {1} and all(wt == 2 for _, wt, _ in top):
        pass  # keras_metadata.pb (SavedMetadata: repeated SavedObject), read below for embedded configs
    elif 2 in numbers and numbers <= {1, 2}:
        for fno, wt, v in top:
            if fno == 2 and wt == 2:
                for f2, w2, v2 in _sub(data, v):
                    if f2 == 2 and w2 == 2:
                        _scan_graphdef(ctx, data, v2, pointer)
    elif 1 in numbers:
        _scan_graphdef(ctx, data, (0, end), pointer)
    _embedded_keras(ctx, data, (0, end), pointer)


def _is_fingerprint(top: list[tuple[int, int, Any]]) -> bool:
    """TensorFlow's `FingerprintDef`: uint64 hashes in fields 1-5, `VersionDef version = 6`,
    `string uuid = 7`. Told apart from ONNX (which shares field numbers 1 and 7) by its
    wire types: ONNX's field 2 is a string and a runnable model needs `opset_import` (8)."""
    kinds = {f: wt for f, wt, _ in top}
    if not kinds or not set(kinds) <= {1, 2, 3, 4, 5, 6, 7} or not {1, 2} <= set(kinds):
        return False
    if any(kinds.get(f, 0) != 0 for f in (1, 2, 3, 4, 5)):
        return False
    return all(kinds.get(f, 2) == 2 for f in (6, 7)) and len(top) == len(kinds)


_EMBED_DEPTH = 8


def _embedded_keras(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str, depth: int = 0) -> None:
    """Keras layer configs stored as JSON strings inside TensorFlow protobufs.

    tf-keras SavedModels keep each layer's config (Lambda functions as base64 marshalled
    bytecode included) in `keras_metadata.pb` (`SavedObject.metadata`) and, in older
    versions, in `saved_model.pb` (`SavedUserObject.metadata`); `tf.keras.models.load_model`
    rebuilds layers from them. Rather than follow every schema version, each length-delimited
    field is read as a nested message when it parses as one, and strings that hold a JSON
    object naming a `class_name` go to the Keras config checks. Depth is capped and time checked.
    """
    if depth > _EMBED_DEPTH:
        return
    try:
        items = list(fields(data, *span))
    except ProtoError:
        return
    for count, (_fno, wt, v) in enumerate(items):
        if wt != 2 or v[1] - v[0] < 2:
            continue
        if count % 1024 == 1023:
            ctx.check_time()
        first = data[v[0]]
        if first == 0x7B:  # '{'
            raw = bytes(data[v[0] : v[1]])
            if b'"class_name"' in raw:
                from bastion.model._scan.keras import scan_keras_json

                scan_keras_json(ctx, raw, join_pointer(pointer, "metadata"))
                continue
        _embedded_keras(ctx, data, v, pointer, depth + 1)


def _scan_graphdef(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str, depth: int = 0) -> None:
    if depth > 8:
        ctx.limit(pointer, "TensorFlow function nesting limit")
        return
    try:
        for fno, wt, v in fields(data, *span):
            if wt != 2:
                continue
            if fno in (1, 3):  # NodeDef (GraphDef.node / FunctionDef.node_def)
                _tf_node(ctx, data, v, pointer)
            elif fno == 2:  # FunctionDefLibrary
                for f2, w2, v2 in _sub(data, v):
                    if f2 == 1 and w2 == 2:
                        _scan_graphdef(ctx, data, v2, pointer, depth + 1)
    except ProtoError as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"TensorFlow graph does not parse: {exc}")


def _tf_node(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str) -> None:
    name = op = ""
    for fno, wt, v in fields(data, *span):
        if fno == 1 and wt == 2:
            name = _str(data, v)
        elif fno == 2 and wt == 2:
            op = _str(data, v)
    if op in _TF_DANGEROUS:
        ctx.add(
            R.SAVEDMODEL_OP,
            join_pointer(pointer, f"node:{printable(name, 60)}"),
            f"op {op} in node {printable(name, 60)!r}",
            confidence=_TF_DANGEROUS[op],
        )


def _scan_onnx(ctx: ScanContext, data: Any, top: list[tuple[int, int, Any]], pointer: str) -> None:
    try:
        for fno, wt, v in top:
            if wt != 2:
                continue
            if fno == 8:  # opset_import
                for f2, _w2, v2 in _sub(data, v):
                    if f2 == 1:
                        dom = _str(data, v2)
                        if dom not in _ONNX_STD_DOMAINS:
                            ctx.add(
                                R.ONNX_CUSTOM,
                                join_pointer(pointer, "opset_import"),
                                f"custom domain {printable(dom, 60)!r}",
                            )
            elif fno == 7:  # graph
                _onnx_graph(ctx, data, v, pointer, 0)
            elif fno == 25:  # functions
                for f2, w2, v2 in _sub(data, v):
                    if f2 == 7 and w2 == 2:
                        _onnx_node(ctx, data, v2, pointer, 0)
    except ProtoError as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"ONNX model does not parse: {exc}")


def _onnx_graph(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str, depth: int) -> None:
    if depth > 16:
        ctx.limit(pointer, "ONNX subgraph nesting limit")
        return
    for fno, wt, v in fields(data, *span):
        if wt != 2:
            continue
        if fno == 1:
            _onnx_node(ctx, data, v, pointer, depth)
        elif fno in (5, 15):  # initializer / sparse_initializer
            _onnx_tensor(ctx, data, v, pointer)


def _onnx_node(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str, depth: int) -> None:
    domain = op = ""
    for fno, wt, v in fields(data, *span):
        if fno == 4 and wt == 2:
            op = _str(data, v)
        elif fno == 7 and wt == 2:
            domain = _str(data, v)
        elif fno == 5 and wt == 2:  # attribute -> subgraphs (g=6, graphs=11)
            for f2, w2, v2 in _sub(data, v):
                if f2 in (6, 11) and w2 == 2:
                    _onnx_graph(ctx, data, v2, pointer, depth + 1)
    if domain not in _ONNX_STD_DOMAINS:
        ctx.add(
            R.ONNX_CUSTOM,
            join_pointer(pointer, f"op:{printable(op, 40)}"),
            f"operator {printable(domain, 60)}::{printable(op, 40)} from a custom domain",
        )


def _onnx_tensor(ctx: ScanContext, data: Any, span: tuple[int, int], pointer: str) -> None:
    tname = ""
    for fno, wt, v in fields(data, *span):
        if fno == 8 and wt == 2:
            tname = _str(data, v)
        elif fno == 13 and wt == 2:  # external_data: StringStringEntryProto
            key = value = ""
            for f2, _w2, v2 in _sub(data, v):
                if f2 == 1:
                    key = _str(data, v2)
                elif f2 == 2:
                    value = _str(data, v2)
            if key == "location" and _escapes(value):
                ctx.add(
                    R.ONNX_EXTERNAL,
                    join_pointer(pointer, f"initializer:{printable(tname, 60)}"),
                    f"external data location {printable(value, 80)!r} escapes the model folder",
                )


def _escapes(location: str) -> bool:
    loc = location.replace("\\", "/")
    if loc.startswith("/") or (len(loc) > 1 and loc[1] == ":") or loc.startswith("~"):
        return True
    depth = 0
    for part in loc.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
