"""Hostile and broken input: each answered with the right 4xx, quickly; the service stays up; all audited."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from gw_helpers import auth, base_settings, issue
from gw_upstream import SEEN_HEADERS, serve

from bastion.core.store import Store
from bastion.gateway import create_app, request_log, verify_request_log

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def env(sqlite_store: Store, gateway: Any) -> Any:
    client, gw = gateway(max_body_bytes=4096, auth_failures_per_minute=5)
    return client, gw, issue(sqlite_store, "acme", "application")


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"model": "echo", "messages": [', {}, 400),
        (b"\xff\xfe{}", {}, 400),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "\xc3\x28"}]}', {}, 400),
        (b"[1, 2, 3]", {}, 400),
        (b'{"model": 5, "messages": []}', {}, 400),
        (b'{"model": "echo", "messages": "hi"}', {}, 400),
        (b'{"model": "echo", "messages": [{"role": "user", "content": 7}]}', {}, 400),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', {}, 400),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', {}, 404),
        (b"[" * 100_000, {}, 413),
        (b"x" * 5000, {}, 413),
        (b"{}", {"content-type": "text/plain"}, 415),
        (b"{" + b'"a":' * 500 + b"1" + b"}" * 500, {}, 400),
    ],
)
def test_malformed_bodies(env: Any, body: bytes, headers: dict[str, str], status: int) -> None:
    client, _, key = env
    t0 = time.perf_counter()
    r = client.post(
        "/v1/chat/completions", content=body, headers={**auth(key), "content-type": "application/json", **headers}
    )
    assert r.status_code == status, r.text
    assert time.perf_counter() - t0 < 1.0
    assert r.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json=CHAT, headers=auth(key)).status_code == 200  # still up


def test_oversized_headers(env: Any) -> None:
    client, _, key = env
    r = client.get("/v1/models", headers={**auth(key), "x-filler": "a" * 20_000})
    assert r.status_code == 431


def test_lying_content_length(env: Any) -> None:
    client, _, key = env
    r = client.post("/v1/chat/completions", content=b"{}", headers={**auth(key), "content-length": "999999"})
    assert r.status_code in (400, 413)


def test_key_brute_force_is_throttled(env: Any) -> None:
    client, _, key = env
    from bastion.gateway._auth.apikeys import generate_key

    codes = [client.get("/v1/models", headers=auth(generate_key())).status_code for _ in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert client.get("/v1/models", headers=auth(key)).status_code == 429  # the whole source is slowed down


@pytest.mark.parametrize(
    "header",
    ["", "Basic abc", "Bearer", "Bearer bst_short", "Bearer " + "bst_" + "A" * 39, "Bearer eyJhbGciOiJub25lIn0.e30."],
)
def test_bad_credentials(sqlite_store: Store, gateway: Any, header: str) -> None:
    client, _ = gateway()
    r = client.post("/v1/chat/completions", json=CHAT, headers={"authorization": header} if header else {})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_cross_tenant_attempts(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway()
    beta = issue(sqlite_store, "beta", "security_officer")
    r = client.get("/admin/keys?tenant=acme", headers=auth(beta))
    assert r.status_code == 403
    r = client.get("/admin/audit", headers=auth(beta))
    assert r.status_code == 200 and all(e["tenant"] == "beta" for e in r.json()["data"])


def test_header_injection_does_not_reach_upstream(env: Any, seen: list[Any]) -> None:
    client, _, key = env
    body = {"model": "echo", "messages": [{"role": "user\r\nX-Evil: 1", "content": "hi"}]}
    r = client.post("/v1/chat/completions", json=body, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].role"  # not a role OpenAI knows
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi\r\nX-Evil: 1"}]}
    r = client.post(
        "/v1/chat/completions",
        json=body,
        headers={**auth(key), "x-forwarded-for": "1.2.3.4", "x-evil": "1", "cookie": "session=abc"},
    )
    assert r.status_code == 200
    sent = SEEN_HEADERS[-1]
    assert "x-evil" not in sent and "cookie" not in sent and "x-forwarded-for" not in sent
    assert key not in str(sent)  # the caller's credential never travels upstream
    r = client.get("/v1/models", headers={"authorization": f"Bearer {key}\r\nX-Evil: 1"})
    assert r.status_code == 401


def test_raw_crlf_in_header_is_refused_by_the_server(sqlite_store: Store, upstream_url: str) -> None:
    app = create_app(base_settings(upstream_url), sqlite_store)
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        for head in (
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: b\rX-Evil: 1\r\n\r\n",
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A" + b"a" * 70_000 + b": 1\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(head)
                sock.settimeout(5)
                assert sock.recv(4096).split(b"\r\n")[0].split(b" ")[1] in (b"400", b"431")
        assert httpx.get(url + "/healthz").status_code == 200


def test_every_request_is_audited(env: Any, sqlite_store: Store) -> None:
    client, gw, key = env
    client.post("/v1/chat/completions", content=b"{bad", headers={**auth(key), "content-type": "application/json"})
    client.post("/v1/chat/completions", json=CHAT)
    client.post("/v1/chat/completions", json=CHAT, headers=auth(key))
    client.get("/nope")
    assert gw.audit.flush()
    records = request_log(sqlite_store, "gw")
    assert [r["status"] for r in records[-4:]] == [400, 401, 200, 404]
    assert records[-3]["decision"] == "unauthenticated"
    assert sqlite_store.audit.verify().ok and verify_request_log(sqlite_store, "gw") == []


def test_tampering_with_request_records_is_detected(env: Any, sqlite_store: Store) -> None:
    from sqlalchemy import delete, update

    from bastion.gateway._tables import requests

    client, gw, key = env
    for _ in range(3):
        client.get("/v1/models", headers=auth(key))
    assert gw.audit.flush()
    assert verify_request_log(sqlite_store, "gw") == []
    with sqlite_store.engine.begin() as conn:
        first = conn.execute(requests.select().order_by(requests.c.id)).first()
        assert first is not None
        conn.execute(
            update(requests)
            .where(requests.c.id == first.id)
            .values(status=200, decision="allowed", latency_ms=first.latency_ms + 1)
        )
    assert verify_request_log(sqlite_store, "gw")
    with sqlite_store.engine.begin() as conn:
        conn.execute(delete(requests))
    assert any("missing" in p for p in verify_request_log(sqlite_store, "gw"))


def test_slow_client_gets_408_and_others_are_served(sqlite_store: Store, upstream_url: str) -> None:
    app = create_app(base_settings(upstream_url, body_timeout_s=1.0), sqlite_store)
    key = issue(sqlite_store, "acme", "application")
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{".encode()
        )
        t0 = time.perf_counter()
        assert httpx.post(url + "/v1/chat/completions", json=CHAT, headers=auth(key)).status_code == 200
        sock.settimeout(5)
        answer = sock.recv(4096)
        assert b" 408 " in answer.split(b"\r\n")[0] and time.perf_counter() - t0 < 3
        sock.close()
