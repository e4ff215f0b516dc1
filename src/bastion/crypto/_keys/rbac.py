"""Who may do what with keys: a small role-based policy, checked on every key operation.

Roles are deliberately coarse and separate duties: a key administrator can create,
rotate and shred keys but not read data; a protector (an ingestion pipeline) can
encrypt and tokenize but never reverse; only a data owner can decrypt or detokenize.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PERMISSIONS = frozenset(
    {
        "key.create",
        "key.list",
        "key.rotate",
        "key.shred",
        "key.encrypt",
        "key.decrypt",
        "vault.tokenize",
        "vault.detokenize",
    }
)

ROLES: dict[str, frozenset[str]] = {
    "admin": PERMISSIONS,
    "key-admin": frozenset({"key.create", "key.list", "key.rotate", "key.shred"}),
    "data-owner": frozenset({"key.list", "key.encrypt", "key.decrypt", "vault.tokenize", "vault.detokenize"}),
    "protector": frozenset({"key.list", "key.encrypt", "vault.tokenize"}),
    "auditor": frozenset({"key.list"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An actor with roles. The local CLI user owns the state folder and acts as ``admin``."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, name: str, roles: Iterable[str]) -> Principal:
        roles = frozenset(roles)
        unknown = roles - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; known: {sorted(ROLES)}")
        return cls(name, roles)

    def can(self, permission: str) -> bool:
        return any(permission in ROLES.get(r, frozenset()) for r in self.roles)
