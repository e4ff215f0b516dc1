"""Binary model and data formats recognised by their magic numbers and headers.

Every check reads structure, never payload: a safetensors JSON header, a GGUF
key/value block, a NumPy header literal, a protobuf's first fields. Nothing here
imports the framework that wrote the file or executes any of its content.
"""

from __future__ import annotations

import ast
import json
import math
import struct
from typing import Any

from bastion.core.types import Asset, AssetKind
from bastion.discover._sniff._base import Ctx, SniffError, problem

_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def _prod(shape: Any) -> int:
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SniffError("bad tensor shape")
    return math.prod(shape)


def sniff_safetensors(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 10 or h[8:9] != b"{":
        return None
    (n,) = struct.unpack_from("<Q", h)
    if n < 2 or n > _MAX_SAFETENSORS_HEADER:
        return None
    asset = c.asset(AssetKind.MODEL, "safetensors", framework="safetensors")
    if 8 + n > c.size:
        return problem(asset, "truncated header: declared length exceeds the file", confidence=0.6)
    raw = c.read(8, n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return problem(asset, "header is not valid JSON", confidence=0.5)
    if not isinstance(header, dict):
        return problem(asset, "header is not a JSON object", confidence=0.5)
    params = 0
    dtypes: set[str] = set()
    end = 0
    tensors = 0
    try:
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if not isinstance(info, dict) or "dtype" not in info or "shape" not in info:
                raise SniffError(f"tensor entry {name[:40]!r} lacks dtype/shape")
            params += _prod(info["shape"])
            dtypes.add(str(info["dtype"]))
            offs = info.get("data_offsets")
            if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
                raise SniffError(f"tensor entry {name[:40]!r} has bad data_offsets")
            end = max(end, offs[1])
            tensors += 1
    except SniffError as exc:
        return problem(asset, str(exc), confidence=0.6)
    asset.tags.update(tensors=tensors, parameters=params, dtypes=sorted(dtypes))
    meta = header.get("__metadata__")
    if isinstance(meta, dict):
        asset.tags["metadata"] = {str(k)[:64]: str(v)[:256] for k, v in list(meta.items())[:32]}
    if 8 + n + end != c.size:
        problem(asset, f"data section is {c.size - 8 - n} bytes, header describes {end}")
    return asset


# GGUF value types -> struct format of fixed-size scalars
_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_KEEP = (
    "general.architecture",
    "general.name",
    "general.basename",
    "general.size_label",
    "general.file_type",
    "general.quantization_version",
    "general.license",
    "general.base_model.0.name",
    "general.base_model.0.repo_url",
    "general.source.url",
)


class _GGUFReader:
    def __init__(self, data: bytes, endian: str, offset: int) -> None:
        self.d, self.e, self.o = data, endian, offset

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.o + size > len(self.d):
            raise EOFError
        (v,) = struct.unpack_from(self.e + fmt, self.d, self.o)
        self.o += size
        return v

    def string(self) -> str:
        n = self.take("Q")
        if n > 1 << 20:
            raise SniffError("string length out of range")
        if self.o + n > len(self.d):
            raise EOFError
        s = self.d[self.o : self.o + n].decode("utf-8", "replace")
        self.o += n
        return s

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _GGUF_SCALAR:
            return self.take(_GGUF_SCALAR[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9 and depth < 2:
            itype, count = self.take("I"), self.take("Q")
            if itype in _GGUF_SCALAR:
                skip = struct.calcsize(_GGUF_SCALAR[itype]) * count
                if self.o + skip > len(self.d):
                    raise EOFError
                self.o += skip
            else:
                for _ in range(count):
                    self.value(itype, depth + 1)
            return f"<array of {count}>"
        raise SniffError(f"unknown value type {vtype}")


def sniff_gguf(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 8 or h[:4] != b"GGUF":
        return None
    endian = "<"
    (version,) = struct.unpack_from("<I", h, 4)
    if version > 0xFFFF:
        endian = ">"
        (version,) = struct.unpack_from(">I", h, 4)
    if version not in (1, 2, 3):
        return None
    asset = c.asset(AssetKind.MODEL, "gguf", framework="llama.cpp", version=version)
    count_fmt = "I" if version == 1 else "Q"
    r = _GGUFReader(h, endian, 8)
    try:
        tensors, kvs = r.take(count_fmt), r.take(count_fmt)
        asset.tags.update(tensors=tensors, metadata_keys=kvs)
        meta: dict[str, Any] = {}
        for _ in range(min(kvs, 100_000)):
            key = r.string()
            val = r.value(r.take("I"))
            if key in _GGUF_KEEP or key.endswith((".context_length", ".block_count", ".embedding_length")):
                meta[key] = val
        asset.tags["metadata"] = meta
    except EOFError:
        if c.whole:
            problem(asset, "truncated header", confidence=0.7)
        else:
            asset.tags["metadata_partial"] = True
    except SniffError as exc:
        problem(asset, str(exc), confidence=0.7)
    meta = asset.tags.get("metadata", {})
    if isinstance(meta, dict) and meta.get("general.architecture"):
        asset.tags["architecture"] = meta["general.architecture"]
    return asset


def sniff_npy(c: Ctx) -> Asset | None:
    h = c.head
    if not h.startswith(b"\x93NUMPY") or len(h) < 10:
        return None
    major = h[6]
    asset = c.asset(AssetKind.MODEL, "npy", framework="numpy", version=f"{major}.{h[7]}")
    if major == 1:
        (hlen,), start = struct.unpack_from("<H", h, 8), 10
    elif major in (2, 3) and len(h) >= 12:
        (hlen,), start = struct.unpack_from("<I", h, 8), 12
    else:
        return problem(asset, f"unknown .npy version {major}", confidence=0.6)
    if hlen > 1 << 20 or start + hlen > c.size:
        return problem(asset, "truncated or oversized header", confidence=0.6)
    text = c.read(start, hlen).decode("latin-1")
    try:
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return problem(asset, "header is not a Python literal", confidence=0.6)
    if not isinstance(header, dict) or not {"descr", "shape"} <= header.keys():
        return problem(asset, "header lacks descr/shape", confidence=0.6)
    shape = header["shape"]
    if isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape):
        asset.tags["shape"] = list(shape)
        asset.tags["parameters"] = math.prod(shape)
    asset.tags["dtype"] = str(header["descr"])[:64]
    if "O" in str(header["descr"]):
        asset.tags["object_dtype"] = True  # the payload is a pickle
    return asset


def sniff_tflite(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 8 or h[4:8] != b"TFL3":
        return None
    (root,) = struct.unpack_from("<I", h)
    asset = c.asset(AssetKind.MODEL, "tflite", framework="tflite")
    if root >= c.size:
        problem(asset, "root table offset points past the end of the file", confidence=0.6)
    return asset


_HDF5_SIG = b"\x89HDF\r\n\x1a\n"


def sniff_hdf5(c: Ctx) -> Asset | None:
    h = c.head
    offset = next((o for o in (0, 512, 1024, 2048, 4096, 8192) if h[o : o + 8] == _HDF5_SIG), None)
    if offset is None:
        return None
    if b"keras_version" in h or b"model_config" in h:
        return c.asset(AssetKind.MODEL, "keras-h5", framework="keras", userblock=offset or None)
    if b"layer_names" in h or b"weight_names" in h:
        return c.asset(AssetKind.MODEL, "keras-h5-weights", framework="keras", confidence=0.85)
    return c.asset(AssetKind.DATASET, "hdf5", confidence=0.7)


# FAISS index fourccs whose files start with the common index header
_FAISS = {
    b"IxF2": "IndexFlatL2",
    b"IxFI": "IndexFlatIP",
    b"IxFl": "IndexFlat",
    b"IwFl": "IndexIVFFlat",
    b"IwFL": "IndexIVFFlat",
    b"IwPQ": "IndexIVFPQ",
    b"IwQR": "IndexIVFPQR",
    b"IxPQ": "IndexPQ",
    b"IxSQ": "IndexScalarQuantizer",
    b"IwSQ": "IndexIVFScalarQuantizer",
    b"IwSq": "IndexIVFScalarQuantizer",
    b"IHNf": "IndexHNSWFlat",
    b"IHNp": "IndexHNSWPQ",
    b"IHNs": "IndexHNSWSQ",
    b"IHN2": "IndexHNSW2Level",
    b"IxMp": "IndexIDMap",
    b"IxM2": "IndexIDMap2",
    b"IxLS": "IndexLSH",
    b"IxPT": "IndexPreTransform",
    b"IxRF": "IndexRefine",
    b"IxRB": "IndexRefineFlat",
    b"IxSh": "IndexShards",
    b"ILfl": "IndexLattice",
    b"IxNP": "IndexNSGFlat",
    b"ImRQ": "IndexResidualQuantizer",
    b"IwPF": "IndexIVFPQFastScan",
}


def sniff_faiss(c: Ctx) -> Asset | None:
    h = c.head
    kind = _FAISS.get(h[:4])
    if kind is None or len(h) < 37:
        return None
    d, ntotal, dummy1, dummy2 = struct.unpack_from("<iqqq", h, 4)
    if kind in ("IndexIDMap", "IndexIDMap2", "IndexPreTransform") and (dummy1, dummy2) != (1 << 20, 1 << 20):
        return None
    if (dummy1, dummy2) != (1 << 20, 1 << 20) or d <= 0 or ntotal < 0:
        return None
    return c.asset(AssetKind.VECTOR_STORE, "faiss", framework="faiss", index_type=kind, dimension=d, vectors=ntotal)


_CRC32C_TABLE: list[int] = []


def _crc32c(data: bytes) -> int:
    if not _CRC32C_TABLE:
        for i in range(256):
            crc = i
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
            _CRC32C_TABLE.append(crc)
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def sniff_tfrecord(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 16:
        return None
    (length,) = struct.unpack_from("<Q", h)
    (crc,) = struct.unpack_from("<I", h, 8)
    if length + 16 > c.size or masked_crc32c(h[:8]) != crc:
        return None
    asset = c.asset(AssetKind.DATASET, "tfrecord", framework="tensorflow", first_record_bytes=length)
    if length <= 4096 and 16 + length <= len(h):
        (dcrc,) = struct.unpack_from("<I", h, 12 + length)
        if masked_crc32c(h[12 : 12 + length]) != dcrc:
            problem(asset, "first record fails its CRC", confidence=0.8)
    return asset


def _arrow_schema(data: bytes) -> list[str] | None:
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        reader = ipc.open_stream(pa.BufferReader(data))
        return [f.name for f in reader.schema][:128]
    except Exception:
        return None


def sniff_arrow(c: Ctx) -> Asset | None:
    h = c.head
    if h.startswith(b"ARROW1\x00\x00"):
        cols = _arrow_schema(h[8:])
        asset = c.asset(AssetKind.DATASET, "arrow", framework="arrow", columns=cols)
        if c.tail(6) != b"ARROW1":
            problem(asset, "missing trailing ARROW1 magic (truncated file)", confidence=0.7)
        return asset
    if h.startswith(b"FEA1"):
        if c.tail(4) != b"FEA1":
            return None
        return c.asset(AssetKind.DATASET, "feather-v1", framework="arrow")
    if h[:4] == b"\xff\xff\xff\xff" and len(h) >= 16:
        (mlen,) = struct.unpack_from("<i", h, 4)
        if 0 < mlen <= 1 << 24:
            cols = _arrow_schema(h)
            if cols is not None:
                return c.asset(AssetKind.DATASET, "arrow-stream", framework="arrow", columns=cols)
    return None


def sniff_parquet(c: Ctx) -> Asset | None:
    if not c.head.startswith(b"PAR1") or c.size < 12:
        return None
    tail = c.tail(8)
    asset = c.asset(AssetKind.DATASET, "parquet", framework="arrow")
    if tail[4:] != b"PAR1":
        return problem(asset, "missing trailing PAR1 magic (truncated file)", confidence=0.7)
    (flen,) = struct.unpack_from("<I", tail)
    if flen + 12 > c.size or flen > 64 * 1024 * 1024:
        return problem(asset, "footer length out of range", confidence=0.7)
    if c.path is None:
        return asset
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(c.path)
        asset.tags.update(
            rows=meta.num_rows, columns=[meta.schema.column(i).name for i in range(min(meta.num_columns, 128))]
        )
    except Exception as exc:
        problem(asset, f"footer unreadable: {type(exc).__name__}", confidence=0.7)
    return asset


def sniff_catboost(c: Ctx) -> Asset | None:
    if c.head.startswith(b"CBM1"):
        return c.asset(AssetKind.MODEL, "catboost", framework="catboost")
    return None


def sniff_xgboost_binary(c: Ctx) -> Asset | None:
    h = c.head
    if h.startswith(b"binf"):
        return c.asset(AssetKind.MODEL, "xgboost-binary", framework="xgboost", confidence=0.8)
    if h[:1] == b"{" and b"learner" in h[:48] and b"gradient_booster" in h and b"\x00" in h[:64]:
        return c.asset(AssetKind.MODEL, "xgboost-ubj", framework="xgboost")
    return None


def sniff_sqlite(c: Ctx) -> Asset | None:
    h = c.head
    if not h.startswith(b"SQLite format 3\x00"):
        return None
    if b"embeddings" in h and b"collections" in h and (b"segments" in h or b"embedding_metadata" in h):
        return c.asset(AssetKind.VECTOR_STORE, "chroma-sqlite", framework="chroma")
    return None


# --- protobuf (ONNX ModelProto, TensorFlow SavedModel) ---------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise EOFError
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise SniffError("varint too long")


def _proto_fields(data: bytes, size: int, limit: int = 64) -> list[tuple[int, int, Any]]:
    """Top-level (field, wiretype, value) of a protobuf, checked against `size`; stops at the head's end."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    try:
        while pos < len(data) and len(out) < limit:
            key, pos = _varint(data, pos)
            field, wt = key >> 3, key & 7
            if field == 0:
                raise SniffError("field number 0")
            if wt == 0:
                val, pos = _varint(data, pos)
                out.append((field, wt, val))
            elif wt == 2:
                n, pos = _varint(data, pos)
                if pos + n > size:
                    raise SniffError("length-delimited field runs past the end of the file")
                out.append((field, wt, data[pos : pos + n] if pos + n <= len(data) else None))
                pos += n
            elif wt == 1:
                pos += 8
                out.append((field, wt, None))
            elif wt == 5:
                pos += 4
                out.append((field, wt, None))
            else:
                raise SniffError(f"wire type {wt}")
    except EOFError:
        pass
    return out


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")[:128]
        except UnicodeDecodeError:
            return None
    return None


def sniff_onnx(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 4 or h[0] != 0x08 or not (1 <= h[1] <= 30):
        return None
    try:
        fields = _proto_fields(h, c.size)
    except SniffError:
        return None
    if not fields or fields[0][:2] != (1, 0):
        return None
    allowed = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 21: 2, 25: 2}
    if any(allowed.get(f) != wt for f, wt, _ in fields):
        return None
    nums = [f for f, _, _ in fields]
    if 7 not in nums or nums != sorted(nums):
        return None
    values = {f: v for f, _, v in fields}
    asset = c.asset(
        AssetKind.MODEL,
        "onnx",
        framework="onnx",
        ir_version=values[1],
        producer=_text(values.get(2)),
        producer_version=_text(values.get(3)),
    )
    opsets = []
    for f, _, v in fields:
        if f == 8 and isinstance(v, bytes):
            sub = dict((sf, sv) for sf, _, sv in _proto_fields(v, len(v)))
            opsets.append(f"{_text(sub.get(1)) or 'ai.onnx'}:{sub.get(2)}")
    if opsets:
        asset.tags["opsets"] = opsets
    return asset


def sniff_savedmodel_pb(c: Ctx) -> Asset | None:
    h = c.head
    if len(h) < 4 or h[:3] != b"\x08\x01\x12":
        return None
    try:
        fields = _proto_fields(h, c.size, limit=4)
    except SniffError:
        return None
    if not fields or fields[0] != (1, 0, 1) or any(f != 2 or wt != 2 for f, wt, _ in fields[1:]):
        return None
    if b"serve" not in h and b"tensorflow" not in h:
        return None
    return c.asset(AssetKind.MODEL, "tf-savedmodel-pb", framework="tensorflow", confidence=0.9)


SNIFFERS = (
    sniff_safetensors,
    sniff_gguf,
    sniff_npy,
    sniff_tflite,
    sniff_hdf5,
    sniff_faiss,
    sniff_arrow,
    sniff_parquet,
    sniff_catboost,
    sniff_xgboost_binary,
    sniff_sqlite,
    sniff_savedmodel_pb,
    sniff_onnx,
    sniff_tfrecord,
)
