"""Admission control: bounded work in flight, a bounded queue, and an immediate 503 + Retry-After beyond it."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import httpx
import pytest
from gw_helpers import auth, base_settings, issue
from gw_upstream import serve

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.core.store import Store
from bastion.gateway import create_app, request_log, verify_request_log
from bastion.gateway._admission import Admission, Overloaded
from bastion.gateway._guards import chain as chain_mod

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}


class Gate:
    """A guard that holds every request until the test opens the gate (an overloaded guard stage)."""

    name = "gate"
    directions = frozenset({"input"})

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()

    def check(self, item: GuardInput) -> GuardVerdict:
        if item.text != "warm up":
            self.entered.set()
            self.open.wait(10)
        return GuardVerdict(allowed=True)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_admission_queue_is_bounded_and_fifo() -> None:
    async def scenario() -> list[str]:
        adm = Admission(limit=1, queue=2, wait_s=5)
        order: list[str] = []
        await adm.acquire()

        async def waiter(name: str) -> None:
            await adm.acquire()
            order.append(name)
            adm.release()

        tasks = [asyncio.ensure_future(waiter(n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as full:
            await adm.acquire()  # two already waiting: refused at once
        assert full.value.reason == "queue_full" and adm.waiting == 2
        adm.release()
        await asyncio.gather(*tasks)
        assert adm.active == 0 and adm.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["a", "b"]


def test_admission_wait_is_bounded_and_cancellation_frees_the_place() -> None:
    async def scenario() -> None:
        adm = Admission(limit=1, queue=5, wait_s=0.05)
        await adm.acquire()
        with pytest.raises(Overloaded) as late:
            await adm.acquire()
        assert late.value.reason == "queue_timeout" and adm.waiting == 0
        adm.wait_s = 5
        task = asyncio.ensure_future(adm.acquire())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert adm.waiting == 0
        adm.release()
        assert adm.active == 0

    asyncio.run(scenario())


def test_overloaded_gateway_answers_503_at_once_and_serves_what_it_admitted(
    sqlite_store: Store, upstream_url: str
) -> None:
    gate = Gate()
    with mock.patch.object(chain_mod, "plugins", return_value={"gate": gate}):
        settings = base_settings(
            upstream_url,
            guards=[{"name": "gate", "timeout_ms": 20_000}],
            guard_budget_ms=20_000,
            max_concurrent_requests=1,
            max_queued_requests=1,
            queue_timeout_s=60,
        )
        app = create_app(settings, sqlite_store)
    key = issue(sqlite_store, "acme", "application")
    seen_logs = _Collect()
    with serve(app) as url, ThreadPoolExecutor(4) as pool:
        for name in ("uvicorn.error", "bastion.gateway"):  # after uvicorn's logging set-up; it does not propagate
            logging.getLogger(name).addHandler(seen_logs)

        def post() -> httpx.Response:
            return httpx.post(url + "/v1/chat/completions", json=CHAT, headers=auth(key), timeout=30)

        first = pool.submit(post)
        assert gate.entered.wait(10)  # the one slot is taken
        gw = app.state.gateway
        second = pool.submit(post)  # waits in the queue
        for _ in range(1000):
            if gw.admission.waiting == 1:
                break
            threading.Event().wait(0.01)
        assert gw.admission.waiting == 1
        third = post()  # queue full: refused at once, not after the gate opens
        assert not first.done()
        assert third.status_code == 503 and third.headers["retry-after"] == "1"
        assert third.json()["error"]["type"] == "overloaded"
        gate.open.set()
        assert first.result().status_code == 200 and second.result().status_code == 200
        assert post().status_code == 200
        assert gw.admission.active == 0
    assert gw.audit.flush()
    records = request_log(sqlite_store, "gw")
    assert sorted(r["status"] for r in records[-4:]) == [200, 200, 200, 503]
    assert any(r["decision"] == "overloaded" for r in records[-4:])
    assert verify_request_log(sqlite_store, "gw") == []
    for name in ("uvicorn.error", "bastion.gateway"):
        logging.getLogger(name).removeHandler(seen_logs)
    # Shedding is expected: no warning per refusal (a log flood under overload), and no crash after it.
    assert not [m for m in seen_logs.messages if "503" in m or "Exception in ASGI application" in m]


class Sleepy:
    """A fail-open guard that never gets to finish in time (it sleeps: no CPU, like a starved thread)."""

    name = "sleepy"
    directions = frozenset({"input"})

    def check(self, item: GuardInput) -> GuardVerdict:
        if item.text != "warm up":
            threading.Event().wait(0.3)
        return GuardVerdict(allowed=False, score=1.0)


def test_guard_starved_under_saturation_is_a_503_not_a_pass(
    sqlite_store: Store, upstream_url: str, seen: list[Any]
) -> None:
    with mock.patch.object(chain_mod, "plugins", return_value={"sleepy": Sleepy()}):
        settings = base_settings(
            upstream_url,
            guards=[{"name": "sleepy", "on_error": "open", "timeout_ms": 50}],
            max_concurrent_requests=1,  # this one request takes every slot: the gateway is saturated
        )
        app = create_app(settings, sqlite_store)
    key = issue(sqlite_store, "acme", "application")
    with serve(app) as url:
        r = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=auth(key), timeout=30)
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"]["type"] == "overloaded"
    assert not seen  # before, on_error: open let the prompt through unchecked
    gw = app.state.gateway
    assert gw.audit.flush()
    record = request_log(sqlite_store, "gw")[-1]
    assert record["decision"] == "overloaded" and record["data"]["guards"][0]["error"] == "overloaded"
