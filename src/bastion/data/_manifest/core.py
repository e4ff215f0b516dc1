"""Signed dataset manifests: per-file and per-chunk digests plus provenance.

The manifest is a model-signing v1.0 statement over the dataset folder (so the
upstream `model_signing` CLI verifies the files too) with one extra predicate
field, ``bastion_dataset``, carrying provenance and chunk digests: Parquet row
groups (their exact byte ranges, from the footer) and CSV/JSONL line blocks. When a
file changes, re-hashing its chunks says which rows changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bastion.core.hashing import hash_range
from bastion.model._sign import rules as R
from bastion.model._sign.core import _ignores, default_signature_path, sign_model, verify_model
from bastion.model._sign.hashing import HashSpec, collect_files
from bastion.model._sign.model import SignResult, VerifyResult

EXTENSION = "bastion_dataset"
SCHEMA = "bastion.dataset-manifest/v1"
DEFAULT_CHUNK_ROWS = 100_000
_LINE_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".txt")
MAX_CHUNKS_PER_FILE = 100_000


class Provenance(BaseModel):
    """Where the data came from and what was done to it; required before training."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=1024)
    license: str = Field(min_length=1, max_length=256)
    collected: str = Field(min_length=1, max_length=64, description="ISO date of collection")
    collector: str = Field(min_length=1, max_length=256)
    transformations: list[str] = Field(default_factory=list, max_length=256)
    description: str = Field(default="", max_length=4096)

    @field_validator("collected")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError("collected must be an ISO date (YYYY-MM-DD)") from None
        return value


@dataclass(frozen=True, slots=True)
class Chunk:
    rows: tuple[int, int]  # [first, last) row (Parquet) or line (text) numbers
    bytes: tuple[int, int]  # [start, end) byte range hashed
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "bytes": list(self.bytes), "sha256": self.digest}


@dataclass(slots=True)
class ChangedRows:
    path: str
    rows: tuple[int, int]
    unit: str  # "rows" (Parquet row group) or "lines"

    def message(self) -> str:
        return f"{self.path}: {self.unit} {self.rows[0]}-{self.rows[1] - 1} changed"


@dataclass(slots=True)
class DatasetVerifyResult:
    verify: VerifyResult
    provenance: dict[str, Any] | None = None
    changed: list[ChangedRows] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verify.ok

    def to_dict(self) -> dict[str, Any]:
        data = self.verify.to_dict()
        data["provenance"] = self.provenance
        data["changed_rows"] = [{"path": c.path, "unit": c.unit, "rows": list(c.rows)} for c in self.changed]
        return data


def _hash_range(path: Path, start: int, end: int) -> str:
    return hash_range(path, start, end).hex()


def _is_parquet(path: Path, size: int) -> bool:
    if size < 12:
        return False
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(size - 4)
        tail = fh.read(4)
    return head == b"PAR1" and tail == b"PAR1"


def parquet_chunks(path: Path) -> list[Chunk]:
    """One chunk per row group: the byte span of its column chunks, read from the footer only."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    chunks: list[Chunk] = []
    row = 0
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        starts, ends = [], []
        for c in range(rg.num_columns):
            col = rg.column(c)
            first = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset is not None and col.dictionary_page_offset > 0:
                first = min(first, col.dictionary_page_offset)
            starts.append(first)
            ends.append(first + col.total_compressed_size)
        start, end = (min(starts), max(ends)) if starts else (4, 4)
        chunks.append(Chunk((row, row + rg.num_rows), (start, end), _hash_range(path, start, end)))
        row += rg.num_rows
    return chunks


def line_chunks(path: Path, rows_per_chunk: int) -> list[Chunk]:
    """Blocks of `rows_per_chunk` lines (line 0 is a CSV header), hashed as they are read."""
    chunks: list[Chunk] = []
    h = hashlib.sha256()
    start = pos = 0
    first = line = 0
    with path.open("rb") as fh:
        for raw in fh:
            h.update(raw)
            pos += len(raw)
            line += 1
            if line - first >= rows_per_chunk:
                chunks.append(Chunk((first, line), (start, pos), h.hexdigest()))
                if len(chunks) > MAX_CHUNKS_PER_FILE:
                    raise ValueError(f"{path.name}: more than {MAX_CHUNKS_PER_FILE} chunks; raise chunk_rows")
                h, start, first = hashlib.sha256(), pos, line
    if line > first or not chunks:
        chunks.append(Chunk((first, line), (start, pos), h.hexdigest()))
    return chunks


def file_chunks(path: Path, size: int, rows_per_chunk: int) -> tuple[str, list[Chunk]] | None:
    if _is_parquet(path, size):
        try:
            return "rows", parquet_chunks(path)
        except Exception:  # a damaged footer: the file digest still covers it
            return None
    if path.suffix.lower() in _LINE_FORMATS:
        return "lines", line_chunks(path, rows_per_chunk)
    return None


def sign_dataset(
    root: str | Path,
    signature: str | Path | None = None,
    *,
    provenance: Provenance | dict[str, Any],
    private_key: Any = None,
    password: str | None = None,
    pkcs11_uri: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ignore_paths: Sequence[str | Path] = (),
    workers: int | None = None,
) -> SignResult:
    """Sign a dataset file or folder with provenance and chunk digests."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    prov = provenance if isinstance(provenance, Provenance) else _provenance(provenance)
    path = Path(root)
    sig = Path(signature) if signature is not None else default_signature_path(path)
    spec = HashSpec(ignore_paths=tuple(_ignores(path, sig, ignore_paths, True)))
    chunks: dict[str, dict[str, Any]] = {}
    for entry in collect_files(path, spec):
        found = file_chunks(entry.path, entry.size, chunk_rows)
        if found is not None:
            unit, parts = found
            chunks[entry.identifier] = {"unit": unit, "chunks": [c.to_dict() for c in parts]}
    extra = {
        EXTENSION: {
            "schema": SCHEMA,
            "provenance": prov.model_dump(),
            "chunk_rows": chunk_rows,
            "signed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": chunks,
        }
    }
    return sign_model(
        path,
        sig,
        private_key=private_key,
        password=password,
        pkcs11_uri=pkcs11_uri,
        ignore_paths=ignore_paths,
        workers=workers,
        extra_predicate=extra,
    )


