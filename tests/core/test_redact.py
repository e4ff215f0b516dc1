"""Masking is the last line between a raw value and a report: check it as a property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bastion.core.redact import describe_secret, mask


@given(st.text(st.characters(blacklist_characters="*"), max_size=200), st.integers(0, 8), st.integers(0, 8))
def test_mask_never_reveals_more_than_half_or_short_values(value: str, keep_start: int, keep_end: int) -> None:
    masked = mask(value, keep_start=keep_start, keep_end=keep_end)
    shown = masked.replace("*", "")
    # What is shown is a prefix plus a suffix of the value, at most half of it.
    assert len(shown) <= len(value) // 2
    if len(value) <= 8:
        assert len(shown) == 0 or len(value) - len(shown) >= 4
    assert len(masked) <= len(shown) + 12


def test_examples() -> None:
    assert mask("123-45-6789") == "*******6789"
    assert mask("abcd") == "****"
    assert mask("") == ""
    key = "sk-proj-" + "x" * 48 + "R0Cs"
    assert mask(key) == "*" * 12 + "R0Cs"
    assert "x" not in describe_secret(key, "OPENAI_API_KEY")
    assert describe_secret(key, "OPENAI_API_KEY").startswith("OPENAI_API_KEY (60 chars): ")
