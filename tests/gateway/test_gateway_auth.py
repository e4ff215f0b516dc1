"""Authentication: API keys (format, hashing, rotation, expiry), OIDC/JWT, admin login with TOTP."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gw_helpers import auth, issue
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select

from bastion.core.store import Store
from bastion.gateway import AuthError, GatewaySettings, KeyError_, admin_store, key_store, well_formed
from bastion.gateway._auth.apikeys import generate_key
from bastion.gateway._tables import api_keys

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}


def test_key_format_entropy_and_checksum() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for k in keys:
        assert k.startswith("bst_") and len(k) == 43 and well_formed(k)
    k = next(iter(keys))
    flipped = k[:10] + ("A" if k[10] != "A" else "B") + k[11:]
    assert not well_formed(flipped)
    assert not well_formed(k + "x") and not well_formed("sk-" + k[4:])


def test_keys_stored_only_as_hashes_with_audit(store: Store) -> None:
    ks = key_store(store, "gw")
    plain, rec = ks.create(tenant="acme", name="app", roles=["application"], actor="alice")
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(api_keys))]
    assert plain not in str(rows) and plain[4:20] not in str(rows)
    assert ks.authenticate(plain) is not None
    kinds = [e.kind for e in store.audit.tail(10)]
    assert "gateway.key.created" in kinds
    assert plain not in str([e.to_dict() for e in store.audit.tail(10)])
    ks.revoke(rec.id, actor="alice")
    assert ks.authenticate(plain) is None
    assert [e.kind for e in store.audit.tail(1)] == ["gateway.key.revoked"]


def test_rotation_overlap_and_expiry(store: Store) -> None:
    ks = key_store(store, "gw")
    old, rec = ks.create(tenant="acme", name="app", roles=["application"], actor="a")
    new, new_rec = ks.rotate(rec.id, overlap=timedelta(seconds=60), actor="a")
    assert new_rec.rotated_from == rec.id
    assert ks.authenticate(old) is not None and ks.authenticate(new) is not None  # overlap
    _, short = ks.create(tenant="acme", name="gone", roles=["application"], actor="a", expires_in=timedelta(seconds=-1))
    assert not short.active()
    old2, rec2 = ks.create(tenant="acme", name="x", roles=["application"], actor="a")
    ks.rotate(rec2.id, overlap=timedelta(0), actor="a")
    assert ks.authenticate(old2) is None
    with pytest.raises(KeyError_):
        ks.create(tenant="acme", name="x", roles=["root"], actor="a")


def test_last_used_is_recorded(sqlite_store: Store, gateway: Any) -> None:
    client, gw = gateway()
    key = issue(sqlite_store, "acme", "application")
    assert client.get("/v1/models", headers=auth(key)).status_code == 200
    gw.keys.flush_last_used()
    assert key_store(sqlite_store, "gw").list("acme")[0].last_used_at is not None


# -- OIDC -----------------------------------------------------------------------------------

PRIV = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISS, AUD = "https://idp.example.test", "bastion-gw"


def _jwks() -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(PRIV.public_key(), as_dict=True)
    jwk.update(kid="k1", use="sig", alg="RS256")
    return {"keys": [jwk]}


def _token(key: Any = PRIV, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "tenant": "acme",
        "roles": ["application"],
        "scope": "llm",
    } | claims
    return jwt.encode(body, key, algorithm=alg, headers={"kid": "k1"})


@pytest.fixture
def oidc_client(gateway: Any) -> Any:
    client, _ = gateway(oidc=[{"issuer": ISS, "audience": AUD, "jwks": _jwks(), "algorithms": ["RS256"]}])
    return client


def test_oidc_valid_token(oidc_client: Any) -> None:
    r = oidc_client.post("/v1/chat/completions", headers=auth(_token()), json=CHAT)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(exp=int(time.time()) - 600), id="expired"),
        pytest.param(lambda: _token(OTHER), id="forged-signature"),
        pytest.param(lambda: _token(aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda: _token(iss="https://evil.test"), id="untrusted-issuer"),
        pytest.param(
            lambda: jwt.encode(
                {
                    "iss": ISS,
                    "aud": AUD,
                    "sub": "x",
                    "tenant": "acme",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                },
                None,
                algorithm="none",
            ),
            id="alg-none",
        ),
        pytest.param(
            lambda: jwt.encode(
                {
                    "iss": ISS,
                    "aud": AUD,
                    "sub": "x",
                    "tenant": "acme",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                },
                b"k" * 32,
                algorithm="HS256",
            ),
            id="hs256-confusion",
        ),
        pytest.param(lambda: _token(iat=int(time.time()), exp=int(time.time()) + 10 * 86400), id="too-long-lived"),
        pytest.param(lambda: "a.b.c", id="garbage"),
        pytest.param(lambda: "x" * 10000, id="oversized"),
    ],
)
def test_oidc_rejects(oidc_client: Any, token: Any) -> None:
    t0 = time.perf_counter()
    r = oidc_client.post("/v1/chat/completions", headers=auth(token()), json=CHAT)
    assert r.status_code == 401, r.text
    assert time.perf_counter() - t0 < 1.0


def test_oidc_token_without_tenant_is_forbidden(oidc_client: Any) -> None:
    r = oidc_client.post("/v1/chat/completions", headers=auth(_token(tenant="")), json=CHAT)
    assert r.status_code == 403


# -- admin login ----------------------------------------------------------------------------


def test_admin_login_totp_replay_and_lockout(store: Store) -> None:
    admins = admin_store(store, "gw", GatewaySettings(admin={"lockout_after": 4}))
    admins.create("root", "correct horse battery", tenant="acme", actor="setup")
    seed = admins.totp_seed_for_tests("root")
    assert seed not in str([e.to_dict() for e in store.audit.tail(5)])
    now = time.time()
    code = pyotp.TOTP(seed).at(now)
    token = admins.login("root", "correct horse battery", code, at=now)
    who = admins.verify_session(token)
    assert who.roles == ("admin",) and who.kind == "admin"
    with pytest.raises(AuthError):  # the same code again: replay
        admins.login("root", "correct horse battery", code, at=now)
    with pytest.raises(AuthError):  # no MFA, no entry
        admins.login("root", "correct horse battery", "000000", at=now + 60)
    with pytest.raises(AuthError):
        admins.login("nobody", "whatever-password", code, at=now)
    for _ in range(2):  # with the replay and the missing code above: 4 failures, the lockout threshold
        with pytest.raises(AuthError):
            admins.login("root", "wrong password!!", pyotp.TOTP(seed).at(now + 120), at=now + 120)
    with pytest.raises(AuthError) as locked:  # locked even with the right credentials
        admins.login("root", "correct horse battery", pyotp.TOTP(seed).at(now + 150), at=now + 150)
    assert locked.value.status == 423
    kinds = [e.kind for e in store.audit.tail(12)]
    assert "gateway.admin.login" in kinds and "gateway.admin.login_failed" in kinds


def test_admin_session_over_http(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    admins = admin_store(sqlite_store, "gw")
    admins.create("ops", "a long enough password", tenant="acme", actor="setup")
    code = pyotp.TOTP(admins.totp_seed_for_tests("ops")).now()
    r = client.post("/admin/login", json={"username": "ops", "password": "a long enough password", "totp": code})
    assert r.status_code == 200
    token = r.json()["token"]
    r = client.post("/admin/keys", headers=auth(token), json={"tenant": "beta", "name": "b", "roles": ["application"]})
    assert r.status_code == 201 and well_formed(r.json()["key"])
    r = client.post("/admin/login", json={"username": "ops", "password": "a long enough password", "totp": code})
    assert r.status_code == 401  # replayed code
    forged = jwt.encode(
        {
            "iss": "bastion-gateway-admin",
            "sub": "ops",
            "aud": "gw",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "roles": ["admin"],
            "tenant": "acme",
        },
        b"x" * 32,
        algorithm="HS256",
    )
    assert client.get("/admin/keys", headers=auth(forged)).status_code == 401


def test_key_of_another_project_says_whose_it_is(sqlite_store: Store, upstream_url: str) -> None:
    """A key issued without `--project` (bastion.toml's project) used to get a bare 401 from a
    gateway whose gateway.yaml names another project; now the error names both projects."""
    import openai
    from gw_helpers import base_settings
    from gw_upstream import serve

    from bastion.gateway import create_app, request_log

    foreign = issue(sqlite_store, "acme", "application", project="default")
    app = create_app(base_settings(upstream_url), sqlite_store)  # project "gw"
    with serve(app) as url:
        for _ in range(2):  # the second answer comes from the key cache: same message
            client = openai.OpenAI(base_url=url + "/v1", api_key=foreign, max_retries=0)
            with pytest.raises(openai.AuthenticationError) as err:
                client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
            message = err.value.message
            assert "project 'default'" in message and "project 'gw'" in message
            assert foreign not in message and foreign[4:12] not in message  # nothing of the key itself
        unknown = openai.OpenAI(base_url=url + "/v1", api_key=generate_key(), max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            unknown.models.list()
        assert "project" not in err.value.message  # an unknown key learns nothing
    gw = app.state.gateway
    assert gw.audit.flush()
    assert "default" in str(request_log(sqlite_store, "gw")[-2]["data"].get("reason", ""))