def _provenance(data: dict[str, Any]) -> Provenance:
    try:
        return Provenance(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "provenance"
        raise ValueError(f"provenance.{where}: {first['msg']}") from None


def verify_dataset(
    root: str | Path,
    signature: str | Path | None = None,
    *,
    public_key: str | Path | None = None,
    certificate_chain: Sequence[str | Path] = (),
    identity: str | None = None,
    revoked: Sequence[str] = (),
    require_provenance: bool = True,
    workers: int | None = None,
) -> DatasetVerifyResult:
    """Verify a dataset before training: signature, every file, changed rows, provenance."""
    path = Path(root)
    v = verify_model(
        path,
        signature,
        public_key=public_key,
        certificate_chain=certificate_chain,
        identity=identity,
        revoked=revoked,
        workers=workers,
    )
    out = DatasetVerifyResult(v)
    ext = v.extra.get(EXTENSION) if v.extra else None
    if v.root_digest is None:  # the signature itself failed: nothing signed to compare against
        return out
    if not isinstance(ext, dict):
        if require_provenance:
            v.fail(R.DATA_PROVENANCE.id, "signature carries no dataset manifest (no provenance or chunk digests)")
        return out
    prov = ext.get("provenance")
    try:
        out.provenance = Provenance(**prov).model_dump() if isinstance(prov, dict) else None
    except (ValidationError, TypeError):
        out.provenance = None
    if out.provenance is None and require_provenance:
        v.fail(R.DATA_PROVENANCE.id, "dataset manifest has missing or invalid provenance")
    raw_files = ext.get("files")
    files: dict[str, Any] = raw_files if isinstance(raw_files, dict) else {}
    for problem in list(v.problems):
        if problem.rule_id != R.MODIFIED.id or problem.path is None or problem.path not in files:
            continue
        out.changed.extend(_changed_rows(path, problem.path, files[problem.path]))
    for c in out.changed:
        v.problems.append(type(v.problems[0])(R.DATA_MODIFIED.id, c.message(), c.path))
    v.ok = not v.problems
    return out


def _changed_rows(root: Path, ident: str, info: Any) -> list[ChangedRows]:
    if not isinstance(info, dict) or not isinstance(info.get("chunks"), list):
        return []
    unit = "rows" if info.get("unit") == "rows" else "lines"
    target = root if ident == "." else root / ident
    try:
        size = os.path.getsize(target)
    except OSError:
        return []
    changed: list[ChangedRows] = []
    expected = [c for c in info["chunks"] if isinstance(c, dict)]
    actual: list[Chunk] | None = None
    if unit == "lines":
        chunk_rows = max(1, int(expected[0]["rows"][1] - expected[0]["rows"][0])) if expected else DEFAULT_CHUNK_ROWS
        actual = line_chunks(target, chunk_rows)
    else:
        # Row groups move when an earlier one changes size: compare group by group, not by old offsets.
        try:
            actual = parquet_chunks(target)
        except Exception:
            return [ChangedRows(ident, (0, int(expected[-1]["rows"][1]) if expected else 0), unit)]
    for i, c in enumerate(expected):
        try:
            r0, r1 = int(c["rows"][0]), int(c["rows"][1])
            b0, b1 = int(c["bytes"][0]), int(c["bytes"][1])
            digest = str(c["sha256"])
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        if actual is not None:
            same = i < len(actual) and actual[i].rows == (r0, r1)
            now = actual[i].digest if same else None
        else:
            now = _hash_range(target, b0, b1) if b1 <= size else None
        if now != digest:
            changed.append(ChangedRows(ident, (r0, r1), unit))
    if actual is not None and len(actual) > len(expected):
        extra = actual[len(expected)]
        changed.append(ChangedRows(ident, (extra.rows[0], actual[-1].rows[1]), unit))
    return changed
