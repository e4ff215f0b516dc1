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

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from bastion.core.types import utcnow
from bastion.crypto._keys.schema import protect_vault
from bastion.crypto.keys import KeyManager, Principal
from bastion.data._protect.errors import VaultError

TOKEN_PREFIX = "tok_"
BATCH = 500


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
        """Tokens for `values` (same value, same token); new entries and the audit event in one transaction."""
        self.keys.require(self.who, "vault.tokenize", self.name)
        if not values:
            return []
        dek = self._key()
        fp_key = _derive(dek.material, "fingerprint")
        aead = AESGCM(_derive(dek.material, "seal"))
        distinct = list(dict.fromkeys(values))
        prints = {v: hmac.digest(fp_key, v.encode("utf-8"), hashlib.sha256).hex() for v in distinct}
        by_print: dict[str, str] = {}
        store = self.keys.store
        project = self.keys.project
        with store._write() as conn:
            plist = list(prints.values())
            for i in range(0, len(plist), BATCH):
                chunk = plist[i : i + BATCH]
                rows = conn.execute(
                    select(protect_vault.c.fingerprint, protect_vault.c.token).where(
                        protect_vault.c.project == project,
                        protect_vault.c.vault == self.name,
                        protect_vault.c.fingerprint.in_(chunk),
                    )
                ).all()
                by_print.update({r.fingerprint: r.token for r in rows})
            reused = len(by_print)
            now = utcnow()
            new_rows = []
            for v, fp in prints.items():
                if fp in by_print:
                    continue
                token = TOKEN_PREFIX + secrets.token_urlsafe(16)
                nonce = os.urandom(12)
                sealed = nonce + aead.encrypt(nonce, v.encode("utf-8"), token.encode())
                by_print[fp] = token
                new_rows.append(
                    {
                        "project": project,
                        "vault": self.name,
                        "token": token,
                        "fingerprint": fp,
                        "dek_id": dek.dek_id,
                        "sealed": sealed,
                        "created_at": now,
                    }
                )
            for i in range(0, len(new_rows), 10_000):
                conn.execute(protect_vault.insert(), new_rows[i : i + 10_000])
            store.audit.append(
                project,
                "vault.tokenized",
                self.who.name,
                self.name,
                {"values": len(values), "distinct": len(distinct), "new": len(new_rows), "reused": reused},
                session=conn,
            )
        return [by_print[prints[v]] for v in values]

    def detokenize_many(self, tokens: Sequence[str]) -> list[str]:
        """Originals for `tokens`; `VaultError` if any is missing (nothing is returned partially)."""
        self.keys.require(self.who, "vault.detokenize", self.name)
        if not tokens:
            return []
        distinct = list(dict.fromkeys(tokens))
        found: dict[str, bytes] = {}
        with self.keys.store._read() as conn:
            for i in range(0, len(distinct), BATCH):
                rows = conn.execute(
                    select(protect_vault.c.token, protect_vault.c.sealed).where(
                        protect_vault.c.project == self.keys.project,
                        protect_vault.c.vault == self.name,
                        protect_vault.c.token.in_(distinct[i : i + BATCH]),
                    )
                ).all()
                found.update({r.token: bytes(r.sealed) for r in rows})
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
