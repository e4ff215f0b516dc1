"""The guard chain: actions, fail-open/closed, time budgets, and reversible PII redaction."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.gateway import GuardChain, GuardConfig, GuardConfigError, PIIGuard, StreamRestorer, restore
from bastion.gateway._guards import chain as chain_mod

POOL = ThreadPoolExecutor(4)


class Fixed:
    def __init__(self, name: str, verdict: GuardVerdict | None = None, delay: float = 0.0, boom: bool = False):
        self.name, self.verdict, self.delay, self.boom = name, verdict, delay, boom
        self.directions = frozenset({"input", "output"})
        self.calls = 0

    def check(self, item: GuardInput) -> GuardVerdict:
        self.calls += 1
        if item.text == "warm up":
            return GuardVerdict(allowed=True)
        if self.delay:
            time.sleep(self.delay)
        if self.boom:
            raise RuntimeError("broken guard")
        return self.verdict or GuardVerdict(allowed=True)


def _chain(guards: dict[str, Any], configs: list[dict[str, Any]], budget_ms: float = 500) -> GuardChain:
    with mock.patch.object(chain_mod, "plugins", return_value=guards):
        return GuardChain([GuardConfig(**c) for c in configs], budget_ms=budget_ms, executor=POOL)


def _run(chain: GuardChain, text: str = "hello", direction: str = "input") -> Any:
    return asyncio.run(chain.run(GuardInput(direction=direction, text=text), {}))


BAD = GuardVerdict(allowed=False, score=0.9, text="sanitised", reasons=["injection"])


@pytest.mark.parametrize(
    ("action", "allowed", "text", "effect"),
    [
        ("block", False, "hello", "block"),
        ("redact", True, "sanitised", "redact"),
        ("flag", True, "hello", "flag"),
        ("shadow", True, "hello", "shadow"),
    ],
)
def test_actions(action: str, allowed: bool, text: str, effect: str) -> None:
    res = _run(_chain({"g": Fixed("g", BAD)}, [{"name": "g", "action": action}]))
    assert res.allowed is allowed and res.text == text and res.outcomes[0].effect == effect


def test_order_and_stop_at_first_block() -> None:
    first, second = Fixed("a", BAD), Fixed("b")
    res = _run(_chain({"a": first, "b": second}, [{"name": "a"}, {"name": "b"}]))
    assert not res.allowed and res.blocked_by == "a" and second.calls == 1  # only its warm-up


@pytest.mark.parametrize(("on_error", "allowed"), [("closed", False), ("open", True)])
def test_errors_and_timeouts_follow_on_error(on_error: str, allowed: bool) -> None:
    for guard in (Fixed("g", boom=True), Fixed("g", delay=0.3)):
        res = _run(_chain({"g": guard}, [{"name": "g", "on_error": on_error, "timeout_ms": 50}]))
        assert res.allowed is allowed
        assert res.outcomes[0].error in ("timeout", "RuntimeError")


def test_chain_budget_is_shared() -> None:
    slow1, slow2 = Fixed("a", delay=0.15), Fixed("b", delay=0.15)
    res = _run(
        _chain(
            {"a": slow1, "b": slow2},
            [{"name": "a", "timeout_ms": 1000}, {"name": "b", "timeout_ms": 1000}],
            budget_ms=200,
        )
    )
    assert not res.allowed and res.outcomes[-1].error == "timeout"


def test_unknown_guard_is_a_config_error() -> None:
    with pytest.raises(GuardConfigError):
        _chain({}, [{"name": "nope"}])


def test_redact_without_sanitised_text_fails_closed() -> None:
    res = _run(_chain({"g": Fixed("g", GuardVerdict(allowed=False, score=1))}, [{"name": "g", "action": "redact"}]))
    assert not res.allowed


def test_pii_guard_consistent_placeholders_and_restore() -> None:
    g = PIIGuard()
    text = "mail a.b@example.org, again a.b@example.org, and c.d@example.net"
    v = g.check(GuardInput(direction="input", text=text))
    assert v.text is not None and "example" not in v.text
    assert v.text.count("[REDACTED_EMAIL_ADDRESS_1]") == 2 and "[REDACTED_EMAIL_ADDRESS_2]" in v.text
    assert restore(v.text, v.details["restore"]) == text
    # the numbering continues across messages of one request
    v2 = g.check(
        GuardInput(direction="input", text="and e.f@example.com", metadata={"pii_vault": v.details["restore"]})
    )
    assert "[REDACTED_EMAIL_ADDRESS_3]" in (v2.text or "")


@settings(max_examples=150, deadline=None)
@given(
    before=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    after=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=40),
)
def test_stream_restorer_equals_batch_restore(before: str, after: str, cuts: list[int]) -> None:
    mapping = {"[REDACTED_EMAIL_ADDRESS_1]": "jane@example.org", "[REDACTED_PHONE_NUMBER_12]": "+44 20 7946 0958"}
    text = f"{before}[REDACTED_EMAIL_ADDRESS_1]{after}[REDACTED_PHONE_NUMBER_12][REDACTED_X_9]["
    r = StreamRestorer(mapping)
    out, pos, i = [], 0, 0
    while pos < len(text):
        step = cuts[i % len(cuts)]
        out.append(r.feed(text[pos : pos + step]))
        pos += step
        i += 1
    out.append(r.flush())
    assert "".join(out) == restore(text, mapping)
