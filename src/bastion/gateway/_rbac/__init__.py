"""Authorization: casbin RBAC with tenant scoping, plus per-key model attributes (ABAC)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import casbin

from bastion.gateway._auth.principal import Principal

_HERE = Path(__file__).parent
MODEL = _HERE / "model.conf"
POLICY = _HERE / "policy.csv"


class Authorizer:
    """`allowed(principal, obj, act, resource_tenant)`: roles via casbin, then the key's own narrowing.

    Objects are ``model:<name>``, ``dataset:<name>``, ``admin:<area>``, ``audit``;
    actions ``invoke``, ``embed``, ``predict``, ``read``, ``write``. A policy line
    with scope ``tenant`` only applies inside the caller's own tenant; ``global``
    (administrators) crosses tenants.
    """

    def __init__(self, policy: Path | None = None) -> None:
        self._enforcer = casbin.Enforcer(str(MODEL), str(policy or POLICY))
        self._cached = lru_cache(maxsize=65_536)(self._enforce)

    def _enforce(self, role: str, same_tenant: bool, obj: str, act: str) -> bool:
        return bool(self._enforcer.enforce(role, "same" if same_tenant else "other", obj, act))

    def allowed(self, who: Principal, obj: str, act: str, resource_tenant: str | None = None) -> bool:
        same = resource_tenant is None or resource_tenant == who.tenant
        if not any(self._cached(role, same, obj, act) for role in who.roles):
            return False
        if obj.startswith("model:") and who.models is not None:
            name = obj[len("model:") :]
            return any(name == m or (m.endswith("*") and name.startswith(m[:-1])) for m in who.models)
        return True

    def policy_lines(self) -> list[list[str]]:
        return [list(p) for p in self._enforcer.get_policy()]
