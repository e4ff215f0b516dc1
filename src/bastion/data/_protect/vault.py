"""The tokenization vault: random tokens in the data, originals sealed in the store.

A token is random (no relation to its value), so a leaked protected dataset
reveals nothing. The original is sealed with AES-256-GCM under the vault's data
key, with the token as associated data (an entry copied onto another token fails
to open). A keyed fingerprint of each value (HMAC under a key derived from the same
data key) finds an existing token, so the same value always gets the same token
within a vault and joins keep working. Detokenizing needs the ``vault.detokenize``
permission and is audited with counts only. Shredding the vault's key deletes its
entries (see `KeyManager.shred`).
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Iterator, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.core.types import utcnow
from bastion.crypto.keys import KeyManager, Principal
from bastion.data._protect.errors import VaultError
from bastion.data._protect.vaultdb import TOKEN_PREFIX, find_sealed, find_tokens, insert_entries

TOKEN_BYTES = 18  # 144 random bits; a multiple of 3, so a batch base64-encodes in one call with no padding
FINGERPRINT_BYTES = 16  # keyed HMAC-SHA-256 truncated: a collision needs ~2^64 distinct values in one vault
_TOKEN_CHARS = TOKEN_BYTES * 4 // 3


def _random_tokens(n: int) -> tuple[list[str], list[bytes]]:
    """`n` independent random tokens from one CSPRNG read, as text (for the data) and bytes (for the vault)."""
    raw = os.urandom(TOKEN_BYTES * n)
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    w, b = _TOKEN_CHARS, TOKEN_BYTES
    return [TOKEN_PREFIX + text[i * w : i * w + w] for i in range(n)], [raw[i * b : i * b + b] for i in range(n)]


def _swap(item: tuple[str, bytes]) -> tuple[bytes, str]:
    return item[1], item[0]


def _first(pair: tuple[bytes, str]) -> bytes:
    return pair[0]


def _sealed_rows(
    aead: AESGCM, pending: list[tuple[bytes, str]], tokens: list[str], raw_tokens: list[bytes]
) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(fingerprint, token bytes, nonce | AES-GCM(value, AAD = token text)) rows, sealed as the writer pulls them.

    Lazily, so on PostgreSQL sealing overlaps the server inserting the rows already sent.
    """
    n = len(pending)
    nonces = os.urandom(12 * n)
    seal = aead.encrypt
    for i in range(n):
        fp, value = pending[i]
        nonce = nonces[12 * i : 12 * i + 12]
        yield fp, raw_tokens[i], nonce + seal(nonce, value.encode("utf-8"), tokens[i].encode())


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
        before the write lock is taken, existing tokens are found with one query per batch
        of fingerprints, and new entries are inserted at driver level sorted by fingerprint
        (the vault's primary key then grows in key order) and sealed as the writer consumes
        them. Only the insert order changes: each token is still drawn independently at
        random, never derived from or ordered by the value.
        """
        self.keys.require(self.who, "vault.tokenize", self.name)
        if not values:
            return []
        dek = self._key()
        fp_key = _derive(dek.material, "fingerprint")
        aead = AESGCM(_derive(dek.material, "seal"))
        digest = hmac.digest
        fb = FINGERPRINT_BYTES
        prints = {v: digest(fp_key, v.encode("utf-8"), "sha256")[:fb] for v in values}  # dedupes, keeps order
        store = self.keys.store
        project = self.keys.project
        with store._write() as conn:
            found = find_tokens(conn, project, self.name, list(prints.values()))
            token_of = {v: found[fp] for v, fp in prints.items() if fp in found} if found else {}
            pending = (
                [(fp, v) for v, fp in prints.items() if fp not in found] if found else [*map(_swap, prints.items())]
            )
            pending.sort(key=_first)
            n = len(pending)
            new = [v for _, v in pending]
            tokens, raw_tokens = _random_tokens(n)
            insert_entries(
                conn,
                project=project,
                vault=self.name,
                dek_id=dek.dek_id,
                created_at=utcnow(),
                rows=_sealed_rows(aead, pending, tokens, raw_tokens),
                count=n,
            )
            token_of.update(zip(new, tokens, strict=True))
            store.audit.append(
                project,
                "vault.tokenized",
                self.who.name,
                self.name,
                {"values": len(values), "distinct": len(prints), "new": n, "reused": len(found)},
                session=conn,
            )
        return [token_of[v] for v in values]

    def detokenize_many(self, tokens: Sequence[str]) -> list[str]:
        """Originals for `tokens`; `VaultError` if any is missing (nothing is returned partially)."""
        self.keys.require(self.who, "vault.detokenize", self.name)
        if not tokens:
            return []
        distinct = list(dict.fromkeys(tokens))
        with self.keys.store._read() as conn:
            found = find_sealed(conn, self.keys.project, self.name, distinct)
        missing = len(distinct) - len(found)
        if missing:
            raise VaultError(
                f"{missing} of {len(distinct)} tokens are not in vault {self.name!r} "
                "(shredded, from another vault or project, or not tokens)"
            )
        dek = self.keys.data_key(self._key().dek_id, self.who, key_id=self.key_id, purpose="detokenize")
        aead = AESGCM(_derive(dek.material, "seal"))
        plain: dict[str, str] = {}
        for t, sealed in found.items():
            try:
                plain[t] = aead.decrypt(sealed[:12], sealed[12:], t.encode()).decode("utf-8")
            except (InvalidTag, ValueError):
                raise VaultError(f"vault entry for a token in {self.name!r} fails authentication (tampered)") from None
        self.keys.store.audit.append(
            self.keys.project, "vault.detokenized", self.who.name, self.name, {"tokens": len(distinct)}
        )
        return [plain[t] for t in tokens]
