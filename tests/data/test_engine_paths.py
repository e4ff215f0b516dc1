"""The engine's fast paths agree with the straightforward ones they replace."""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data import Detector, catalog, detect
from bastion.data._detect.engine import Engine, _span_scanner

PIECES = ["ann@corp.io", " ", "\n", "4539 1488 0343 6467", "ssn 536-22-1390", "ghp_" + "a1B2" * 9, "é", "🎉",
          "password = hunter2hunter2X", "+44 20 7946 0958", "(415) 555-0132", "x", "AKIA" + "ABCDEFGHIJKLMNOP",
          "10.0.0.1", "DE89 3704 0044 0532 0130 00", "example"]  # fmt: skip


COMPILED = [(p.name, re2.compile(p.full_regex.encode())) for p in catalog()]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_direct_re2_spans_equal_finditer(text: str) -> None:
    data = text.encode()
    for name, rx in COMPILED:
        grouped = rx.groups > 0
        expected = [m.span(1) if grouped else m.span() for m in rx.finditer(data)]
        assert _span_scanner(rx, grouped)(data) == expected, name


def test_empty_matches_advance() -> None:
    rx = re2.compile(b"a*")
    assert _span_scanner(rx, False)(b"baab") == [m.span() for m in rx.finditer(b"baab")]


def test_many_hits_in_non_ascii_text_keep_character_offsets() -> None:
    # > 64 hits switch the byte->char mapping to a vectorised table
    text = " ".join(f"Grüße 🎉 aus Köln user{i}@corp.io" for i in range(300))
    ents = [e for e in detect(text, names=False) if e.entity_type == "EMAIL_ADDRESS"]
    assert [text[e.start : e.end] for e in ents] == [f"user{i}@corp.io" for i in range(300)]


def test_patterns_that_cannot_reach_the_threshold_are_skipped_consistently() -> None:
    det = Detector(names=False)
    text = "call 415-555-0132 or ssn 536-22-1390 and card 4539 1488 0343 6467"
    low = det.detect(text, min_score=0.0)
    high = det.detect(text, min_score=0.9)
    assert {e.entity_type for e in high} <= {e.entity_type for e in low}
    assert all(e.score >= 0.9 for e in high)
    eng = Engine(det.engine.patterns, backend="python")
    assert {(e.entity_type, e.start, e.end) for e in eng.find(text, min_score=0.5)} == {
        (e.entity_type, e.start, e.end) for e in det.engine.find(text, min_score=0.5)
    }
