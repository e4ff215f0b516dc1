"""Dataset manifests: provenance, per-chunk location of changes, upstream verification."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data.manifest import Provenance, line_chunks, parquet_chunks, sign_dataset, verify_dataset
from bastion.model.sign import sign_model

from ._support import run_upstream
from .conftest import KeyPair

PROVENANCE: dict[str, Any] = {
    "source": "core-banking export 2026-10",
    "license": "LicenseRef-internal",
    "collected": "2026-10-01",
    "collector": "data-engineering",
    "transformations": ["protected by policy pii-tokenize", "deduplicated"],
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "transactions"
    root.mkdir()
    table = pa.table({"id": list(range(1000)), "amount": [float(i) for i in range(1000)]})
    pq.write_table(table, root / "tx.parquet", row_group_size=250)
    (root / "labels.csv").write_text("id,label\n" + "".join(f"{i},{i % 2}\n" for i in range(95)))
    (root / "README").write_text("transactions\n")
    return root


def test_sign_and_verify_dataset(dataset: Path, ed_key: KeyPair) -> None:
    sign_dataset(dataset, private_key=ed_key.private, provenance=PROVENANCE, chunk_rows=10)
    result = verify_dataset(dataset, public_key=ed_key.public)
    assert result.ok, result.verify.problems
    assert result.provenance is not None
    assert result.provenance["transformations"] == PROVENANCE["transformations"]
    assert result.to_dict()["changed_rows"] == []


def test_changed_rows_are_located(dataset: Path, ec_key: KeyPair) -> None:
    sign_dataset(dataset, private_key=ec_key.private, provenance=PROVENANCE, chunk_rows=10)
    data = pq.read_table(dataset / "tx.parquet").to_pydict()
    data["amount"][600] = -1.0
    pq.write_table(pa.table(data), dataset / "tx.parquet", row_group_size=250)
    lines = (dataset / "labels.csv").read_text().splitlines(keepends=True)
    lines[33] = "32,1\n"
    (dataset / "labels.csv").write_text("".join(lines))
    result = verify_dataset(dataset, public_key=ec_key.public)
    assert not result.ok
    changed = sorted((c.path, c.unit, c.rows) for c in result.changed)
    assert changed == [("labels.csv", "lines", (30, 40)), ("tx.parquet", "rows", (500, 750))]
    messages = [p.message for p in result.verify.problems if p.rule_id == "supply.data.modified"]
    assert "tx.parquet: rows 500-749 changed" in messages


def test_appended_lines_are_located(dataset: Path, ec_key: KeyPair) -> None:
    sign_dataset(dataset, private_key=ec_key.private, provenance=PROVENANCE, chunk_rows=50)
    with (dataset / "labels.csv").open("a") as fh:
        fh.write("999,1\n" * 60)
    result = verify_dataset(dataset, public_key=ec_key.public)
    # 96 signed lines in blocks of 50: the second block grew, and new blocks follow it.
    assert [(c.path, c.rows) for c in result.changed] == [("labels.csv", (50, 96)), ("labels.csv", (100, 156))]


def test_upstream_cli_verifies_dataset_files(dataset: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    sig = tmp_path / "ds.sig"
    sign_dataset(dataset, sig, private_key=ec_key.private, provenance=PROVENANCE)
    proc = run_upstream("verify", "key", dataset, "--signature", sig, "--public_key", ec_key.public)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_plain_model_signature_lacks_provenance(dataset: Path, ec_key: KeyPair) -> None:
    sign_model(dataset, private_key=ec_key.private)
    result = verify_dataset(dataset, public_key=ec_key.public)
    assert [p.rule_id for p in result.verify.problems] == ["supply.data.provenance-missing"]
    assert verify_dataset(dataset, public_key=ec_key.public, require_provenance=False).ok


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [("collected", "yesterday", "ISO date"), ("source", "", "source"), ("colour", "x", "colour")],
)
def test_bad_provenance_is_refused(dataset: Path, ec_key: KeyPair, field: str, value: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        sign_dataset(dataset, private_key=ec_key.private, provenance={**PROVENANCE, field: value})


def test_damaged_parquet_still_signed_by_file_digest(dataset: Path, ec_key: KeyPair) -> None:
    (dataset / "broken.parquet").write_bytes(b"PAR1" + b"\x00" * 50 + b"PAR1")
    sign_dataset(dataset, private_key=ec_key.private, provenance=PROVENANCE)
    (dataset / "broken.parquet").write_bytes(b"PAR1" + b"\x01" * 50 + b"PAR1")
    result = verify_dataset(dataset, public_key=ec_key.public)
    assert [p.path for p in result.verify.problems] == ["broken.parquet"]


def test_parquet_chunks_cover_every_row(dataset: Path) -> None:
    chunks = parquet_chunks(dataset / "tx.parquet")
    assert [c.rows for c in chunks] == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    assert all(c.bytes[0] < c.bytes[1] for c in chunks)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=60), per=st.integers(1, 9))
def test_line_chunks_partition_the_file(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], per: int) -> None:
    path = tmp_path_factory.mktemp("lc") / "f.csv"
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(data)
    chunks = line_chunks(path, per)
    assert chunks[0].bytes[0] == 0 and chunks[-1].bytes[1] == len(data)
    assert chunks[-1].rows[1] == len(lines)
    for a, b in itertools.pairwise(chunks):
        assert a.bytes[1] == b.bytes[0] and a.rows[1] == b.rows[0]
        assert a.rows[1] - a.rows[0] == per


def test_provenance_model_round_trip() -> None:
    p = Provenance(**PROVENANCE)
    assert Provenance(**p.model_dump()) == p
