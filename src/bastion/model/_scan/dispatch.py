"""Routes each blob to the reader its *content* calls for, recursing into containers.

Nesting (a 7z holding a tar holding a zip ...) is bounded by depth, member count,
bytes inflated and the file's time budget; all readers share one `ScanContext`.
"""

from __future__ import annotations

import io
import re
from typing import Any

from bastion.model._scan import rules as R
from bastion.model._scan import sniff as S
from bastion.model._scan._pickle.analyser import PickleAnalyser, PickleResult
from bastion.model._scan.compress import DecompressError, decompress
from bastion.model._scan.context import LimitReached, ScanContext, join_pointer, printable
from bastion.model._scan.gguf import scan_gguf
from bastion.model._scan.keras import scan_hdf5, scan_keras_json
from bastion.model._scan.numpyfmt import scan_npy
from bastion.model._scan.protobuf import scan_protobuf
from bastion.model._scan.safetensors import scan_safetensors
from bastion.model._scan.zipfmt import Entry, ZipError, read_directory, read_member

_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_SIZES = {
    "Float": 4, "Double": 8, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
    "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QInt8": 1, "QUInt8": 1, "QInt32": 4,
    "QUInt4x2": 1, "QUInt2x4": 1, "Untyped": 1,
}  # fmt: skip
_TS_SUSPICIOUS = re.compile(
    rb"(torch\.ops\.(?!aten\b|prim\b|quantized\b|_caffe2\b)[A-Za-z_]\w*|ops\.aten\.(from_file|save|_load)\b|"
    rb"__import__|\bos\.system|subprocess|builtins\.(eval|exec|open))"
)


def scan_blob(ctx: ScanContext, data: Any, pointer: str, depth: int = 0, *, top: bool = False) -> bool:
    """Scan one blob; returns False when its format was not recognised."""
    if depth > ctx.limits.max_depth:
        ctx.limit(pointer, f"container nesting deeper than {ctx.limits.max_depth}")
        return True
    ctx.check_time()
    head = bytes(data[:512])
    tail = bytes(data[-(65535 + 22) :]) if top else b""
    fmt = S.sniff(head, len(data), tail)
    try:
        if fmt is None:
            return _speculative_pickle(ctx, data, pointer, depth) or (top and _tensorflow_checkpoint(ctx, data))
        _ROUTES[fmt](ctx, data, pointer, depth)
    except LimitReached as exc:
        ctx.limit(pointer, str(exc))
    return True


def _speculative_pickle(ctx: ScanContext, data: Any, pointer: str, depth: int) -> bool:
    """Whether content no magic identified is a pickle after all; if so its findings are kept.

    `pickle.load` needs no protocol header: a stream may open with FRAME, SHORT_BINUNICODE or
    protocol-0 text, and the head sniff cannot tell all of those from other binaries. So the
    whole stream is interpreted in a scratch context. It counts as a pickle when it parses to
    STOP (a loader accepts it) or when, before breaking, it reached a callable or nested
    payload (a loader runs those before it meets the break). Anything else fails at an opcode
    that does nothing, so it is left to the caller as unrecognised content.
    """
    if len(data) < 2:
        return False
    scratch = ctx.child()
    results = _pickles(scratch, data, pointer, depth)
    if not results[0].ok:
        # A name that is not a dotted identifier (CSV read as INST) cannot be imported: no effect.
        reached = any(_IMPORTABLE.match(g) for r in results for g in r.globals) or any(
            f.rule_id in _EFFECT_RULES for f in scratch.findings
        )
        if not reached:
            return False
    _merge(ctx, scratch)
    return True


_IMPORTABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_EFFECT_RULES = {R.DANGEROUS_CALLABLE.id, R.NESTED_PICKLE.id, R.GLOBAL_MUTATION.id, R.UNRESOLVED_CALLABLE.id}


def _merge(ctx: ScanContext, scratch: ScanContext) -> None:
    for f in scratch.findings:
        key = (f.rule_id, f.location.pointer or "", f.evidence or "")
        if key not in ctx._seen:
            ctx._seen.add(key)
            ctx.findings.append(f)


_TF_SHARD = re.compile(r"(^|/)variables\.data-\d{5}-of-\d{5}$")
_SSTABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")


