"""The tokenization vault: random tokens in the data, originals sealed in the store.

A token is random (no relation to its value), so a leaked protected dataset
reveals nothing. Originals are sealed with AES-256-GCM under the vault's data key,
a segment of up to 65,536 entries at a time (associated data: project, vault,
segment number and data-key id, so a segment moved to another vault or slot fails
to open); each sealed record starts with its own token, so an index entry pointed
at another record is caught. A keyed fingerprint of each value (AES-CMAC, NIST SP 800-38B,
under a key derived from the same data key, computed for a whole batch at once; entries
written before migration 0007 carry HMAC-SHA-256 ones, looked up only in vaults that have
such entries) finds an existing token, so the same value always
gets the same token within a vault and joins keep working. Detokenizing needs the
``vault.detokenize`` permission and is audited with counts only. Shredding the
vault's key deletes its entries (see `KeyManager.shred`).
"""

from __future__ import annotations

import hmac
import json
import os
import struct
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.core.types import utcnow
from bastion.crypto.keys import KeyManager, Principal
from bastion.data._protect.bulk import cmac_many, records, token_texts
from bastion.data._protect.errors import VaultError
from bastion.data._protect.vaultdb import (
    SEGMENT_ENTRIES,
    TOKEN_BYTES,
    TOKEN_PREFIX,
    find_legacy_tokens,
    find_tokens,
    has_legacy,
    locate,
    next_segment,
    read_segments,
    token_raw,
    write_entries,
)

FINGERPRINT_BYTES = 16  # a 128-bit keyed MAC: a collision needs ~2^64 distinct values in one vault
_U32 = struct.Struct("<I")


def _random_tokens(n: int) -> tuple[list[str], np.ndarray]:
    """`n` independent random tokens from one CSPRNG read: as text (for the data) and as an (n, 18) array."""
    raw = os.urandom(TOKEN_BYTES * n)
    return token_texts(raw, TOKEN_PREFIX, TOKEN_BYTES), np.frombuffer(raw, np.uint8).reshape(n, TOKEN_BYTES)


def _segment_aad(project: str, vault: str, segment: int, dek_id: str) -> bytes:
    return json.dumps(["bastion-vault-segment-v1", project, vault, segment, dek_id]).encode()


def _seal_segment(aead: AESGCM, aad: bytes, tokens: np.ndarray, values: Sequence[bytes]) -> bytes:
    """nonce | AES-GCM(count u32 | count+1 record offsets u32 | records), a record being token bytes | UTF-8 value."""
    ends, body = records(tokens, values)
    n = len(values)
    offsets = np.concatenate(([0], ends)).astype("<u4").tobytes()
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, b"".join((_U32.pack(n), offsets, body)), aad)


class _Segment:
    """An opened segment: record `slot` is ``body[offsets[slot]:offsets[slot + 1]]``."""

    def __init__(self, plain: bytes, vault: str) -> None:
        n = _U32.unpack_from(plain)[0] if len(plain) >= 4 else -1
        start = 4 + 4 * (n + 1)
        if n < 0 or len(plain) < start:
            raise VaultError(f"vault {vault!r}: a segment is malformed")
        self.offsets = struct.unpack_from(f"<{n + 1}I", plain, 4)
        self.body = memoryview(plain)[start:]
        if self.offsets[-1] != len(self.body):
            raise VaultError(f"vault {vault!r}: a segment is malformed")

    def record(self, slot: int, raw_token: bytes) -> str | None:
        """The value at `slot` if the record there carries `raw_token`, else None."""
        if slot + 1 >= len(self.offsets):
            return None
        rec = self.body[self.offsets[slot] : self.offsets[slot + 1]]
        if rec[:TOKEN_BYTES] != raw_token:
            return None
        return bytes(rec[TOKEN_BYTES:]).decode("utf-8")


def _derive(material: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"bastion-vault-v1|{label}".encode()).derive(
        material
    )


