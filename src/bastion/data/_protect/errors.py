from __future__ import annotations


class ProtectError(ValueError):
    """A policy, value or dataset that cannot be protected (or restored) as asked."""


class VaultError(ProtectError):
    """A token is not in the vault: shredded, from another vault or project, or forged."""