def _tensorflow_checkpoint(ctx: ScanContext, data: Any) -> bool:
    """TensorFlow checkpoint files of a SavedModel (`variables/`), recognised by structure.

    `variables.index` is a LevelDB-style table (48-byte footer ending in its magic number);
    `variables.data-NNNNN-of-NNNNN` shards are raw tensor bytes addressed by that index, with
    no magic of their own, so a shard is accepted by its name only after its content failed to
    parse as anything a loader would execute (the speculative pickle parse ran first). TensorFlow
    reads both as data through C++ readers; neither can carry code.
    """
    size = len(data)
    if size >= 48 and bytes(data[size - 8 : size]) == _SSTABLE_MAGIC:
        return True
    return bool(_TF_SHARD.search(ctx.uri))


# ---------------------------------------------------------------------- pickles
def _pickles(ctx: ScanContext, data: Any, pointer: str, depth: int, *, torchscript: bool = False) -> list[PickleResult]:
    """Every pickle a loader may read from this stream: one, the five of legacy
    `torch.save`, or back-to-back pickles (scanned, lower severity if broken)."""
    results: list[PickleResult] = []
    first = PickleAnalyser(ctx, pointer, joblib=True, torchscript=torchscript, depth=depth).analyse(data, 0)
    results.append(first)
    if not first.ok:
        return results
    legacy = _is_legacy_torch(data)
    pos = first.end
    n_extra = 4 if legacy else 16
    for _ in range(n_extra):
        # No header check: `pickle.load` reads a next pickle whatever opcode it opens with.
        if pos >= len(data):
            break
        before = len(ctx.findings)
        res = PickleAnalyser(ctx, join_pointer(pointer, f"pickle@{pos}"), joblib=True, depth=depth).analyse(data, pos)
        results.append(res)
        if not res.ok:
            if not legacy:  # trailing bytes a loader never reads: keep callable findings, drop the parse error
                ctx.findings[before:] = [f for f in ctx.findings[before:] if f.rule_id != R.MALFORMED_PICKLE.id]
            break
        pos = res.end
    return results


_LEGACY_MAGIC_BIN = b"\x8a\x0a" + _LEGACY_TORCH_MAGIC.to_bytes(10, "little")
_LEGACY_MAGIC_TEXT = b"L%dL\n" % _LEGACY_TORCH_MAGIC


def _is_legacy_torch(data: Any) -> bool:
    """Whether the first pickle is legacy `torch.save`'s magic number, however it is encoded.

    Legacy `torch.load` then reads four more pickles (protocol, sys_info, the object, the
    storage keys); the magic pickle needs no protocol header, so neither does this test.
    """
    head = bytes(data[:64])
    for start in (0, 2):
        if start and not (head[0] == 0x80 and head[1] <= 5):
            continue
        if head[start:].startswith((_LEGACY_MAGIC_BIN, _LEGACY_MAGIC_TEXT)):
            return True
    return False


