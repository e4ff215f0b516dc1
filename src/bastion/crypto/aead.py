"""Encryption at rest: a streaming authenticated file format, files, folders and Parquet columns.

`encrypt_file` seals a file under a fresh data key (one per file) of a named key;
`decrypt_file` writes to a temporary file next to the destination and renames it
only once every chunk has verified, so a wrong key or a tampered, truncated or
reordered file leaves no partial plaintext behind. See `_stream` for the format.

Parquet column encryption uses pyarrow's Parquet modular encryption with this
project's key manager as its KMS (`parquet_crypto`).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bastion.crypto._errors import CryptoError, FormatError, IntegrityError
from bastion.crypto._files import PRIVATE, atomic_write
from bastion.crypto._keys.manager import KeyManager
from bastion.crypto._keys.rbac import Principal
from bastion.crypto._stream import DEFAULT_CHUNK, MAGIC, StreamHeader, decrypt_stream, encrypt_stream, read_header

SUFFIX = ".benc"

__all__ = [
    "DEFAULT_CHUNK",
    "MAGIC",
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
) -> FileResult:
    src, dest = Path(src), Path(dest)
    if src.resolve() == dest.resolve():
        raise CryptoError(f"{dest}: refusing to encrypt a file onto itself")
    if is_encrypted(src):
        raise FormatError(f"{src}: already a Bastion-encrypted file")
    with src.open("rb") as fh:
        dk = keys.new_data_key(key_id, who, asset=asset or str(src))
        with _atomic(dest) as out:
            n_in, n_out = encrypt_stream(fh, out, dk.material, key_id=key_id, dek_id=dk.dek_id, chunk_size=chunk_size)
    return FileResult(str(src), str(dest), key_id, dk.dek_id, n_in, n_out)


def decrypt_file(src: Path, dest: Path, *, keys: KeyManager, who: Principal) -> FileResult:
    src, dest = Path(src), Path(dest)
    if src.resolve() == dest.resolve():
        raise CryptoError(f"{dest}: refusing to decrypt a file onto itself")
    resolve = keys.resolver(who)
    size = src.stat().st_size
    with src.open("rb") as fh:
        header = read_header(fh)  # a foreign file fails before any temp file exists
        fh.seek(0)
        with _atomic(dest) as out:
            _, n = decrypt_stream(fh, out, lambda h: resolve(h.key_id, h.dek_id))
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


def encrypt_tree(src: Path, dest: Path, *, keys: KeyManager, key_id: str, who: Principal) -> list[FileResult]:
    """Encrypt every regular file under `src` into `dest` (same layout, `.benc` added); symlinks skipped."""
    src, dest = Path(src), Path(dest)
    if dest.resolve().is_relative_to(src.resolve()):
        raise CryptoError("the output folder must not be inside the input folder")
    return [
        encrypt_file(p, dest / (str(p.relative_to(src)) + SUFFIX), keys=keys, key_id=key_id, who=who)
        for p in _files(src)
    ]


def decrypt_tree(src: Path, dest: Path, *, keys: KeyManager, who: Principal) -> list[FileResult]:
    """Decrypt every `.benc` file; all headers are checked before anything is written."""
    src, dest = Path(src), Path(dest)
    if dest.resolve().is_relative_to(src.resolve()):
        raise CryptoError("the output folder must not be inside the input folder")
    files = [p for p in _files(src) if p.name.endswith(SUFFIX)]
    for p in files:
        with p.open("rb") as fh:
            try:
                read_header(fh)
            except FormatError as exc:
                raise FormatError(f"{p}: {exc}") from None
    out = []
    for p in files:
        rel = str(p.relative_to(src))[: -len(SUFFIX)]
        try:
            out.append(decrypt_file(p, dest / rel, keys=keys, who=who))
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
