"""Parquet modular encryption (pyarrow) with Bastion's key manager as the KMS.

pyarrow generates the column and footer keys and asks a KMS client to wrap them.
Ours wraps each with a fresh Bastion data key (AES-256-GCM, stored wrapped by the
named key's KEK), so Parquet files follow the same rotation (rewrap, no re-write),
RBAC, audit and crypto-shredding as every other asset. Each factory uses its own
access token so pyarrow's process-wide key caches never serve one caller's keys
to another, and caches are dropped after each read or write.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.crypto._errors import FormatError, IntegrityError
from bastion.crypto._keys.manager import KeyManager
from bastion.crypto._keys.rbac import Principal

PREFIX = "bastion-kms-v1"


def _aad(dek_id: str, master: str) -> bytes:
    return f"{PREFIX}|{master}|{dek_id}".encode()


def crypto_factory(keys: KeyManager, who: Principal) -> Any:
    import pyarrow.parquet.encryption as pe

    class BastionKms(pe.KmsClient):
        def __init__(self, config: Any) -> None:
            pe.KmsClient.__init__(self)

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            dk = keys.new_data_key(master_key_identifier, who, asset="parquet-key")
            nonce = os.urandom(12)
            sealed = AESGCM(dk.material).encrypt(nonce, key_bytes, _aad(dk.dek_id, master_key_identifier))
            return f"{PREFIX}:{dk.dek_id}:{base64.b64encode(nonce + sealed).decode()}"

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            parts = wrapped_key.split(":")
            if len(parts) != 3 or parts[0] != PREFIX:
                raise FormatError("Parquet key metadata was not written by Bastion's KMS")
            try:
                blob = base64.b64decode(parts[2], validate=True)
            except (binascii.Error, ValueError):
                raise FormatError("Parquet key metadata is corrupt") from None
            dk = keys.data_key(parts[1], who, key_id=master_key_identifier, purpose="parquet")
            try:
                return AESGCM(dk.material).decrypt(blob[:12], blob[12:], _aad(parts[1], master_key_identifier))
            except (InvalidTag, ValueError):
                raise IntegrityError("Parquet column key does not unwrap: tampered key metadata") from None

    return pe.CryptoFactory(lambda config: BastionKms(config))


def _connection() -> Any:
    import pyarrow.parquet.encryption as pe

    return pe.KmsConnectionConfig(key_access_token=uuid.uuid4().hex)


def write_encrypted(
    table: Any,
    path: Path,
    *,
    keys: KeyManager,
    who: Principal,
    column_keys: Mapping[str, Sequence[str]],
    footer_key: str,
    plaintext_footer: bool = False,
) -> None:
    """Write `table` with the named columns encrypted under the given keys (footer under `footer_key`)."""
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    missing = {c for cols in column_keys.values() for c in cols} - set(table.column_names)
    if missing:
        raise FormatError(f"columns not in the table: {sorted(missing)}")
    factory = crypto_factory(keys, who)
    config = pe.EncryptionConfiguration(
        footer_key=footer_key,
        column_keys={k: list(v) for k, v in column_keys.items()},
        encryption_algorithm="AES_GCM_V1",
        plaintext_footer=plaintext_footer,
        data_key_length_bits=256,
        cache_lifetime=timedelta(seconds=1),
    )
    try:
        props = factory.file_encryption_properties(_connection(), config)
        pq.write_table(table, path, encryption_properties=props)
    finally:
        factory.remove_cache_entries_for_all_tokens()


def read_encrypted(path: Path, *, keys: KeyManager, who: Principal, columns: Sequence[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    factory = crypto_factory(keys, who)
    try:
        props = factory.file_decryption_properties(
            _connection(), pe.DecryptionConfiguration(cache_lifetime=timedelta(seconds=1))
        )
        return pq.read_table(path, columns=list(columns) if columns else None, decryption_properties=props)
    except (OSError, pa.ArrowException) as exc:
        raise IntegrityError(f"{path}: cannot decrypt Parquet file: {str(exc).splitlines()[0][:200]}") from None
    finally:
        factory.remove_cache_entries_for_all_tokens()
