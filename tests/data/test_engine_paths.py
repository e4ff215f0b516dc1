"""The engine's fast paths agree with the straightforward ones they replace."""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data import Detector, catalog, detect
from bastion.data._detect import engine as engine_mod
from bastion.data._detect.engine import Engine, _Anchors, _span_scanner, anchor_of

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


ANCHORED = [(p, a) for p in catalog() if (a := anchor_of(p)) is not None]
DIGITY = ["0", "12", "123", "1234", "4539 1488 0343 6467", "415-555-0132", "(415) 555-0132 x12", "536-22-1390",
          "@", "a@b.co", "ann.lee@corp.example.io", "é", "🎉", " ", "-", ".", "\n", "x", "000000000000000000",
          "+44 20 7946 0958", "01 30 69 74 34", "DE89370400440532013000", "user@", "@host.io"]  # fmt: skip


def test_anchors_cover_the_patterns_that_matter() -> None:
    names = {p.name for p, _a in ANCHORED}
    assert {"email", "phone_nanp", "phone_national", "ca_sin", "us_ssn"} <= names


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(DIGITY), max_size=60).map("".join))
def test_anchor_windows_find_exactly_what_a_whole_pass_finds(text: str) -> None:
    data = text.encode()
    anchors = _Anchors(data)
    for p, anchor in ANCHORED:
        rx = re2.compile(p.full_regex.encode())
        scan = _span_scanner(rx, rx.groups > 0)
        assert scan(data, anchors.windows(anchor, force=True)) == scan(data), p.name


def test_large_input_uses_windows_and_agrees(monkeypatch: object) -> None:
    text = ("Lorem ipsum dolor sit amet. " * 40 + "Call (415) 555-0132 or mail ann.lee@corp.io, ssn 536-22-1390. ") * 60
    assert len(text) >= engine_mod.ANCHOR_MIN_INPUT
    det = Detector(names=False, backend="re2")
    windowed = [(e.entity_type, e.start, e.end, e.score) for e in det.detect(text)]
    monkeypatch.setattr(engine_mod, "ANCHOR_MIN_INPUT", 1 << 62)  # type: ignore[attr-defined]
    whole = [(e.entity_type, e.start, e.end, e.score) for e in det.detect(text)]
    assert windowed == whole and len(whole) >= 180


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


def test_pattern_set_is_the_same_in_every_process() -> None:
    """The compiled-database cache is keyed by the patterns: a set-ordered pattern missed it in every new
    process (4 s of Hyperscan compile per CLI command and scan worker) and grew the cache without end."""
    import os
    import subprocess
    import sys

    code = "from bastion.data import catalog\nprint('\\n'.join(p.full_regex for p in catalog()))\n"
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        outs.add(run.stdout)
    assert len(outs) == 1 and outs.pop().count("\n") > 100


def test_hyperscan_cache_keeps_only_the_newest_entries(tmp_path: object, monkeypatch: object) -> None:
    import os
    from pathlib import Path

    import pytest

    pytest.importorskip("hyperscan")
    root = Path(str(tmp_path))
    monkeypatch.setenv("BASTION_CACHE_DIR", str(root))  # type: ignore[attr-defined]
    for i in range(12):
        old = root / f"hs-{i:032d}.db"
        old.write_bytes(b"x")
        os.utime(old, (1000 + i, 1000 + i))
    engine_mod._HyperscanPrefilter(list(catalog())[:3])
    left = sorted(p.name for p in root.glob("hs-*.db"))
    assert len(left) == engine_mod._CACHE_KEEP and f"hs-{0:032d}.db" not in left
