"""The column-vectorised table scan against the per-cell path: same rows, same types, same scores."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.data import Detector
from bastion.data.tables import classify_table

DET = Detector()

FRAGMENTS = [
    "ann.lee@corp.io", "call 415-555-0132", "4539 1488 0343 6467", "ssn 536-22-1390", "536-22-1390",
    "Dr. Maria Gonzalez", "Maria", "Berlin", "moved to Lisbon", "example", "dummy key", "4539 1488",
    "0343 6467", "Grüße aus Köln", "🎉", "  padded@corp.io  ", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "order 42", "", " ", "x", "DE89 3704 0044 0532 0130 00", "http://example.org/a?b=1).", "10.0.0.1",
    "phone", "Mr", "Smith", "tel:", "@", "-", ".",
]  # fmt: skip


def _per_cell(rows: list[list[str]], header: list[str], names: bool = True) -> dict[str, dict[str, tuple[int, float]]]:
    out: dict[str, dict[str, tuple[int, float]]] = {}
    for j, name in enumerate(header):
        stats: dict[str, tuple[int, float]] = {}
        for r in rows:
            cell = r[j].strip()
            if not cell:
                continue
            best: dict[str, float] = {}
            for e in DET.detect(cell, names=names):
                best[e.entity_type] = max(best.get(e.entity_type, 0.0), e.score)
            for t, sc in best.items():
                n, mx = stats.get(t, (0, 0.0))
                stats[t] = (n + 1, max(mx, sc))
        out[name] = stats
    return out


def _full(path: Path, **kw: object) -> dict[str, dict[str, tuple[int, float]]]:
    rep = classify_table(path, detector=DET, full=True, names=True, **kw)  # type: ignore[arg-type]
    return {c.name: {t: (s.rows, s.max_score) for t, s in c.types.items()} for c in rep.columns.values()}


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.lists(st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=3).map(" ".join), min_size=3, max_size=3),
        min_size=1,
        max_size=40,
    )
)
def test_full_scan_matches_per_cell_detection(tmp_path: Path, cells: list[list[str]]) -> None:
    header = ["a", "b", "c"]
    p = tmp_path / "h.csv"
    _write_csv(p, header, cells)
    assert _full(p) == _per_cell(cells, header)


def test_full_scan_equivalence_on_repetitive_columns_and_unicode(tmp_path: Path) -> None:
    # >= 64 cells with few distinct values takes the de-duplicated path; non-ASCII takes the char-offset path
    rows = [
        [FRAGMENTS[i % 7], f"user{i}@corp.io" if i % 3 else "", f"Grüße {FRAGMENTS[i % 11]} 🎉"] for i in range(300)
    ]
    header = ["rep", "email", "uni"]
    p = tmp_path / "r.csv"
    _write_csv(p, header, rows)
    assert _full(p, batch_rows=128) == _per_cell(rows, header)
    rep = classify_table(p, detector=DET, full=True)
    assert rep.columns["email"].types["EMAIL_ADDRESS"].rows == 200


def test_distinct_value_memo_across_batches_matches_per_cell(tmp_path: Path) -> None:
    # JSONL honours batch_rows: later batches are answered from the per-column memo of distinct values
    rows = [[FRAGMENTS[(i * 7) % len(FRAGMENTS)], FRAGMENTS[i % 5] + " " + FRAGMENTS[i % 13]] for i in range(1000)]
    p = tmp_path / "m.jsonl"
    p.write_text("".join(json.dumps({"a": a, "b": b}) + "\n" for a, b in rows))
    assert _full(p, batch_rows=100) == _per_cell(rows, ["a", "b"])


def test_context_does_not_leak_between_cells(tmp_path: Path) -> None:
    # "ssn" in the previous cell must not raise the next cell's score (it would in one joined text)
    rows = [["my ssn"], ["536-22-1390"]] * 3
    p = tmp_path / "c.csv"
    _write_csv(p, ["v"], rows)
    assert _full(p) == _per_cell(rows, ["v"])


def test_values_split_across_cells_are_not_joined(tmp_path: Path) -> None:
    rows = [["4539 1488", "x"], ["0343 6467", "y"], ["ann.lee@", "z"], ["corp.io", "w"]]
    p = tmp_path / "s.csv"
    _write_csv(p, ["v", "w"], rows)
    rep = classify_table(p, detector=DET, full=True)
    assert rep.columns["v"].types == {}


def test_names_layer_only_where_the_sample_suggests_names(tmp_path: Path) -> None:
    rows = [{"id": f"id{i}", "customer": "Maria Gonzalez", "note": "Maria Gonzalez" if i == 150 else "order"}
            for i in range(200)]  # fmt: skip
    p = tmp_path / "n.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = classify_table(p, detector=DET, full=True, sample_rows=100, batch_rows=50)
    assert rep.columns["customer"].names_layer is True and rep.columns["customer"].share("PERSON") == 1.0
    # the note column had no names in its first 100 rows: the names layer stopped there, by design
    assert rep.columns["note"].names_layer is False and "PERSON" not in rep.columns["note"].types
    forced = classify_table(p, detector=DET, full=True, sample_rows=100, batch_rows=50, names=True)
    assert forced.columns["note"].types["PERSON"].rows == 1


def test_names_layer_flag_is_false_when_names_are_off(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    _write_csv(p, ["customer"], [["Maria Gonzalez"]] * 5)
    for rep in (classify_table(p, detector=Detector(names=False)), classify_table(p, detector=DET, names=False)):
        assert rep.to_dict()["columns"][0]["names_layer"] is False and "PERSON" not in rep.columns["customer"].types


def test_estimate_stops_early_on_stable_columns(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("email\n" + "".join(f"u{i}@corp.io\n" for i in range(200_000)))
    rep = classify_table(p, detector=DET, full=True, estimate=True, tolerance=0.01)
    assert rep.estimated and not rep.complete and rep.rows < 200_000
    assert rep.columns["email"].estimated and rep.columns["email"].share("EMAIL_ADDRESS") == 1.0
    whole = classify_table(p, detector=DET, full=True)
    assert whole.complete and whole.rows == 200_000 and not whole.estimated


def test_parquet_numbers_nested_and_nulls(tmp_path: Path) -> None:
    t = pa.table({"n": [1, None, 3], "nested": [{"mail": "a@corp.io"}, None, {"mail": "b@corp.io"}],
                  "s": ["536-22-1390", None, "  "]})  # fmt: skip
    q = tmp_path / "t.parquet"
    pq.write_table(t, q)
    rep = classify_table(q, detector=DET, full=True)
    assert rep.columns["nested"].types["EMAIL_ADDRESS"].rows == 2
    assert rep.columns["s"].non_empty == 1 and rep.columns["s"].rows == 3
    assert rep.columns["n"].types == {}