def _route_pickle(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    _pickles(ctx, data, pointer, depth)


def _route_safetensors(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    """safetensors, plus whatever `pickle.load` would run if the file is also a pickle.

    A safetensors length prefix is eight arbitrary bytes; a crafted one can open a pickle
    (SHORT_BINUNICODE swallowing the header, ...). The pickle reading is kept only when it
    loads or reaches a callable, so a genuine file pays one failed opcode.
    """
    scan_safetensors(ctx, data, pointer)
    _speculative_pickle(ctx, data, pointer, depth)


def _route_joblib_zfile(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    """joblib < 0.9.3 compressed pickles, read as `numpy_pickle_compat.read_zfile` reads them.

    `ZF`, the decompressed length in 19 hexadecimal characters (one optional space), then one
    zlib stream; joblib unpickles the result, so it is analysed as a pickle whatever it looks like.
    """
    head = bytes(data[2:21])
    try:
        length = int(head, 16)
    except ValueError:
        ctx.add(R.CONTAINER_MALFORMED, pointer, "joblib ZF header has no hexadecimal length")
        return
    start = 22 if bytes(data[21:22]) == b" " else 21
    inner = join_pointer(pointer, "zlib")
    try:
        out, complete = decompress(ctx, data[start:], S.ZLIB)
    except DecompressError as exc:  # zlib.decompress is all-or-nothing: nothing reaches the unpickler
        ctx.add(R.CONTAINER_MALFORMED, pointer, str(exc))
        return
    if not complete:
        ctx.limit(pointer, "joblib ZF stream inflates beyond the decompression limit")
    elif len(out) != length:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"joblib ZF header says {length} bytes, stream holds {len(out)}")
    _pickles(ctx, out, inner, depth + 1)


# ---------------------------------------------------------------------- compressed streams
def _route_compressed(kind: str) -> Any:
    def route(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
        try:
            out, complete = decompress(ctx, data, kind)
        except DecompressError as exc:
            ctx.add(R.CONTAINER_MALFORMED, pointer, str(exc))
            if exc.partial:  # what a streaming reader already handed to the unpickler
                _speculative_pickle(ctx, exc.partial, join_pointer(pointer, kind), depth + 1)
            return
        if not complete:
            ctx.limit(pointer, f"{kind} stream inflates beyond the decompression or expansion-ratio limit")
        inner = join_pointer(pointer, kind)
        if not scan_blob(ctx, out, inner, depth + 1) and out and ctx.strict:
            ctx.add(R.UNRECOGNISED, inner, f"{kind}-compressed content of unknown format", confidence=0.6)

    return route


# ---------------------------------------------------------------------- zip family
def _route_zip(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    """Every member is read the way its loader reads it and identified by its whole content.

    Nothing is judged from a look-ahead: a member the sniffer cannot read in 512 bytes (bzip2 or
    LZMA in an `.npz`, a deflate stream opening with thousands of empty blocks) is inflated in
    full, within the member and decompression limits. The one skip is tensor storage of a real
    PyTorch archive: records under `<prefix>data/` that the archive's `data.pkl` references as
    storages (persistent ids). Those are bounds-checked, never read, which keeps multi-GiB
    checkpoints fast; any other record, in any zip, is scanned.
    """
    try:
        entries = read_directory(ctx, data, pointer)
    except ZipError as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"zip archive cannot be read: {exc}")
        return
    except LimitReached as exc:
        ctx.limit(pointer, str(exc))
        return
    names = {e.name for e in entries}
    torchscript = any(n.endswith("constants.pkl") for n in names) or any(
        "/code/" in n or n.startswith("code/") for n in names
    )
    by_name = {e.name: e for e in entries}
    is_keras = "config.json" in names and ({"metadata.json", "model.weights.h5"} & names)
    storages: set[str] = set()
    done: set[int] = set()
    for e in entries:  # PyTorch pickles first: they say which records are tensor storage
        if not (e.name == "data.pkl" or e.name.endswith("/data.pkl")):
            continue
        ctx.check_time()
        done.add(e.index)
        ptr = join_pointer(pointer, e.name)
        raw = _read_zip_member(ctx, data, e, pointer)
        if raw is None:
            continue
        prefix = e.name[: -len("data.pkl")]
        results = _pickles(ctx, raw, ptr, depth + 1, torchscript=torchscript)
        if prefix + "version" in names or prefix + ".data/version" in names:
            storages |= _check_storages(ctx, results, by_name, prefix, ptr)
    for e in entries:
        ctx.check_time()
        if e.index in done or e.name.endswith("/") or (e.name in storages and _plain_storage(data, e)):
            continue
        ptr = join_pointer(pointer, e.name)
        if is_keras and e.name == "config.json":
            raw = _read_zip_member(ctx, data, e, pointer, limit=64 * 1024**2)
            if raw is not None:
                scan_keras_json(ctx, raw, ptr)
            continue
        if torchscript and e.name.endswith(".py") and "/code/" in f"/{e.name}":
            raw = _read_zip_member(ctx, data, e, pointer, limit=64 * 1024**2)
            if raw is not None:
                for m in _TS_SUSPICIOUS.finditer(raw):
                    ctx.add(R.TORCHSCRIPT_OP, ptr, f"TorchScript code uses {printable(m.group(0), 60)}")
            continue
        raw = _read_zip_member(ctx, data, e, pointer)
        if raw is None or not raw:
            continue
        # Loaders unpickle these by name, whatever the bytes look like (`.debug_pkl`: TorchScript
        # debug info, read by torch.jit.load); the TorchScript allowlist applies inside its archive.
        if e.name.endswith((".pkl", ".debug_pkl")) or S.sniff(raw[:512], len(raw)) == S.PICKLE:
            _pickles(ctx, raw, ptr, depth + 1, torchscript=torchscript)
        else:
            scan_blob(ctx, raw, ptr, depth + 1)


def _plain_storage(data: Any, e: Entry) -> bool:
    """Whether a referenced storage record can be skipped: stored, as `torch.save` writes it, and
    not opening with the `.npy` magic (`np.load` of the same zip would read it as an array)."""
    if e.method != 0 or e.flags & 0x1 or e.data_offset < 0:
        return False
    return bytes(data[e.data_offset : e.data_offset + 6]) != b"\x93NUMPY"


def _read_zip_member(ctx: ScanContext, data: Any, e: Entry, pointer: str, limit: int | None = None) -> bytes | None:
    """Member bytes as a loader gets them; encrypted members are reported honestly.

    PyTorch's reader ignores the encryption flag and hands the stored bytes to the
    unpickler, while `zipfile` (NumPy, Keras) refuses the member without a password. So a
    flagged member is read as PyTorch would read it: when that verifies (CRC of the raw
    bytes, or a clean inflate) the flag is a lie and is tampering, and the bytes are
    scanned. When it does not, the member really is encrypted: its plaintext is out of
    reach of every loader as much as of the scanner. Whatever PyTorch would still unpickle
    (the raw bytes) is analysed speculatively, and the member gets `model.container.encrypted`
    at MEDIUM: the honest statement that content was not inspected, without failing
    benign password-protected archives on a tampering claim they do not deserve.
    """
    if not e.flags & 0x1:
        return read_member(ctx, data, e, pointer, limit=limit)
    ptr = join_pointer(pointer, e.name)
    scratch = ctx.child()
    raw = read_member(scratch, data, e, pointer, limit=limit)
    verified = raw is not None and not any(
        f.rule_id in (R.CONTAINER_TAMPERED.id, R.CONTAINER_MALFORMED.id) for f in scratch.findings
    )
    if verified:
        _merge(ctx, scratch)
        ctx.add(
            R.CONTAINER_TAMPERED,
            ptr,
            "encryption flag set on a plaintext member; PyTorch ignores it while zipfile-based scanners refuse it",
        )
        return raw
    ctx.add(R.CONTAINER_ENCRYPTED, ptr, "member is encrypted; its content cannot be inspected")
    if e.method == 0 and e.data_offset >= 0 and e.data_offset + e.csize <= len(data):
        _speculative_pickle(ctx, bytes(data[e.data_offset : e.data_offset + e.csize]), ptr, 1)
    return None


def _check_storages(
    ctx: ScanContext, results: list[PickleResult], by_name: dict[str, Entry], prefix: str, ptr: str
) -> set[str]:
    """Each storage a PyTorch pickle references must exist and be large enough.

    Returns the record names referenced as storages: the only records the zip reader may skip.
    """
    referenced: set[str] = set()
    numel_of: dict[str, int] = {}
    for res in results:
        for pid in res.persistent_ids:
            if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
                continue
            stype, key, numel = pid[1], pid[2], pid[4]
            if not isinstance(key, str) or not isinstance(numel, int):
                ctx.add(R.TENSOR_BOUNDS, ptr, "storage reference with a non-literal key or size")
                continue
            name = getattr(stype, "name", "")
            elsize = _STORAGE_SIZES.get(name.replace("Storage", ""), 1)
            entry = by_name.get(f"{prefix}data/{key}")
            if entry is None:
                ctx.add(
                    R.TENSOR_BOUNDS,
                    join_pointer(ptr, f"storage:{printable(key, 20)}"),
                    "storage record missing from archive",
                )
                continue
            numel_of[key] = numel
            referenced.add(entry.name)
            if entry.usize < numel * elsize:
                ctx.add(
                    R.TENSOR_BOUNDS,
                    join_pointer(ptr, f"storage:{printable(key, 20)}"),
                    f"storage declares {numel * elsize} bytes but its record holds {entry.usize}",
                )
        for view in res.tensor_views:
            pid = view[0].pid
            if not (isinstance(pid, tuple) and len(pid) >= 5 and isinstance(pid[4], int)):
                continue
            if len(view) < 4 or not isinstance(view[1], int):
                continue
            size, stride = view[2], view[3]
            if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
                continue
            if not all(isinstance(x, int) for x in (*size, *stride)):
                continue
            if any(s == 0 for s in size):
                continue
            last = view[1] + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
            if view[1] < 0 or last >= pid[4] or any(st < 0 for st in stride):
                ctx.add(
                    R.TENSOR_BOUNDS,
                    join_pointer(ptr, f"storage:{printable(str(pid[2]), 20)}"),
                    f"tensor view reaches element {last} of a {pid[4]}-element storage",
                )
    return referenced


# ---------------------------------------------------------------------- tar / 7z
def _route_tar(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    import tarfile

    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
            for member in tar:
                count += 1
                ctx.check_time()
                if count > ctx.limits.max_members:
                    ctx.limit(pointer, "tar member count limit")
                    return
                ptr = join_pointer(pointer, member.name)
                name = member.name.replace("\\", "/")
                if name.startswith("/") or ".." in name.split("/"):
                    ctx.add(R.PATH_TRAVERSAL, ptr, f"member name {printable(member.name, 80)!r} escapes the archive")
                if member.issym() or member.islnk():
                    target = member.linkname.replace("\\", "/")
                    if target.startswith("/") or ".." in target.split("/"):
                        ctx.add(
                            R.PATH_TRAVERSAL, ptr, f"link to {printable(member.linkname, 80)!r} escapes the archive"
                        )
                    continue
                if not member.isfile():
                    continue
                if member.size > ctx.limits.max_member_read:
                    ctx.limit(ptr, f"member of {member.size} bytes larger than the read limit")
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                raw = fh.read()
                ctx.charge_decompressed(len(raw))
                scan_blob(ctx, raw, ptr, depth + 1)
    except tarfile.TarError as exc:
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"tar archive cannot be read: {printable(str(exc), 80)}")


def _route_7z(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    try:
        import py7zr
    except ImportError:
        ctx.add(R.CONTAINER_MALFORMED, pointer, "7z support is not installed (py7zr); archive unverified")
        return
    try:
        with py7zr.SevenZipFile(io.BytesIO(bytes(data)), mode="r") as archive:
            infos = archive.list()
            if len(infos) > ctx.limits.max_members:
                ctx.limit(pointer, "7z member count limit")
                return
            total = sum(int(i.uncompressed or 0) for i in infos)
            budget = ctx.limits.max_decompressed - ctx.decompressed
            if total > budget:
                ctx.limit(pointer, f"7z declares {total} uncompressed bytes, above the remaining budget")
                return
            for info in infos:
                name = info.filename.replace("\\", "/")
                if name.startswith("/") or ".." in name.split("/"):
                    ctx.add(R.PATH_TRAVERSAL, join_pointer(pointer, info.filename), "member name escapes the archive")
            files = _read_7z(archive)
            for name, raw in files.items():
                ctx.charge_decompressed(len(raw))
                scan_blob(ctx, raw, join_pointer(pointer, name), depth + 1)
    except LimitReached:
        raise
    except Exception as exc:  # py7zr raises a wide range of errors on corrupt input
        ctx.add(R.CONTAINER_MALFORMED, pointer, f"7z archive cannot be read: {printable(str(exc), 80)}")


def _read_7z(archive: Any) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if hasattr(archive, "readall"):
        for name, bio in (archive.readall() or {}).items():
            out[name] = bio.read()
        return out
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        archive.extractall(path=tmp)
        for p in Path(tmp).rglob("*"):
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(tmp))] = p.read_bytes()
    return out


def _route_json(ctx: ScanContext, data: Any, pointer: str, depth: int) -> None:
    raw = bytes(data)
    if b'"class_name"' in raw[: 1 << 20] or b"__lambda__" in raw[: 1 << 20]:
        scan_keras_json(ctx, raw, pointer)


_ROUTES: dict[str, Any] = {
    S.PICKLE: _route_pickle,
    S.ZIP: _route_zip,
    S.NPY: lambda c, d, p, dp: scan_npy(c, d, p),
    S.GGUF: lambda c, d, p, dp: scan_gguf(c, d, p),
    S.HDF5: lambda c, d, p, dp: scan_hdf5(c, d, p),
    S.SAFETENSORS: _route_safetensors,
    S.JOBLIB_ZF: _route_joblib_zfile,
    S.PROTOBUF: lambda c, d, p, dp: scan_protobuf(c, d, p),
    S.TAR: _route_tar,
    S.SEVENZ: _route_7z,
    S.JSON: _route_json,
    **{k: _route_compressed(k) for k in S.COMPRESSED},
}
