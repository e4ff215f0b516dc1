"""The OpenAI-compatible API, driven by the official `openai` SDK over real loopback HTTP."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from gw_helpers import auth, base_settings, issue
from gw_upstream import LEAKED, serve

from bastion.core.store import Store
from bastion.gateway import create_app, request_log, verify_request_log

EMAIL = "jane.doe@example.org"
CARD = "4539 1488 0343 6467"


@pytest.fixture
def served(sqlite_store: Store, upstream_url: str) -> Any:
    app = create_app(base_settings(upstream_url), sqlite_store)
    with serve(app) as url:
        yield url, app.state.gateway


def test_sdk_chat_redacts_upstream_and_restores_caller(served: Any, sqlite_store: Store, seen: list[Any]) -> None:
    url, gw = served
    key = issue(sqlite_store, "acme", "application")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    prompt = f"Email {EMAIL} about card {CARD} please"
    resp = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": prompt}])
    forwarded = seen[-1]["messages"][0]["content"]
    assert EMAIL not in forwarded and "[REDACTED_EMAIL_ADDRESS_1]" in forwarded
    assert "0343 6467" not in forwarded
    assert resp.choices[0].message.content == f"You said: {prompt}"
    assert gw.audit.flush()
    records = request_log(sqlite_store, "gw")
    assert records[-1]["data"]["model"] == "echo" and records[-1]["status"] == 200
    assert records[-1]["tenant"] == "acme" and records[-1]["actor"].startswith("key:")
    guards = records[-1]["data"]["guards"]
    assert guards[0]["guard"] == "pii" and guards[0]["effect"] == "redact"
    dumped = str(records) + str([e.to_dict() for e in sqlite_store.audit.tail(20)])
    assert EMAIL not in dumped and "0343 6467" not in dumped
    assert verify_request_log(sqlite_store, "gw") == []


def test_sdk_streaming_restores_split_placeholders(served: Any, sqlite_store: Store, seen: list[Any]) -> None:
    url, _ = served
    key = issue(sqlite_store, "acme", "application")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    prompt = f"Contact {EMAIL} and also {EMAIL} today"
    stream = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": prompt}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"You said: {prompt}"
    assert EMAIL not in seen[-1]["messages"][0]["content"]


def test_sdk_output_leak_is_redacted(served: Any, sqlite_store: Store) -> None:
    url, _ = served
    key = issue(sqlite_store, "acme", "application")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    resp = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "LEAK it"}])
    content = resp.choices[0].message.content or ""
    assert LEAKED not in content and "[REDACTED_EMAIL_ADDRESS" in content


def test_sdk_completions_embeddings_models(served: Any, sqlite_store: Store, seen: list[Any]) -> None:
    url, _ = served
    key = issue(sqlite_store, "acme", "application")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    comp = client.completions.create(model="echo", prompt=f"hi {EMAIL}")
    assert comp.choices[0].text == f"You said: hi {EMAIL}"
    emb = client.embeddings.create(model="echo", input=[f"x {EMAIL}", "y"])
    assert len(emb.data) == 2 and EMAIL not in str(seen[-1])
    ids = {m.id for m in client.models.list()}
    assert "echo" in ids and "acme-only" in ids


def test_sdk_errors_map_to_sdk_exceptions(served: Any, sqlite_store: Store) -> None:
    url, _ = served
    bad = openai.OpenAI(base_url=url + "/v1", api_key="bst_" + "0" * 39, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
    key = issue(sqlite_store, "other", "application")
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="acme-only", messages=[{"role": "user", "content": "x"}])
    assert "acme-only" not in {m.id for m in client.models.list()}


def test_block_action_refuses(sqlite_store: Store, gateway: Any) -> None:
    client, _ = gateway(guards=[{"name": "pii", "action": "block"}])
    key = issue(sqlite_store, "acme", "application")
    r = client.post(
        "/v1/chat/completions",
        headers=auth(key),
        json={"model": "echo", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "guard_blocked"
    r = client.post(
        "/v1/chat/completions",
        headers=auth(key),
        json={"model": "echo", "messages": [{"role": "user", "content": "nothing here"}]},
    )
    assert r.status_code == 200


def test_model_without_guards_passes_text(sqlite_store: Store, gateway: Any, seen: list[Any]) -> None:
    client, _ = gateway()
    key = issue(sqlite_store, "acme", "application")
    r = client.post(
        "/v1/chat/completions",
        headers=auth(key),
        json={"model": "raw", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]},
    )
    assert r.status_code == 200 and EMAIL in seen[-1]["messages"][0]["content"]
