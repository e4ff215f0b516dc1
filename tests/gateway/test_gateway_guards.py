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


class Thresholded(Fixed):
    """A guard that decides with its own `threshold` option, like the injection guard."""

    OPTIONS = frozenset({"threshold", "other"})

    def __init__(self, threshold: float = 0.5, **options: Any) -> None:
        super().__init__("t")
        self.threshold, self.options = threshold, options

    def with_options(self, **options: Any) -> Thresholded:
        unknown = set(options) - self.OPTIONS
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))}")
        return Thresholded(**options)

    def check(self, item: GuardInput) -> GuardVerdict:
        score = 0.8
        return GuardVerdict(allowed=score < self.threshold, score=score)


def test_documented_threshold_key_reaches_the_guard() -> None:
    lenient = _chain({"t": Thresholded()}, [{"name": "t", "threshold": 0.9}])
    assert lenient.links[0].guard.threshold == 0.9  # type: ignore[attr-defined]
    assert _run(lenient).allowed  # 0.8 < 0.9: the guard allows it and the chain does not second-guess
    strict = _chain({"t": Thresholded()}, [{"name": "t", "threshold": 0.7}])
    assert not _run(strict).allowed
    # options.threshold alone works the same way (and is not overridden by the chain's 0.5)
    assert _run(_chain({"t": Thresholded()}, [{"name": "t", "options": {"threshold": 0.9}}])).allowed
    assert lenient.describe()[0]["threshold"] == 0.9


def test_threshold_key_still_applies_to_guards_without_the_option() -> None:
    scored = GuardVerdict(allowed=True, score=0.6)
    assert not _run(_chain({"g": Fixed("g", scored)}, [{"name": "g"}])).allowed  # default 0.5
    assert _run(_chain({"g": Fixed("g", scored)}, [{"name": "g", "threshold": 0.7}])).allowed


@pytest.mark.parametrize(
    "link",
    [
        {"name": "t", "options": {"thresold": 0.9}},  # a typo in an option
        {"name": "t", "threshold": 0.9, "options": {"threshold": 0.5}},  # two thresholds that disagree
        {"name": "pii", "options": {"entitys": ["EMAIL_ADDRESS"]}},  # the built-in used to ignore unknown options
    ],
)
def test_unknown_or_conflicting_guard_options_stop_the_gateway(link: dict[str, Any]) -> None:
    with pytest.raises(GuardConfigError):
        _chain({"t": Thresholded()}, [link])


def test_unknown_guard_link_keys_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        GuardConfig.model_validate({"name": "injection", "treshold": 0.9})


def test_real_injection_guard_takes_the_threshold_key() -> None:
    from bastion.core.plugins import GUARDS, plugins

    if "injection" not in plugins(GUARDS):
        pytest.skip("the injection guard is not installed")
    chain = GuardChain(
        [GuardConfig(name="injection", threshold=0.97, options={"encoder": False})], budget_ms=500, executor=POOL
    )
    guard: Any = chain.links[0].guard
    assert guard.threshold == 0.97 and chain.links[0].threshold is None


def test_guard_starved_by_queueing_is_overload_not_a_silent_pass() -> None:
    """A fail-open guard whose time ran out waiting for a thread must not pass the text unchecked."""
    pool = ThreadPoolExecutor(1)
    blocker = Fixed("slow", delay=0.6)
    try:
        with mock.patch.object(chain_mod, "plugins", return_value={"slow": blocker, "g": Fixed("g")}):
            busy = GuardChain([GuardConfig(name="slow", timeout_ms=5000)], budget_ms=5000, executor=pool)
            starved = GuardChain(
                [GuardConfig(name="g", on_error="open", timeout_ms=100)], budget_ms=5000, executor=pool
            )

        async def both() -> Any:
            first = asyncio.ensure_future(busy.run(GuardInput(direction="input", text="x")))
            await asyncio.sleep(0.05)  # the only thread is now busy
            res = await starved.run(GuardInput(direction="input", text="y"))
            await first
            return res

        res = asyncio.run(both())
    finally:
        pool.shutdown(wait=True)
    assert not res.allowed and res.overloaded and res.outcomes[0].error == "overloaded"


@pytest.mark.parametrize(("busy", "overloaded"), [(True, True), (False, False)])
def test_guard_starved_while_the_gateway_is_saturated_is_overload(busy: bool, overloaded: bool) -> None:
    """A started guard that timed out having used little CPU: starved (503) under pressure, its own failure else."""
    with mock.patch.object(chain_mod, "plugins", return_value={"g": Fixed("g", delay=0.3)}):
        chain = GuardChain(
            [GuardConfig(name="g", on_error="open", timeout_ms=50)],
            budget_ms=5000,
            executor=POOL,
            pressure=lambda: busy,
        )
    res = _run(chain)
    assert res.overloaded is overloaded and res.allowed is not overloaded
    assert res.outcomes[0].error == ("overloaded" if overloaded else "timeout")
