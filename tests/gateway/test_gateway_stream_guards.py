"""Output guards on streamed answers: held-back windows, redaction mid-stream, and blocking."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import openai
import pytest
from gw_helpers import base_settings, issue
from gw_upstream import LEAKED, serve
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.store import Store
from bastion.gateway import ChainResult, StreamRestorer, create_app, request_log, restore
from bastion.gateway._guards.stream import StreamBlocked, WindowedOutput

EMAIL = "jane.doe@example.org"


def _served(store: Store, upstream_url: str, **extra: Any) -> Any:
    return serve(create_app(base_settings(upstream_url, **extra), store))


def _collect(url: str, key: str, prompt: str) -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    stream = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": prompt}], stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_streamed_leak_is_redacted_before_it_leaves(sqlite_store: Store, upstream_url: str) -> None:
    key = issue(sqlite_store, "acme", "application")
    with _served(sqlite_store, upstream_url) as url:
        text = _collect(url, key, f"LEAK it, and write to {EMAIL}")
    assert LEAKED not in text and "leaked.person" not in text
    assert "[REDACTED_EMAIL_ADDRESS" in text
    assert EMAIL in text  # the caller's own value still comes back


def test_blocking_output_guard_ends_the_stream_with_an_error(sqlite_store: Store, upstream_url: str) -> None:
    key = issue(sqlite_store, "acme", "application")
    guards = [{"name": "pii", "action": "block", "directions": ["output"]}]
    got: list[str] = []
    with _served(sqlite_store, upstream_url, guards=guards) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        stream = client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "LEAK " + "x" * 300}], stream=True
        )
        with pytest.raises(openai.APIError, match="withheld"):
            for chunk in stream:
                if chunk.choices:
                    got.append(chunk.choices[0].delta.content or "")
        assert "leaked.person" not in "".join(got)
        clean = _collect(url, key, "nothing sensitive here " * 10)
        assert clean.startswith("You said: nothing sensitive")
    records = [r for r in request_log(sqlite_store, "gw") if r["route"] == "/v1/chat/completions"]
    assert records  # written by the background thread before shutdown drained it
    blocked = [r for r in records if r["decision"] == "blocked_in_stream"]
    assert blocked and blocked[0]["data"]["blocked_by"] == "pii"


def test_record_mode_keeps_the_old_trade_off(sqlite_store: Store, upstream_url: str) -> None:
    key = issue(sqlite_store, "acme", "application")
    with _served(sqlite_store, upstream_url, stream_output_guard="record") as url:
        text = _collect(url, key, "LEAK it")
    assert LEAKED in text  # record mode: the text is out before the guard sees it


# -- WindowedOutput in isolation -----------------------------------------------------------------

CARD = re.compile(r"\d{4}-\d{4}")


def _redacting(text: str) -> ChainResult:
    return ChainResult(allowed=True, text=CARD.sub("[REDACTED_CARD_1]", text))


async def _feed(w: WindowedOutput, text: str, cuts: list[int]) -> str:
    out, pos, i = [], 0, 0
    while pos < len(text):
        step = cuts[i % len(cuts)]
        out.append(await w.feed(text[pos : pos + step]))
        pos += step
        i += 1
    out.append(await w.finish())
    return "".join(out)


@settings(max_examples=120, deadline=None)
@given(
    parts=st.lists(st.sampled_from(["abc ", "1234-5678", " [REDACTED_EMAIL_ADDRESS_1] ", "\n", "x" * 7]), max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=20),
    window=st.integers(min_value=1, max_value=40),
)
def test_windowed_output_equals_sanitising_the_whole_answer(parts: list[str], cuts: list[int], window: int) -> None:
    """Whatever the chunking, the client receives exactly the sanitised, restored full answer."""
    text = "".join(parts)
    vault = {"[REDACTED_EMAIL_ADDRESS_1]": EMAIL}

    async def check(t: str) -> ChainResult:
        return _redacting(t)

    w = WindowedOutput(check, StreamRestorer(vault), window=window, holdback=16)
    got = asyncio.run(_feed(w, text, cuts))
    assert got == restore(_redacting(text).text or "", vault)
    assert "1234-5678" not in got


def test_windowed_output_blocks_and_never_releases_the_offending_text() -> None:
    async def check(t: str) -> ChainResult:
        return ChainResult(allowed="SECRET" not in t, text=t, blocked_by="g")

    async def main() -> tuple[str, bool]:
        w = WindowedOutput(check, StreamRestorer({}), window=4, holdback=8)
        sent = []
        try:
            for piece in ["hello ", "world ", "SEC", "RET", " more"]:
                sent.append(await w.feed(piece))
            sent.append(await w.finish())
        except StreamBlocked:
            return "".join(sent), True
        return "".join(sent), False

    sent, blocked = asyncio.run(main())
    assert blocked and "SEC" not in sent


def test_windowed_output_fails_closed_when_released_text_changes() -> None:
    async def check(t: str) -> ChainResult:  # a guard that rewrites the start once it sees more
        return ChainResult(allowed=True, text=("X" + t[1:]) if len(t) > 30 else t)

    async def main() -> None:
        w = WindowedOutput(check, StreamRestorer({}), window=4, holdback=2)
        for _ in range(20):
            await w.feed("abcd")

    with pytest.raises(StreamBlocked, match="released_text_changed"):
        asyncio.run(main())
