"""The authenticated caller, whatever proved its identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the authorizer and the limiter see it.

    `models` narrows what the roles allow (None: whatever the roles allow);
    `limits` overrides the default per-key limits.
    """

    kind: str  # "key", "oidc" or "admin"
    id: str
    tenant: str
    roles: tuple[str, ...]
    scopes: frozenset[str] = frozenset()
    models: tuple[str, ...] | None = None
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"


class AuthError(Exception):
    """Authentication failed; `reason` is short and safe to log (no token material)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
