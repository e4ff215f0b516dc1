"""Authorization matrix: every role × endpoint × resource (own tenant, other tenant), plus key narrowing."""

from __future__ import annotations

from typing import Any

import pytest
from gw_helpers import auth, issue

from bastion.core.store import Store
from bastion.gateway import Principal
from bastion.gateway._rbac import Authorizer

ROLES = ("admin", "security_officer", "data_scientist", "application")
CHAT = {"messages": [{"role": "user", "content": "hello"}]}

# (method, path, body, {role: expected status}) with the caller in tenant "acme" unless noted.
OK = 200
MATRIX: list[tuple[str, str, str, Any, dict[str, int]]] = [
    (
        "chat shared model",
        "POST",
        "/v1/chat/completions",
        {"model": "echo", **CHAT},
        {"admin": OK, "security_officer": 403, "data_scientist": OK, "application": OK},
    ),
    (
        "chat own-tenant model",
        "POST",
        "/v1/chat/completions",
        {"model": "acme-only", **CHAT},
        {"admin": OK, "security_officer": 403, "data_scientist": OK, "application": OK},
    ),
    (
        "embeddings",
        "POST",
        "/v1/embeddings",
        {"model": "echo", "input": "x"},
        {"admin": OK, "security_officer": 403, "data_scientist": OK, "application": OK},
    ),
    (
        "list own keys",
        "GET",
        "/admin/keys",
        None,
        {"admin": OK, "security_officer": OK, "data_scientist": 403, "application": 403},
    ),
    (
        "list other tenant keys",
        "GET",
        "/admin/keys?tenant=beta",
        None,
        {"admin": OK, "security_officer": 403, "data_scientist": 403, "application": 403},
    ),
    (
        "issue key",
        "POST",
        "/admin/keys",
        {"tenant": "acme", "name": "n", "roles": ["application"]},
        {"admin": 201, "security_officer": 403, "data_scientist": 403, "application": 403},
    ),
    (
        "issue key other tenant",
        "POST",
        "/admin/keys",
        {"tenant": "beta", "name": "n", "roles": ["application"]},
        {"admin": 201, "security_officer": 403, "data_scientist": 403, "application": 403},
    ),
    (
        "guards",
        "GET",
        "/admin/guards",
        None,
        {"admin": OK, "security_officer": OK, "data_scientist": OK, "application": 403},
    ),
    (
        "policies",
        "GET",
        "/admin/policies",
        None,
        {"admin": OK, "security_officer": OK, "data_scientist": 403, "application": 403},
    ),
    (
        "audit",
        "GET",
        "/admin/audit",
        None,
        {"admin": OK, "security_officer": OK, "data_scientist": 403, "application": 403},
    ),
]


@pytest.fixture
def setup(sqlite_store: Store, gateway: Any) -> Any:
    client, _ = gateway()
    keys = {role: issue(sqlite_store, "acme", role) for role in ROLES}
    beta_key_id = (
        __import__("bastion.gateway", fromlist=["key_store"])
        .key_store(sqlite_store, "gw")
        .create(tenant="beta", name="b", roles=["application"], actor="t")[1]
        .id
    )
    acme_key_id = (
        __import__("bastion.gateway", fromlist=["key_store"])
        .key_store(sqlite_store, "gw")
        .create(tenant="acme", name="a", roles=["application"], actor="t")[1]
        .id
    )
    return client, keys, beta_key_id, acme_key_id


@pytest.mark.parametrize("role", ROLES)
def test_matrix(setup: Any, role: str) -> None:
    client, keys, _, _ = setup
    for name, method, path, body, expected in MATRIX:
        r = client.request(method, path, headers=auth(keys[role]), json=body)
        assert r.status_code == expected[role], f"{role} {name}: {r.status_code} {r.text[:200]}"


@pytest.mark.parametrize("role", ROLES)
def test_revoke_matrix(setup: Any, role: str) -> None:
    client, keys, beta_id, acme_id = setup
    other = client.post(f"/admin/keys/{beta_id}/revoke", headers=auth(keys[role]))
    assert other.status_code == (200 if role == "admin" else 404)  # other tenants' keys are invisible
    own = client.post(f"/admin/keys/{acme_id}/revoke", headers=auth(keys[role]))
    assert own.status_code == (200 if role in ("admin", "security_officer") else 403)


def test_other_tenant_cannot_see_or_use_tenant_model(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    for role in ("application", "data_scientist", "security_officer"):
        key = issue(sqlite_store, "beta", role)
        r = client.post("/v1/chat/completions", headers=auth(key), json={"model": "acme-only", **CHAT})
        assert r.status_code == 404
        models = client.get("/v1/models", headers=auth(key)).json()["data"]
        assert "acme-only" not in {m["id"] for m in models}


def test_key_scopes_and_model_narrowing(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    emb_only = issue(sqlite_store, "acme", "application", scopes=["embeddings"])
    assert (
        client.post("/v1/chat/completions", headers=auth(emb_only), json={"model": "echo", **CHAT}).status_code == 403
    )
    assert (
        client.post("/v1/embeddings", headers=auth(emb_only), json={"model": "echo", "input": "x"}).status_code == 200
    )
    raw_only = issue(sqlite_store, "acme", "application", models=["raw"])
    assert (
        client.post("/v1/chat/completions", headers=auth(raw_only), json={"model": "echo", **CHAT}).status_code == 403
    )
    assert client.post("/v1/chat/completions", headers=auth(raw_only), json={"model": "raw", **CHAT}).status_code == 200


def test_non_admin_cannot_mint_admin_keys(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    a = Authorizer()
    so = Principal("key", "s", "acme", ("security_officer",))
    assert not a.allowed(so, "admin:keys", "write", "acme")
    key = issue(sqlite_store, "acme", "security_officer")
    r = client.post("/admin/keys", headers=auth(key), json={"tenant": "acme", "name": "x", "roles": ["admin"]})
    assert r.status_code == 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("same_tenant", [True, False])
def test_dataset_permissions(role: str, same_tenant: bool) -> None:
    who = Principal("key", "x", "acme", (role,))
    allowed = Authorizer().allowed(who, "dataset:transactions", "read", "acme" if same_tenant else "beta")
    assert allowed == (role == "admin" or (same_tenant and role == "data_scientist"))
    assert not Authorizer().allowed(who, "dataset:transactions", "write", "acme") or role == "admin"
