"""Streaming (chunk boundaries, line numbers) and the column classifier (formats, malformed input)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data import detect
from bastion.data.detect import detect_stream, scan_text_file
from bastion.data.tables import TableError, classify_table

EMAIL = "someone.known@corp.example.io"


@settings(max_examples=60, deadline=None)
@given(pad=st.integers(min_value=0, max_value=300), chunk=st.integers(min_value=40, max_value=120))
def test_no_entity_lost_or_doubled_at_chunk_boundaries(pad: int, chunk: int) -> None:
    text = ("x" * pad + f" mail {EMAIL} ") * 6
    whole = [(e.entity_type, e.start, e.end) for e in detect(text, names=False)]
    streamed = [
        (loc.entity.entity_type, loc.entity.start, loc.entity.end)
        for loc in detect_stream(io.StringIO(text), chunk_chars=chunk, overlap=64, names=False)
    ]
    assert streamed == whole
    assert sum(1 for t in whole if t[0] == "EMAIL_ADDRESS") == 6


def test_stream_line_and_column_numbers() -> None:
    text = "line one\nsecond line\n  ssn 536-22-1390 here\n"
    locs = list(detect_stream(io.StringIO(text), chunk_chars=8, overlap=32))
    ssn = next(loc for loc in locs if loc.entity.entity_type == "US_SSN")
    assert (ssn.line, ssn.column) == (3, 7)


def test_scan_text_file_warns_on_invalid_utf8_and_nul() -> None:
    res = scan_text_file(io.BytesIO(b"\xff\xfe ok \x00 a@b.io\n" + b"\xc3" + b"x" * 10))
    assert res.located and res.located[0].entity.entity_type == "EMAIL_ADDRESS"
    assert any("invalid UTF-8" in w for w in res.warnings)
    assert any("NUL" in w for w in res.warnings)


def test_megabyte_line_is_fine() -> None:
    data = (b"y" * (3 << 20)) + b" reach me at ann@corp.io\n"
    res = scan_text_file(io.BytesIO(data))
    assert [loc.entity.entity_type for loc in res.located] == ["EMAIL_ADDRESS"]
    assert res.located[0].line == 1


def _rows(n: int) -> list[dict[str, str]]:
    return [{"id": str(i), "email": f"user{i}@corp.io", "ssn": "536-22-1390" if i % 2 else "",
             "note": "hello world"} for i in range(n)]  # fmt: skip


def test_csv_columns(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id,email,ssn,note\n" + "\n".join(",".join(r.values()) for r in _rows(50)) + "\n")
    rep = classify_table(p)
    cols = rep.columns
    assert cols["email"].classified() == ["EMAIL_ADDRESS"] and cols["email"].share("EMAIL_ADDRESS") == 1.0
    assert cols["ssn"].classified() == ["US_SSN"] and cols["ssn"].share("US_SSN") == 1.0  # of non-empty rows
    assert cols["note"].classified() == [] and cols["id"].classified() == []
    assert "EMAIL_ADDRESS" in cols["email"].hints
    assert all("@" not in ex[:-6] for ex in cols["email"].types["EMAIL_ADDRESS"].examples)
    assert rep.complete and rep.rows == 50


def test_sampling_and_full_scan(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id,email,ssn,note\n" + "\n".join(",".join(r.values()) for r in _rows(3000)) + "\n")
    sampled = classify_table(p, sample_rows=100)
    assert sampled.rows == 100 and not sampled.complete
    full = classify_table(p, full=True, batch_rows=512)
    assert full.rows == 3000 and full.complete
    assert full.columns["email"].types["EMAIL_ADDRESS"].rows == 3000


def test_jsonl_and_parquet(tmp_path: Path) -> None:
    rows = _rows(20)
    j = tmp_path / "t.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n[1,2]\n")
    rep = classify_table(j)
    assert rep.columns["email"].classified() == ["EMAIL_ADDRESS"]
    assert rep.bad_rows == 2 and len(rep.warnings) == 2
    q = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), q)
    rep = classify_table(q)
    assert rep.columns["ssn"].classified() == ["US_SSN"]


def test_malformed_tables(tmp_path: Path) -> None:
    bad_pq = tmp_path / "x.parquet"
    bad_pq.write_bytes(b"PAR1" + b"\x00garbage" * 10)
    with pytest.raises(TableError):
        classify_table(bad_pq)
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,x@y.io\n1,2,3,4\n2,z@y.io\n")
    rep = classify_table(ragged)
    assert rep.bad_rows == 1 and rep.columns["b"].types["EMAIL_ADDRESS"].rows == 2
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 100)
    try:
        rep = classify_table(binary)
    except TableError:
        return
    assert rep.warnings or rep.rows >= 0
    with pytest.raises(TableError):
        classify_table(tmp_path / "t.txt")
