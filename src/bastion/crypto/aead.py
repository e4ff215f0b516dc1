"""Encryption at rest: a streaming authenticated file format, files, folders and Parquet columns.

`encrypt_file` seals a file under a fresh data key (one per file) of a named key;
`decrypt_file` writes to a temporary file next to the destination and renames it
only once every chunk has verified, so a wrong key or a tampered, truncated or
reordered file leaves no partial plaintext behind. See `_stream` for the format.

Folders (`encrypt_tree`): every file is sealed with its relative path and the
folder's random id bound into its (version-2) header, and a folder manifest
(`.bastion-manifest`, itself a sealed stream bound to the folder id) lists every
file with its header digest. `decrypt_tree` checks all of it before writing a byte:
a swapped, moved, replaced, removed or added `.benc` file is an `IntegrityError` that
names the file. Folders written before paths were bound (version-1 members, no
manifest) are refused with a message naming the format; their files still decrypt
one by one with `decrypt_file`.

Parquet column encryption uses pyarrow's Parquet modular encryption with this
project's key manager as its KMS (`parquet_crypto`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bastion.crypto._errors import CryptoError, FormatError, IntegrityError
from bastion.crypto._files import PRIVATE, atomic_write
from bastion.crypto._keys.manager import KeyManager
from bastion.crypto._keys.rbac import Principal
from bastion.crypto._stream import (
    DEFAULT_CHUNK,
    MAGIC,
    VERSION,
    VERSION_CONTEXT,
    StreamHeader,
    decrypt_stream,
    encrypt_stream,
    read_header,
)

SUFFIX = ".benc"
MANIFEST = ".bastion-manifest"  # no `.benc` suffix, so never the name of an encrypted member
MANIFEST_FORMAT = "bastion-encrypted-folder/v1"
MAX_MANIFEST = 64 << 20
_MEMBER, _FOLDER_MANIFEST = b"\x01", b"\x02"  # first byte of a version-2 context

__all__ = [
    "DEFAULT_CHUNK",
    "MAGIC",
    "MANIFEST",
    "SUFFIX",
    "CryptoError",
    "FileResult",
    "FormatError",
    "IntegrityError",
    "StreamHeader",
    "decrypt_bytes",
    "decrypt_file",
    "decrypt_stream",
    "decrypt_tree",
    "encrypt_bytes",
    "encrypt_file",
    "encrypt_stream",
    "encrypt_tree",
    "is_encrypted",
    "read_header",
    "read_parquet_encrypted",
    "write_parquet_encrypted",
]


@dataclass(frozen=True, slots=True)
class FileResult:
    source: str
    dest: str
    key_id: str
    dek_id: str
    bytes_in: int
    bytes_out: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dest": self.dest,
            "key_id": self.key_id,
            "dek_id": self.dek_id,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


def _atomic(dest: Path) -> contextlib.AbstractContextManager[BinaryIO]:
    """Write to an exclusively created, randomly named 0600 temp file beside `dest`; rename on success.

    See `bastion.crypto._files`: a predictable temp name opened without `O_EXCL|O_NOFOLLOW`
    let a planted symlink redirect the decrypted plaintext.
    """
    return atomic_write(dest, PRIVATE)


def is_encrypted(path: Path) -> bool:
    try:
        with Path(path).open("rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def encrypt_file(
    src: Path,
    dest: Path,
    *,
    keys: KeyManager,
    key_id: str,
    who: Principal,
    chunk_size: int = DEFAULT_CHUNK,
    asset: str | None = None,
    context: bytes = b"",
) -> FileResult:
    """Seal one file under a fresh data key; `context` (folders only) is bound into its header."""
    src, dest = Path(src), Path(dest)
    if src.resolve() == dest.resolve():
        raise CryptoError(f"{dest}: refusing to encrypt a file onto itself")
    if is_encrypted(src):
        raise FormatError(f"{src}: already a Bastion-encrypted file")
    with src.open("rb") as fh:
        dk = keys.new_data_key(key_id, who, asset=asset or str(src))
        with _atomic(dest) as out:
            n_in, n_out = encrypt_stream(
                fh, out, dk.material, key_id=key_id, dek_id=dk.dek_id, chunk_size=chunk_size, context=context
            )
    return FileResult(str(src), str(dest), key_id, dk.dek_id, n_in, n_out)


def decrypt_file(
    src: Path, dest: Path, *, keys: KeyManager, who: Principal, context: bytes | None = None
) -> FileResult:
    """Open one file; with `context`, only a stream bound to exactly that context is accepted."""
    src, dest = Path(src), Path(dest)
    if src.resolve() == dest.resolve():
        raise CryptoError(f"{dest}: refusing to decrypt a file onto itself")
    resolve = keys.resolver(who)
    size = src.stat().st_size
    with src.open("rb") as fh:
        header = read_header(fh)  # a foreign file fails before any temp file exists
        fh.seek(0)
        with _atomic(dest) as out:
            _, n = decrypt_stream(fh, out, lambda h: resolve(h.key_id, h.dek_id), context=context)
    return FileResult(str(src), str(dest), header.key_id, header.dek_id, size, n)


def encrypt_bytes(data: bytes, *, keys: KeyManager, key_id: str, who: Principal, asset: str | None = None) -> bytes:
    dk = keys.new_data_key(key_id, who, asset=asset)
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, dk.material, key_id=key_id, dek_id=dk.dek_id)
    return out.getvalue()


def decrypt_bytes(blob: bytes, *, keys: KeyManager, who: Principal) -> bytes:
    resolve = keys.resolver(who)
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, lambda h: resolve(h.key_id, h.dek_id))
    return out.getvalue()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _member_context(folder_id: bytes, rel: str) -> bytes:
    return _MEMBER + folder_id + rel.encode("utf-8")


def _manifest_context(folder_id: bytes) -> bytes:
    return _FOLDER_MANIFEST + folder_id


def _header_of(path: Path) -> StreamHeader:
    with path.open("rb") as fh:
        try:
            return read_header(fh)
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from None


def encrypt_tree(src: Path, dest: Path, *, keys: KeyManager, key_id: str, who: Principal) -> list[FileResult]:
    """Encrypt every regular file under `src` into `dest` (same layout, `.benc` added); symlinks skipped.

    Each file is bound to its relative path and to this folder (a random id), and a
    sealed manifest lists the file set, so `decrypt_tree` detects files that were
    swapped, moved, replaced, removed or added. `dest` must be new or empty: stale
    files from an earlier run would otherwise sit next to the new manifest.
    """
    src, dest = Path(src), Path(dest)
    if dest.resolve().is_relative_to(src.resolve()):
        raise CryptoError("the output folder must not be inside the input folder")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CryptoError(f"{dest}: the output folder exists and is not empty")
    folder_id = os.urandom(16)
    results: list[FileResult] = []
    listed: list[dict[str, Any]] = []
    for p in _files(src):
        rel = p.relative_to(src).as_posix()
        out = dest / (rel + SUFFIX)
        res = encrypt_file(
            p, out, keys=keys, key_id=key_id, who=who, asset=str(p), context=_member_context(folder_id, rel)
        )
        results.append(res)
        listed.append({"path": rel, "header_sha256": _header_of(out).digest.hex(), "bytes": res.bytes_out})
    body = json.dumps(
        {"format": MANIFEST_FORMAT, "folder_id": folder_id.hex(), "files": listed}, sort_keys=True
    ).encode()
    dk = keys.new_data_key(key_id, who, asset=f"{dest}/{MANIFEST}")
    dest.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest / MANIFEST, PRIVATE) as fh:
        encrypt_stream(
            io.BytesIO(body), fh, dk.material, key_id=key_id, dek_id=dk.dek_id, context=_manifest_context(folder_id)
        )
    return results


def _read_manifest(src: Path, keys: KeyManager, who: Principal) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """The folder id and {relative path: entry} from the sealed manifest; every failure is named."""
    path = src / MANIFEST
    members = [p for p in _files(src) if p.name.endswith(SUFFIX)]
    if not path.is_file() or path.is_symlink():
        old = [p for p in members if _header_of(p).version == VERSION]
        if old:
            raise FormatError(
                f"{src}: a folder in the old format (stream format version {VERSION}, no {MANIFEST}): its files "
                "are not bound to their paths, so swapped or missing files cannot be detected; decrypt them one "
                "by one with `bastion decrypt FILE -o OUT` if you trust the folder, then re-encrypt it"
            )
        raise IntegrityError(f"{src}: the folder manifest {MANIFEST} is missing (removed, or not an encrypted folder)")
    header = _header_of(path)
    if header.version != VERSION_CONTEXT or not header.context.startswith(_FOLDER_MANIFEST):
        raise IntegrityError(f"{path}: not a folder manifest")
    folder_id = header.context[1:]
    if len(folder_id) != 16 or path.stat().st_size > MAX_MANIFEST:
        raise IntegrityError(f"{path}: malformed folder manifest")
    resolve = keys.resolver(who)
    out = io.BytesIO()
    with path.open("rb") as fh:
        try:
            decrypt_stream(fh, out, lambda h: resolve(h.key_id, h.dek_id), context=_manifest_context(folder_id))
        except IntegrityError as exc:
            raise IntegrityError(f"{path}: {exc}") from None
    try:
        doc = json.loads(out.getvalue())
        if doc["format"] != MANIFEST_FORMAT or doc["folder_id"] != folder_id.hex():
            raise ValueError("format or folder id")
        entries = {str(e["path"]): e for e in doc["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{path}: malformed folder manifest ({exc})") from None
    return folder_id, entries


def _check_member(p: Path, rel: str, folder_id: bytes, entry: dict[str, Any]) -> None:
    header = _header_of(p)
    ctx = header.context
    if header.version != VERSION_CONTEXT or not ctx.startswith(_MEMBER) or len(ctx) < 17:
        raise IntegrityError(f"{p}: not bound to this folder (replaced by a file encrypted on its own)")
    if ctx[1:17] != folder_id:
        raise IntegrityError(f"{p}: comes from another encrypted folder (replaced)")
    bound = ctx[17:].decode("utf-8", "replace")
    if bound != rel:
        raise IntegrityError(f"{p}: holds the encrypted {bound!r}, not {rel!r} (files were moved or swapped)")
    if header.digest.hex() != entry.get("header_sha256"):
        raise IntegrityError(f"{p}: replaced since the folder was encrypted (header differs from the manifest)")


def decrypt_tree(src: Path, dest: Path, *, keys: KeyManager, who: Principal) -> list[FileResult]:
    """Decrypt a folder written by `encrypt_tree`; the manifest and every header are checked before anything is written.

    Refused with an error naming the file: a `.benc` file moved, swapped, replaced,
    removed or added since encryption, and a missing or altered manifest.
    """
    src, dest = Path(src), Path(dest)
    if dest.resolve().is_relative_to(src.resolve()):
        raise CryptoError("the output folder must not be inside the input folder")
    files = [p for p in _files(src) if p.name.endswith(SUFFIX)]
    for p in files:
        _header_of(p)  # a foreign file fails first, before any key is used
    folder_id, entries = _read_manifest(src, keys, who)
    present = {str(p.relative_to(src).as_posix())[: -len(SUFFIX)]: p for p in files}
    missing, added = sorted(set(entries) - set(present)), sorted(set(present) - set(entries))
    if missing:
        raise IntegrityError(f"{src / (missing[0] + SUFFIX)}: missing (listed in the folder manifest)")
    if added:
        raise IntegrityError(f"{present[added[0]]}: added after the folder was encrypted (not in the manifest)")
    for rel, p in sorted(present.items()):
        _check_member(p, rel, folder_id, entries[rel])
    out = []
    for rel, p in sorted(present.items()):
        try:
            out.append(decrypt_file(p, dest / rel, keys=keys, who=who, context=_member_context(folder_id, rel)))
        except CryptoError as exc:
            raise type(exc)(f"{p}: {exc}") from None
    return out


def write_parquet_encrypted(
    table: Any,
    path: Path,
    *,
    keys: KeyManager,
    who: Principal,
    column_keys: dict[str, list[str]],
    footer_key: str,
) -> None:
    """Parquet modular encryption: `column_keys` maps a key id to the columns it protects."""
    from bastion.crypto._parquet import write_encrypted

    write_encrypted(table, Path(path), keys=keys, who=who, column_keys=column_keys, footer_key=footer_key)


def read_parquet_encrypted(path: Path, *, keys: KeyManager, who: Principal, columns: list[str] | None = None) -> Any:
    from bastion.crypto._parquet import read_encrypted

    return read_encrypted(Path(path), keys=keys, who=who, columns=columns)
