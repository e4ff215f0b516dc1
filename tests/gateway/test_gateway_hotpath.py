"""The fast paths keep the security properties: cached auth, per-worker limit shares, hot routes."""

from __future__ import annotations

from typing import Any
from unittest import mock

from gw_helpers import auth, avoid_minute_edge, issue

from bastion.core.store import Store
from bastion.gateway import key_store

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}


def test_cached_key_revoked_through_the_gateway_stops_at_once(sqlite_store: Store, gateway: Any) -> None:
    client, gw = gateway()
    key = issue(sqlite_store, "acme", "application")
    assert client.post("/v1/chat/completions", headers=auth(key), json=CHAT).status_code == 200
    record = gw.keys.cached(key)
    assert record and gw.keys.principal_of(record) is gw.keys.principal_of(record)  # built once, reused
    gw.keys.revoke(record.id, actor="test")  # what POST /admin/keys/{id}/revoke does
    r = client.post("/v1/chat/completions", headers=auth(key), json=CHAT)
    assert r.status_code == 401


def test_revocation_elsewhere_lands_within_the_cache_time(sqlite_store: Store, gateway: Any) -> None:
    client, gw = gateway(key_cache_s=0.3)
    key = issue(sqlite_store, "acme", "application")
    assert client.post("/v1/chat/completions", headers=auth(key), json=CHAT).status_code == 200
    record = gw.keys.cached(key)
    key_store(sqlite_store, "gw").revoke(record.id, actor="other-replica")  # another process's KeyStore
    import time

    time.sleep(0.35)
    assert client.post("/v1/chat/completions", headers=auth(key), json=CHAT).status_code == 401


def test_garbage_keys_never_reach_the_database(sqlite_store: Store, gateway: Any) -> None:
    client, gw = gateway()
    with mock.patch.object(gw.keys, "authenticate", side_effect=AssertionError("database touched")):
        for token in ("bst_" + "0" * 39, "bst_short", "bst_" + "!" * 39, "bst_" + "A" * 5000):
            r = client.post("/v1/chat/completions", headers=auth(token), json=CHAT)
            assert r.status_code in (401, 431), token[:12]


def test_limits_are_divided_between_workers_without_redis(sqlite_store: Store, gateway: Any) -> None:
    client, gw = gateway(workers=2, key_limits={"requests_per_minute": 4})
    key = issue(sqlite_store, "acme", "application")
    avoid_minute_edge()
    codes = [client.post("/v1/chat/completions", headers=auth(key), json=CHAT).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # this process's half of 4
    assert gw._share(1) == 1 and gw._share(0) == 0  # never zero for a positive limit


def test_hot_routes_keep_error_shapes_and_other_methods(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    r = client.post("/v1/chat/completions", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert "x-request-id" in r.headers
    key = issue(sqlite_store, "acme", "application")
    r = client.post("/v1/chat/completions", content=b"{", headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["message"] == "request body is not valid JSON"
    assert client.get("/v1/chat/completions", headers=auth(key)).status_code == 405
    with mock.patch("bastion.gateway._routes.openai._model", side_effect=RuntimeError("boom")):
        r = client.post("/v1/chat/completions", headers=auth(key), json=CHAT)
    assert r.status_code == 500 and r.json() == {
        "error": {"message": "internal error", "type": "server_error", "param": None, "code": None}
    }


def test_refresh_ahead_keeps_hits_and_never_resurrects_a_revoked_key(sqlite_store: Store) -> None:
    keys = key_store(sqlite_store, "gw")
    keys.cache_s = 1.0
    plain, record = keys.create(tenant="acme", name="r", roles=["application"], actor="t")
    assert keys.authenticate(plain) is not None
    assert keys.refresh_due(plain) is False  # young entry
    entry = keys._cache[next(iter(keys._cache))]
    keys._cache[next(iter(keys._cache))] = (entry[0] - 0.9, entry[1])  # now in the last fifth of its life
    assert keys.refresh_due(plain) is True and keys.refresh_due(plain) is False  # single flight
    keys.refresh(plain)
    assert keys.cached(plain) is not False and keys.refresh_due(plain) is False  # fresh again: still a hit
    # a refresh whose read overlaps a revocation must not put its (stale) answer into the cache
    read = keys.store._read

    def racing_read() -> Any:
        keys._forget()  # the revocation lands while the refresh is reading
        return read()

    with mock.patch.object(keys.store, "_read", racing_read):
        keys.refresh(plain)
    assert keys._cache == {}
    keys.revoke(record.id, actor="t")
    assert keys.authenticate(plain) is None
