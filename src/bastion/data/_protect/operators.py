"""De-identification operators, applied to whole columns (lists of values) at once.

Keyed operators get their key from the project's key manager: one stable data key
per (key id, operator, domain), so the same value protected today and next month
gives the same HMAC, FF1 ciphertext or surrogate, and joins across tables that
share a domain keep working. Changing the domain (or the key) makes outputs
unlinkable on purpose.

Reversible: ``tokenize`` (vault), ``fpe`` (FF1), ``encrypt`` (AES-256-GCM).
One-way: ``redact``, ``mask``, ``placeholder``, ``hmac``, ``surrogate``.

``encrypt`` binds each ciphertext to where it sits, through the AES-GCM associated
data: the domain, the column name, and (when the policy names a ``row_key`` column)
that row's key. A ciphertext copied to another column, or to another row of a
row-keyed column, fails authentication on restore instead of restoring the wrong
person's value. Values carry the ``enc2:`` prefix; the older ``enc:`` values were
bound to the domain only and are restored only where the policy says
``accept_v1: true``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as _hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.crypto.fpe import FF1, FPEError
from bastion.crypto.keys import KeyManager, Principal
from bastion.data._protect.errors import ProtectError
from bastion.data._protect.surrogate import surrogate
from bastion.data._protect.vault import Vault

OPERATORS = ("keep", "redact", "mask", "placeholder", "hmac", "tokenize", "fpe", "surrogate", "encrypt")
REVERSIBLE = frozenset({"tokenize", "fpe", "encrypt"})
KEYED = frozenset({"hmac", "tokenize", "fpe", "surrogate", "encrypt"})
ENC_PREFIX = "enc2:"  # AAD binds domain, column and row key
ENC_PREFIX_V1 = "enc:"  # AAD was the domain only; read only with accept_v1
_AAD_TAG = b"bastion-protect-encrypt-v2\x00"

_PARAMS: dict[str, frozenset[str]] = {
    "keep": frozenset(),
    "redact": frozenset({"with"}),
    "mask": frozenset({"keep_last", "char"}),
    "placeholder": frozenset({"label"}),
    "hmac": frozenset({"length", "prefix", "domain"}),
    "tokenize": frozenset({"vault"}),
    "fpe": frozenset({"alphabet", "domain", "on_invalid"}),
    "surrogate": frozenset({"type", "domain"}),
    "encrypt": frozenset({"domain", "row_key", "accept_v1"}),
}


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One operator with its parameters, as written in a policy (``{op: mask, keep_last: 4}``)."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, where: str = "operator") -> OpSpec:
        if isinstance(raw, str):
            raw = {"op": raw}
        if not isinstance(raw, Mapping) or not isinstance(raw.get("op"), str):
            raise ProtectError(f"{where}: expected an operator name or a mapping with 'op'")
        op = raw["op"]
        if op not in _PARAMS:
            raise ProtectError(f"{where}: unknown operator {op!r} (known: {', '.join(OPERATORS)})")
        params = {k: v for k, v in raw.items() if k != "op"}
        unknown = set(params) - _PARAMS[op]
        if unknown:
            raise ProtectError(f"{where}: operator {op!r} takes no parameter(s) {sorted(unknown)}")
        if op == "mask":
            n = params.get("keep_last", 4)
            if not isinstance(n, int) or not 0 <= n <= 64:
                raise ProtectError(f"{where}: keep_last must be an integer 0..64")
        if op == "hmac":
            n = params.get("length", 32)
            if not isinstance(n, int) or not 16 <= n <= 64:
                raise ProtectError(f"{where}: hmac length must be 16..64 hex chars (64..256 bits)")
        if op == "encrypt":
            rk = params.get("row_key")
            if rk is not None and (not isinstance(rk, str) or not rk):
                raise ProtectError(f"{where}: row_key must be the name of a column")
            if not isinstance(params.get("accept_v1", False), bool):
                raise ProtectError(f"{where}: accept_v1 must be true or false")
        if op == "fpe" and params.get("on_invalid", "error") not in ("error", "redact", "keep"):
            raise ProtectError(f"{where}: on_invalid must be error, redact or keep")
        return cls(op, params)

    @property
    def reversible(self) -> bool:
        return self.op in REVERSIBLE

    @property
    def domain(self) -> str:
        return str(self.params.get("domain", "default"))

    @property
    def row_key(self) -> str | None:
        """The column whose value (per row) `encrypt` binds into each ciphertext, if the policy names one."""
        rk = self.params.get("row_key") if self.op == "encrypt" else None
        return str(rk) if rk else None


class Keyring:
    """Per-run cache of operator keys, vaults and FF1 instances, so each is fetched once."""

    def __init__(self, keys: KeyManager | None, key_id: str | None, who: Principal) -> None:
        self.keys = keys
        self.key_id = key_id
        self.who = who
        self._material: dict[str, bytes] = {}
        self._vaults: dict[str, Vault] = {}
        self._ff1: dict[tuple[str, str], FF1] = {}

    def _need(self, op: str) -> tuple[KeyManager, str]:
        if self.keys is None or not self.key_id:
            raise ProtectError(f"operator {op!r} needs a key: give the policy a 'key' (bastion keys create)")
        return self.keys, self.key_id

    def material(self, op: str, domain: str) -> bytes:
        name = f"protect:{op}:{domain}"
        if name not in self._material:
            keys, key_id = self._need(op)
            self._material[name] = keys.data_key_for(key_id, name, self.who).material
        return self._material[name]

    def reversal(self, op: str, domain: str) -> bytes:
        """The same key, fetched through the `key.decrypt` permission (audited as a decryption)."""
        keys, key_id = self._need(op)
        keys.require(self.who, "key.decrypt", key_id)
        return self.material(op, domain)

    def vault(self, name: str | None) -> Vault:
        keys, key_id = self._need("tokenize")
        vname = name or key_id
        if vname not in self._vaults:
            self._vaults[vname] = Vault(keys, key_id, self.who, vname)
        return self._vaults[vname]

    def ff1(self, spec: OpSpec, key: bytes) -> FF1:
        alphabet = str(spec.params.get("alphabet", "0123456789"))
        k = (spec.domain, alphabet)
        if k not in self._ff1:
            try:
                self._ff1[k] = FF1(key, alphabet=alphabet)
            except FPEError as exc:
                raise ProtectError(f"fpe: {exc}") from None
        return self._ff1[k]


def _mask(value: str, keep_last: int, char: str) -> str:
    """Hide every letter and digit except the last `keep_last`; separators stay (4111-... -> ****-...).

    At least half of the letters and digits are always hidden, so a short value is never shown whole.
    """
    idx = [i for i, c in enumerate(value) if c.isalnum()]
    keep = min(keep_last, len(idx) // 2)
    hide = set(idx[: len(idx) - keep])
    return "".join(char if i in hide else c for i, c in enumerate(value))


def _fpe_split(value: str, alphabet: str) -> tuple[str, list[int]]:
    sym = set(alphabet)
    positions = [i for i, c in enumerate(value) if c in sym]
    return "".join(value[i] for i in positions), positions


def _fpe_apply(values: Sequence[str], spec: OpSpec, ring: Keyring, *, decrypt: bool, entity_type: str) -> list[str]:
    key = ring.reversal("fpe", spec.domain) if decrypt else ring.material("fpe", spec.domain)
    ff1 = ring.ff1(spec, key[:32])
    alphabet = ff1.alphabet
    on_invalid = spec.params.get("on_invalid", "error")
    tweak = f"{spec.domain}".encode()
    cores: list[str] = []
    shapes: list[tuple[int, list[int]]] = []
    out = list(values)
    for i, v in enumerate(values):
        core, pos = _fpe_split(v, alphabet)
        if len(core) < ff1.min_len:
            if on_invalid == "error":
                raise ProtectError(
                    f"fpe: a value has {len(core)} symbols of the alphabet; FF1 needs at least {ff1.min_len} "
                    "(set on_invalid: redact or keep)"
                )
            out[i] = "" if on_invalid == "redact" and not decrypt else v
            continue
        cores.append(core)
        shapes.append((i, pos))
    done = ff1.decrypt_many(cores, tweak) if decrypt else ff1.encrypt_many(cores, tweak)
    for (i, pos), new in zip(shapes, done, strict=True):
        chars = list(values[i])
        for p, c in zip(pos, new, strict=True):
            chars[p] = c
        out[i] = "".join(chars)
    return out


def _aead_key(ring: Keyring, spec: OpSpec, decrypt: bool) -> AESGCM:
    key = ring.reversal("encrypt", spec.domain) if decrypt else ring.material("encrypt", spec.domain)
    return AESGCM(key)


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _aad(domain: str, column: str, row_key: str) -> bytes:
    """Associated data of one `encrypt` value: length-prefixed, so no two contexts encode alike."""
    return _AAD_TAG + _field(domain.encode()) + _field(column.encode()) + _field(row_key.encode())


def _row_keys(row_keys: Sequence[str] | None, n: int) -> Sequence[str]:
    if row_keys is None:
        return [""] * n
    if len(row_keys) != n:
        raise ProtectError("encrypt: one row key per value is needed")
    return row_keys


def apply(
    spec: OpSpec,
    values: Sequence[str],
    ring: Keyring,
    *,
    entity_type: str = "VALUE",
    column: str = "",
    row_keys: Sequence[str] | None = None,
) -> list[str]:
    """Protect a batch of non-empty string values with one operator.

    `column` and `row_keys` (one per value) are where the values sit; `encrypt` binds
    them into each ciphertext so it cannot be moved elsewhere undetected.
    """
    op = spec.op
    if op == "keep":
        return list(values)
    if op == "redact":
        return [str(spec.params.get("with", ""))] * len(values)
    if op == "mask":
        n = int(spec.params.get("keep_last", 4))
        ch = str(spec.params.get("char", "*"))[:1] or "*"
        return [_mask(v, n, ch) for v in values]
    if op == "placeholder":
        label = str(spec.params.get("label", entity_type)).upper()
        return [f"<{label}>"] * len(values)
    if op == "hmac":
        key = ring.material("hmac", spec.domain)
        n = int(spec.params.get("length", 32))
        prefix = str(spec.params.get("prefix", ""))
        digest = _hmac.digest
        sha = hashlib.sha256
        return [prefix + digest(key, v.encode("utf-8"), sha).hex()[:n] for v in values]
    if op == "tokenize":
        return ring.vault(spec.params.get("vault")).tokenize_many(values)
    if op == "fpe":
        return _fpe_apply(values, spec, ring, decrypt=False, entity_type=entity_type)
    if op == "surrogate":
        key = ring.material("surrogate", spec.domain)
        etype = str(spec.params.get("type", entity_type))
        return [surrogate(key, etype, v) for v in values]
    if op == "encrypt":
        aead = _aead_key(ring, spec, decrypt=False)
        out = []
        for v, rk in zip(values, _row_keys(row_keys, len(values)), strict=True):
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, v.encode(), _aad(spec.domain, column, rk))
            out.append(ENC_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode())
        return out
    raise ProtectError(f"unknown operator {op!r}")  # pragma: no cover - parse() rejects it first


def reverse(
    spec: OpSpec,
    values: Sequence[str],
    ring: Keyring,
    *,
    column: str = "",
    row_keys: Sequence[str] | None = None,
) -> list[str]:
    """Undo a reversible operator (RBAC: `key.decrypt`, or `vault.detokenize` for tokens).

    For `encrypt`, `column` and `row_keys` must be where the values were protected;
    a value moved from another column or row fails authentication.
    """
    if spec.op == "tokenize":
        return ring.vault(spec.params.get("vault")).detokenize_many(values)
    if spec.op == "fpe":
        return _fpe_apply(values, spec, ring, decrypt=True, entity_type="VALUE")
    if spec.op == "encrypt":
        aead = _aead_key(ring, spec, decrypt=True)
        accept_v1 = bool(spec.params.get("accept_v1", False))
        out = []
        where = f" in column {column!r}" if column else ""
        for v, rk in zip(values, _row_keys(row_keys, len(values)), strict=True):
            if v.startswith(ENC_PREFIX):
                body, aad = v[len(ENC_PREFIX) :], _aad(spec.domain, column, rk)
            elif v.startswith(ENC_PREFIX_V1):
                if not accept_v1:
                    raise ProtectError(
                        f"encrypt: a value{where} is in the older 'enc:' format (v1, bound to the domain only, "
                        "not to its column and row); set accept_v1: true on the column to restore it"
                    )
                body, aad = v[len(ENC_PREFIX_V1) :], spec.domain.encode()
            else:
                raise ProtectError(f"encrypt: a value{where} is not an 'enc2:' ciphertext")
            try:
                blob = base64.urlsafe_b64decode(body)
                out.append(aead.decrypt(blob[:12], blob[12:], aad).decode())
            except (binascii.Error, ValueError, InvalidTag):
                raise ProtectError(
                    f"encrypt: a value{where} fails authentication (wrong key or domain, moved from another "
                    "column or row, or tampered)"
                ) from None
        return out
    raise ProtectError(f"operator {spec.op!r} is one-way and cannot be reversed")


Transform = Callable[[Sequence[str]], list[str]]
