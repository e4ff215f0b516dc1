"""Limits: per key and per tenant, requests and tokens; shared across two real gateway processes via Redis."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gw_helpers import auth, avoid_minute_edge, issue
from gw_upstream import free_port

from bastion.core.store import Store
from bastion.gateway import request_log, verify_request_log
from bastion.gateway._limits import Check, LocalLimiter, RedisLimiter

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}
REDIS = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_up() -> None:
    """Skip locally when Redis is not running; under CI=true a missing Redis is a failure."""
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis at {REDIS} is not reachable (CI=true: Redis tests must run): {exc}")
        pytest.skip(f"Redis at {REDIS} is not reachable")


def test_requests_per_minute_per_key(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway(key_limits={"requests_per_minute": 3})
    k1, k2 = issue(sqlite_store, "acme", "application"), issue(sqlite_store, "acme", "application")
    avoid_minute_edge()
    codes = [client.post("/v1/chat/completions", headers=auth(k1), json=CHAT).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = client.post("/v1/chat/completions", headers=auth(k1), json=CHAT)
    assert 0 < int(r.headers["retry-after"]) <= 61 and r.json()["error"]["type"] == "rate_limit_error"
    assert client.post("/v1/chat/completions", headers=auth(k2), json=CHAT).status_code == 200  # its own budget


def test_key_override_and_tenant_limit(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway(tenant_limits={"acme": {"requests_per_minute": 4}})
    keys = [issue(sqlite_store, "acme", "application", limits={"requests_per_minute": 100}) for _ in range(3)]
    avoid_minute_edge()
    ok = sum(
        client.post("/v1/chat/completions", headers=auth(k), json=CHAT).status_code == 200
        for _ in range(2)
        for k in keys
    )
    assert ok == 4  # the tenant's budget caps all its keys together
    beta = issue(sqlite_store, "beta", "application")
    assert client.post("/v1/chat/completions", headers=auth(beta), json=CHAT).status_code == 200


def test_token_budgets(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway(key_limits={"tokens_per_day": 300})
    key = issue(sqlite_store, "acme", "application")
    big = {"model": "echo", "messages": [{"role": "user", "content": "word " * 200}]}  # ~250 tokens
    assert client.post("/v1/chat/completions", headers=auth(key), json=big).status_code == 200
    r = client.post("/v1/chat/completions", headers=auth(key), json=big)
    assert r.status_code == 429 and "tpd" in r.json()["error"]["message"]


@pytest.mark.anyio
async def test_local_limiter_all_or_nothing() -> None:
    lim = LocalLimiter()
    checks = [Check("a", 1, 2, 60), Check("b", 5, 5, 60)]
    assert (await lim.consume(checks)).allowed
    refused = await lim.consume(checks)
    assert not refused.allowed and refused.failed == "b"
    assert (await lim.consume([Check("a", 1, 2, 60)])).allowed  # "a" was not charged by the refusal


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_limiter_atomic(redis_up: None) -> None:
    lim = RedisLimiter(REDIS, f"bastion-test:{uuid.uuid4().hex}")
    avoid_minute_edge(2)
    try:
        results = [await lim.consume([Check("k", 1, 3, 60)]) for _ in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
    finally:
        await lim.close()


@pytest.mark.anyio
async def test_local_refund_only_to_the_window_charged_and_never_below_zero() -> None:
    lim = LocalLimiter()
    avoid_minute_edge(2)
    now = time.time()
    assert (await lim.consume([Check("t", 90, 100, 60)])).allowed
    await lim.refund([Check("t", 80, 0, 60)], now)  # reserved 90, used 10
    assert (await lim.consume([Check("t", 90, 100, 60)])).allowed  # 10 + 90 fits again
    await lim.refund([Check("t", 10_000, 0, 60)], now)  # more than charged: floor at zero, no credit
    assert not (await lim.consume([Check("t", 101, 100, 60)])).allowed
    before = [Check("t", 100, 0, 60)]
    await lim.refund(before, now - 120)  # a reservation from an earlier window gives nothing back now
    assert (await lim.consume([Check("t", 100, 100, 60)])).allowed
    assert not (await lim.consume([Check("t", 1, 100, 60)])).allowed


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_refund(redis_up: None) -> None:
    lim = RedisLimiter(REDIS, f"bastion-test:{uuid.uuid4().hex}")
    avoid_minute_edge(2)
    try:
        now = time.time()
        assert (await lim.consume([Check("t", 90, 100, 60)])).allowed
        await lim.refund([Check("t", 80, 0, 60)], now)
        assert (await lim.consume([Check("t", 90, 100, 60)])).allowed
        await lim.refund([Check("t", 10_000, 0, 60), Check("never-charged", 5, 0, 60)], now)
        assert not (await lim.consume([Check("t", 101, 100, 60)])).allowed
        assert (await lim.consume([Check("t", 100, 100, 60), Check("never-charged", 1, 1, 60)])).allowed
    finally:
        await lim.close()


def _start(db: str, state: Path, cfg: Path, port: int, tls: tuple[Path, Path] | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BASTION_STATE_DIR": str(state)}
    extra = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
    return subprocess.Popen(
        [sys.executable, "-m", "bastion", "--db", db, "serve", "-g", str(cfg), "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _wait(url: str, proc: subprocess.Popen[bytes], verify: Any = True) -> None:
    deadline = time.time() + 120  # start-up compiles the PII detector (≈10 s on a loaded 2-core VM), per process
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url + "/healthz", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


@pytest.mark.redis
@pytest.mark.slow
def test_two_processes_one_https_share_the_redis_limit(redis_up: None, tmp_path: Path, upstream_url: str) -> None:
    state = tmp_path / "state"
    db = f"sqlite:///{state / 'b.db'}"
    store = Store.open(db, state_dir=state)
    key = issue(store, "acme", "application")
    store.close()
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "project": "gw",
                "redis_url": REDIS,
                "redis_prefix": f"bastion-test:{uuid.uuid4().hex[:12]}",
                "key_limits": {"requests_per_minute": 6},
                "models": [{"name": "echo", "upstream": upstream_url}],
            }
        )
    )
    ports = [free_port(), free_port()]
    tls = _self_signed(tmp_path)
    ctx = ssl.create_default_context(cafile=str(tls[0]))
    procs = [_start(db, state, cfg, ports[0], None), _start(db, state, cfg, ports[1], tls)]  # one plain, one HTTPS
    try:
        urls = [f"http://127.0.0.1:{ports[0]}", f"https://127.0.0.1:{ports[1]}"]
        for url, proc in zip(urls, procs, strict=True):
            _wait(url, proc, ctx)
        avoid_minute_edge()
        codes = [
            httpx.post(
                urls[i % 2] + "/v1/chat/completions", headers=auth(key), json=CHAT, timeout=10, verify=ctx
            ).status_code
            for i in range(12)
        ]
        assert codes.count(200) == 6 and codes.count(429) == 6, codes
        assert codes[:6] == [200] * 6
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
    store = Store.open(db, state_dir=state)
    try:  # both processes drained their audit queues on shutdown: one record per request
        records = request_log(store, "gw")
        assert len(records) == 12
        assert sorted(r["status"] for r in records) == [200] * 6 + [429] * 6
        assert store.audit.verify().ok and verify_request_log(store, "gw") == []
    finally:
        store.close()