class Vault:
    """One named vault under one key; values are strings."""

    def __init__(self, keys: KeyManager, key_id: str, who: Principal, name: str | None = None) -> None:
        self.keys = keys
        self.key_id = key_id
        self.who = who
        self.name = name or key_id
        self._dek: Any = None

    def _key(self) -> Any:
        if self._dek is None:
            self._dek = self.keys.data_key_for(self.key_id, f"vault:{self.name}", self.who)
        return self._dek

    def tokenize_many(self, values: Sequence[str]) -> list[str]:
        """Tokens for `values` (same value, same token); new entries and the audit event in one transaction.

        Bulk path: repeated values are folded in memory first, every fingerprint is computed
        (vectorised) before the write lock is taken, existing tokens are found per hash bucket,
        and new entries are sealed a segment at a time and written as a few thousand rows.
        """
        self.keys.require(self.who, "vault.tokenize", self.name)
        if not values:
            return []
        dek = self._key()
        aead = AESGCM(_derive(dek.material, "seal"))
        distinct = list(dict.fromkeys(values))
        encoded = [v.encode("utf-8") for v in distinct]
        prints = cmac_many(_derive(dek.material, "fingerprint-cmac"), encoded)
        out: list[str | None] = [None] * len(distinct)
        store = self.keys.store
        project = self.keys.project
        with store._write() as conn:
            for row, token in find_tokens(conn, project, self.name, prints).items():
                out[row] = token
            new = [i for i, t in enumerate(out) if t is None]
            if new and has_legacy(conn, project, self.name):
                for i, token in self._legacy_tokens(conn, [distinct[i] for i in new], new, dek.material).items():
                    out[i] = token
                new = [i for i in new if out[i] is None]
            n = len(new)
            all_new = n == len(distinct)
            tokens, raw_tokens = _random_tokens(n)
            new_values = encoded if all_new else [encoded[i] for i in new]
            first = next_segment(conn, project, self.name)
            segments = [
                (
                    min(SEGMENT_ENTRIES, n - i),
                    _seal_segment(
                        aead,
                        _segment_aad(project, self.name, first + k, dek.dek_id),
                        raw_tokens[i : i + SEGMENT_ENTRIES],
                        new_values[i : i + SEGMENT_ENTRIES],
                    ),
                )
                for k, i in enumerate(range(0, n, SEGMENT_ENTRIES))
            ]
            write_entries(
                conn,
                project=project,
                vault=self.name,
                dek_id=dek.dek_id,
                created_at=utcnow(),
                fingerprints=prints if all_new else prints[new],
                tokens=raw_tokens,
                first_segment=first,
                segments=segments,
            )
            store.audit.append(
                project,
                "vault.tokenized",
                self.who.name,
                self.name,
                {"values": len(values), "distinct": len(distinct), "new": n, "reused": len(distinct) - n},
                session=conn,
            )
        if all_new:
            out = list(tokens)
        else:
            for i, token in zip(new, tokens, strict=True):
                out[i] = token
        if len(distinct) == len(values):  # no repeats: `distinct` is `values`, in order
            return cast(list[str], out)
        token_of = dict(zip(distinct, out, strict=True))
        return [cast(str, token_of[v]) for v in values]

    def _legacy_tokens(self, conn: Any, values: list[str], rows: list[int], material: bytes) -> dict[int, str]:
        """row -> token for `values` (at `rows`) among entries written before migration 0007 (HMAC-SHA-256)."""
        key = _derive(material, "fingerprint")
        fb = FINGERPRINT_BYTES
        by_print = {hmac.digest(key, v.encode("utf-8"), "sha256")[:fb]: r for v, r in zip(values, rows, strict=True)}
        return {
            by_print[fp]: t for fp, t in find_legacy_tokens(conn, self.keys.project, self.name, list(by_print)).items()
        }

    def detokenize_many(self, tokens: Sequence[str]) -> list[str]:
        """Originals for `tokens`; `VaultError` if any is missing (nothing is returned partially)."""
        self.keys.require(self.who, "vault.detokenize", self.name)
        if not tokens:
            return []
        distinct = list(dict.fromkeys(tokens))
        project = self.keys.project
        with self.keys.store._read() as conn:
            found = locate(conn, project, self.name, distinct)
            wanted = {loc.segment for loc in found.values() if loc.segment is not None}
            segments = read_segments(conn, project, self.name, sorted(wanted)) if wanted else {}
        missing = len(distinct) - len(found)
        if missing:
            raise VaultError(
                f"{missing} of {len(distinct)} tokens are not in vault {self.name!r} "
                "(shredded, from another vault or project, or not tokens)"
            )
        dek = self.keys.data_key(self._key().dek_id, self.who, key_id=self.key_id, purpose="detokenize")
        aead = AESGCM(_derive(dek.material, "seal"))
        tampered = f"vault entry for a token in {self.name!r} fails authentication (tampered)"
        opened: dict[int, _Segment] = {}
        for seg in wanted:
            if seg not in segments or segments[seg][0] != dek.dek_id:
                raise VaultError(tampered)
            sealed = segments[seg][1]
            try:
                plain = aead.decrypt(sealed[:12], sealed[12:], _segment_aad(project, self.name, seg, dek.dek_id))
            except (InvalidTag, ValueError):
                raise VaultError(tampered) from None
            opened[seg] = _Segment(plain, self.name)
        plain_of: dict[str, str] = {}
        for t, loc in found.items():
            value: str | None
            try:
                if loc.segment is None:
                    legacy = loc.legacy_sealed or b""
                    value = aead.decrypt(legacy[:12], legacy[12:], t.encode()).decode("utf-8")
                else:
                    value = opened[loc.segment].record(loc.slot, token_raw(t) or b"")
            except (InvalidTag, ValueError):
                value = None
            if value is None:
                raise VaultError(tampered)
            plain_of[t] = value
        self.keys.store.audit.append(project, "vault.detokenized", self.who.name, self.name, {"tokens": len(distinct)})
        return [plain_of[t] for t in tokens]
