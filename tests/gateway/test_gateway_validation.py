"""Request validation before any guard runs: roles, output-token counts, `n`, embeddings size, token limits.

Driven by the official `openai` SDK over real loopback HTTP, like an application would; the
raw-body cases go through httpx. Every refusal must be a 4xx with OpenAI's error body naming
the parameter, must not reach the upstream, and must leave an intact request log.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import httpx
import openai
import pytest
from gw_helpers import auth, avoid_minute_edge, base_settings, issue
from gw_upstream import serve

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.core.store import Store
from bastion.gateway import create_app, request_log, verify_request_log
from bastion.gateway._guards import chain as chain_mod

MSG = [{"role": "user", "content": "hello"}]


class Counting:
    """A guard that counts the texts it was asked about (warm-up excluded)."""

    name = "counting"
    directions = frozenset({"input", "output"})
    inline_safe = True

    def __init__(self) -> None:
        self.calls = 0

    def check(self, item: GuardInput) -> GuardVerdict:
        if item.text != "warm up":
            self.calls += 1
        return GuardVerdict(allowed=True)


@pytest.fixture
def served(sqlite_store: Store, upstream_url: str) -> Any:
    counting = Counting()

    def make(**extra: Any) -> tuple[str, Any, Counting]:
        with mock.patch.object(chain_mod, "plugins", return_value={"counting": counting}):
            settings = base_settings(upstream_url, guards=[{"name": "counting", "action": "block"}], **extra)
            app = create_app(settings, sqlite_store)
        ctx = serve(app)
        url = ctx.__enter__()
        opened.append(ctx)
        return url, app.state.gateway, counting

    opened: list[Any] = []
    yield make
    for ctx in opened:
        ctx.__exit__(None, None, None)


def _sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def _intact(gw: Any, store: Store) -> None:
    assert gw.audit.flush()
    assert verify_request_log(store, "gw") == [] and store.audit.verify().ok


@pytest.mark.parametrize(
    "role",
    ["hacker", "User", "", " user", "user\r\nX-Evil: 1", "system\x00", "ユーザー", "a" * 10_000, "assistant "],
)
def test_unknown_roles_are_refused(served: Any, sqlite_store: Store, seen: list[Any], role: str) -> None:
    url, gw, counting = served()
    key = issue(sqlite_store, "acme", "application")
    with pytest.raises(openai.BadRequestError) as err:
        _sdk(url, key).chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "hi"}, {"role": role, "content": "x"}],  # type: ignore[misc,list-item]
        )
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "messages[1].role" and body["type"] == "invalid_request_error"
    assert not seen and counting.calls == 0  # refused before any guard and before the model
    _intact(gw, sqlite_store)


@pytest.mark.parametrize("role", ["system", "user", "assistant", "tool", "developer", "function"])
def test_every_openai_role_is_accepted(served: Any, sqlite_store: Store, role: str) -> None:
    url, _, _ = served()
    key = issue(sqlite_store, "acme", "application")
    msg: dict[str, Any] = {"role": role, "content": "x"}
    if role == "tool":
        msg["tool_call_id"] = "call_1"
    if role == "function":
        msg["name"] = "f"
    r = httpx.post(url + "/v1/chat/completions", headers=auth(key), json={"model": "echo", "messages": [*MSG, msg]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [-1, 0, 1.5, "10", True, None, 10**12, 2**63, [5], {"a": 1}])
def test_output_token_counts_are_checked(
    served: Any, sqlite_store: Store, seen: list[Any], field: str, value: Any
) -> None:
    url, gw, counting = served(max_output_tokens=4096)
    key = issue(sqlite_store, "acme", "application")
    r = httpx.post(
        url + "/v1/chat/completions", headers=auth(key), json={"model": "echo", "messages": MSG, field: value}
    )
    if value is None:  # JSON null: OpenAI's "no maximum"
        assert r.status_code == 200
        return
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == field and err["type"] == "invalid_request_error" and err["message"]
    assert not seen and counting.calls == 0
    _intact(gw, sqlite_store)


def test_sdk_max_tokens_and_n(served: Any, sqlite_store: Store, seen: list[Any]) -> None:
    url, _, _ = served(max_n=4)
    client = _sdk(url, issue(sqlite_store, "acme", "application"))
    assert client.chat.completions.create(model="echo", messages=MSG, max_tokens=16, n=4).choices  # type: ignore[arg-type]
    assert seen[-1]["max_tokens"] == 16 and seen[-1]["n"] == 4  # passed through unchanged
    for n in (0, 5, 1000, -3):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="echo", messages=MSG, n=n)  # type: ignore[arg-type]
        assert isinstance(err.value.body, dict) and err.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="echo", prompt="hi", max_tokens=-5)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="echo", prompt="hi", n=2, best_of=1)


def test_max_tokens_counts_against_token_limits_before_the_call(
    served: Any, sqlite_store: Store, seen: list[Any]
) -> None:
    url, _gw, counting = served()
    key = issue(sqlite_store, "acme", "application", limits={"tokens_per_minute": 1000})
    client = _sdk(url, key)
    avoid_minute_edge()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="echo", messages=MSG, max_tokens=600, n=2)  # type: ignore[arg-type]
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "tokens_exceed_limit"
    assert "max_tokens" in err.value.message and not seen and counting.calls == 0
    # 900 reserved each time, settled against the upstream's usage (a few tokens): both pass.
    for _ in range(2):
        assert client.chat.completions.create(model="echo", messages=MSG, max_tokens=900).choices  # type: ignore[arg-type]
    assert len(seen) == 2


def test_prompt_larger_than_the_token_limit_is_413_not_429(served: Any, sqlite_store: Store, seen: list[Any]) -> None:
    url, gw, counting = served()
    key = issue(sqlite_store, "acme", "application", limits={"tokens_per_minute": 100})
    avoid_minute_edge()
    r = httpx.post(
        url + "/v1/chat/completions",
        headers=auth(key),
        json={"model": "echo", "messages": [{"role": "user", "content": "word " * 200}]},
    )
    assert r.status_code == 413 and "retry-after" not in r.headers
    err = r.json()["error"]
    assert err["code"] == "tokens_exceed_limit" and "tokens_per_minute" in err["message"] and "never" in err["message"]
    assert not seen and counting.calls == 0
    ok = httpx.post(url + "/v1/chat/completions", headers=auth(key), json={"model": "echo", "messages": MSG})
    assert ok.status_code == 200  # the refused request cost nothing
    assert gw.audit.flush()
    assert [x["status"] for x in request_log(sqlite_store, "gw")[-2:]] == [413, 200]


def test_large_embeddings_requests_are_refused_before_any_guard(
    served: Any, sqlite_store: Store, seen: list[Any]
) -> None:
    url, gw, counting = served(max_body_bytes=4 * 1024 * 1024, max_embedding_chars=50_000)
    client = _sdk(url, issue(sqlite_store, "acme", "application"))
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="echo", input=["a"] * 100_000)
    assert isinstance(err.value.body, dict) and err.value.body["param"] == "input"
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "too_many_items"
    with pytest.raises(openai.APIStatusError) as big:
        client.embeddings.create(model="echo", input=["x" * 1000] * 60)
    assert big.value.status_code == 413
    assert not seen and counting.calls == 0
    # A single input given as token ids is one item, whatever its length; small lists pass.
    assert client.embeddings.create(model="echo", input=list(range(3000))).data
    assert len(client.embeddings.create(model="echo", input=["a", "b"]).data) == 2
    assert counting.calls == 2
    _intact(gw, sqlite_store)


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "echo", "input": [',
        b'{"model": "echo", "input": []}',
        b'{"model": "echo", "input": [null]}',
        b'{"model": "echo", "input": [true, false]}',
        b'{"model": "echo", "input": [[1, "a"]]}',
        b'{"model": "echo", "input": [[]]}',
        b'{"model": "echo", "input": {"a": 1}}',
        b'{"model": "echo", "input": 5}',
        b'{"model": "echo", "input": [' + b'"a",' * 3000 + b'"a"]}',
        b'{"model": "echo", "input": "' + b"9" * 5000 + b'", "dimensions": ' + b"9" * 5000 + b"}",
    ],
)
def test_bad_embeddings_bodies(served: Any, sqlite_store: Store, seen: list[Any], body: bytes) -> None:
    url, gw, counting = served()
    key = issue(sqlite_store, "acme", "application")
    r = httpx.post(
        url + "/v1/embeddings", content=body, headers={**auth(key), "content-type": "application/json"}, timeout=30
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["message"] and not seen and counting.calls == 0
    _intact(gw, sqlite_store)


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": [{"role": "user", "content": "x"}] * 20},
        {"messages": [{"role": {"$ne": 1}, "content": "x"}]},
        {"messages": [{"role": ["user"], "content": "x"}]},
        {"messages": [{"role": "user", "content": {"text": "x"}}]},
        {"messages": [MSG[0]], "n": 2.0},
        {"messages": [MSG[0]], "max_tokens": "1e9"},
        {"messages": [MSG[0]], "max_completion_tokens": -(2**70)},
    ],
)
def test_bad_chat_bodies(served: Any, sqlite_store: Store, seen: list[Any], extra: dict[str, Any]) -> None:
    url, gw, counting = served(max_messages=10)
    key = issue(sqlite_store, "acme", "application")
    r = httpx.post(url + "/v1/chat/completions", headers=auth(key), json={"model": "echo", **extra})
    assert r.status_code == 400, r.text
    assert not seen and counting.calls == 0
    _intact(gw, sqlite_store)


def test_reservation_is_given_back_when_the_upstream_fails(sqlite_store: Store, upstream_url: str) -> None:
    settings = base_settings(
        upstream_url, models=[{"name": "down", "upstream": "http://127.0.0.1:9/v1", "timeout": 5}], guards=[]
    )
    app = create_app(settings, sqlite_store)
    key = issue(sqlite_store, "acme", "application", limits={"tokens_per_minute": 1000})
    avoid_minute_edge()
    with serve(app) as url:
        for stream in (False, True, False):  # 900 reserved each time: only fits if each was given back
            r = httpx.post(
                url + "/v1/chat/completions",
                headers=auth(key),
                json={"model": "down", "messages": MSG, "max_tokens": 900, "stream": stream},
            )
            assert r.status_code == 502, r.text
