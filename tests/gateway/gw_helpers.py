"""Helpers the gateway tests import (conftest modules are not importable by name)."""

from __future__ import annotations

from typing import Any

from bastion.core.store import Store
from bastion.gateway import GatewaySettings, key_store


def base_settings(upstream: str, **extra: Any) -> GatewaySettings:
    data: dict[str, Any] = {
        "project": "gw",
        "models": [
            {"name": "echo", "upstream": upstream},
            {"name": "acme-only", "upstream": upstream, "upstream_model": "echo", "tenants": ["acme"]},
            {"name": "raw", "upstream": upstream, "upstream_model": "echo", "guards": []},
        ],
    }
    data.update(extra)
    return GatewaySettings.model_validate(data)


def issue(store: Store, tenant: str, *roles: str, project: str = "gw", **kw: Any) -> str:
    plain, _ = key_store(store, project).create(
        tenant=tenant, name=f"{tenant}-{'-'.join(roles)}", roles=roles, actor="test", **kw
    )
    return plain


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def avoid_minute_edge(margin: float = 8.0) -> None:
    """Limits use fixed one-minute windows: keep a short test from straddling a window boundary."""
    import time

    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.05)
