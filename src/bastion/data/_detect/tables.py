"""The column classifier for CSV, TSV, JSONL and Parquet.

Tables are read batch by batch through pyarrow (CSV/Parquet) or line by line
(JSONL), so memory stays constant whatever the file size. Each batch of a column
is joined into one text with row separators and detected in one call, so the
engine's per-call cost is paid per batch, not per cell. A column's report names
the entity types seen, the share of scanned non-empty rows that hold each, masked
examples, and the hints its name gave.

By default the first `sample_rows` rows are scanned; `full=True` scans every row.
Rows the reader cannot parse are counted and reported as warnings, never fatal.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.data.detect import Detector

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
                  ".pq": "parquet"}  # fmt: skip
_SEP = "\n\x00\n"
MAX_CELL_CHARS = 64 << 10
MAX_JSONL_LINE = 16 << 20

_NAME_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rx, re.I), etype)
    for rx, etype in (
        (r"e.?mail", "EMAIL_ADDRESS"),
        (r"phone|mobile|tel(ephone)?$|cell|fax", "PHONE_NUMBER"),
        (r"ssn|social.?sec", "US_SSN"),
        (r"(^|_)(dob|birth|birthday|date_of_birth)", "DATE_OF_BIRTH"),
        (r"(first|last|full|given|family|sur|middle)_?name|^name$|customer$|patient$|holder", "PERSON"),
        (r"address|street|addr", "STREET_ADDRESS"),
        (r"city|country|state|region|location|town", "LOCATION"),
        (r"iban", "IBAN_CODE"),
        (r"card|pan$|cc_?num|ccnum", "CREDIT_CARD"),
        (r"(^|_)ip(_?addr(ess)?)?$|ip_?v[46]", "IP_ADDRESS"),
        (r"mac(_?addr(ess)?)?$", "MAC_ADDRESS"),
        (r"passw(or)?d|secret|token|api_?key|credential|private_?key", "SECRET"),
        (r"passport", "PASSPORT"),
        (r"licen[cs]e", "DRIVER_LICENSE"),
        (r"nhs", "UK_NHS"),
        (r"national_?insurance|nino", "UK_NINO"),
        (r"aadhaar|aadhar", "IN_AADHAAR"),
        (r"(^|_)(tax_?id|tin|steuer)", "TAX_ID"),
        (r"zip|postcode|postal", "POSTAL_CODE"),
        (r"lat(itude)?$|lon(gitude)?$|lng$|gps|coord", "GPS_COORDINATES"),
        (r"url|link|website", "URL"),
        (r"wallet|btc|eth_?addr", "CRYPTO_WALLET"),
    )
)


class TableError(ValueError):
    """The file cannot be read as a table at all (as opposed to a few bad rows)."""


@dataclass
class TypeStats:
    rows: int = 0
    examples: list[str] = field(default_factory=list)
    max_score: float = 0.0


@dataclass
class ColumnReport:
    name: str
    rows: int = 0
    non_empty: int = 0
    hints: list[str] = field(default_factory=list)
    types: dict[str, TypeStats] = field(default_factory=dict)

    def share(self, entity_type: str) -> float:
        st = self.types.get(entity_type)
        return 0.0 if st is None or not self.non_empty else st.rows / self.non_empty

    def classified(self, min_share: float = 0.05) -> list[str]:
        """Entity types that are a property of the column, not noise in a free-text cell."""
        out = []
        for etype, st in self.types.items():
            share = self.share(etype)
            hinted = etype in self.hints or (etype.startswith("CRYPTO") and "CRYPTO_WALLET" in self.hints)
            if share >= min_share or (hinted and st.rows > 0) or (st.rows > 0 and st.max_score >= 0.9):
                out.append(etype)
        return sorted(out, key=lambda t: -self.share(t))

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.name,
            "rows": self.rows,
            "non_empty": self.non_empty,
            "hints": self.hints,
            "entity_types": self.classified(),
            "types": {
                t: {"rows": s.rows, "share": round(self.share(t), 4), "max_score": s.max_score, "examples": s.examples}
                for t, s in sorted(self.types.items())
            },
        }


@dataclass
class TableReport:
    path: str
    format: str
    rows: int = 0
    complete: bool = False
    columns: dict[str, ColumnReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bad_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows_scanned": self.rows,
            "complete": self.complete,
            "bad_rows": self.bad_rows,
            "warnings": self.warnings[:50],
            "columns": [c.to_dict() for c in self.columns.values()],
        }


def table_format(path: Path) -> str | None:
    return TABLE_SUFFIXES.get(path.suffix.lower())


def column_hints(name: str) -> list[str]:
    return [etype for rx, etype in _NAME_HINTS if rx.search(name)]


def classify_table(
    path: str | Path,
    *,
    detector: Detector | None = None,
    full: bool = False,
    sample_rows: int = 1000,
    batch_rows: int = 4096,
    fmt: str | None = None,
    max_examples: int = 3,
) -> TableReport:
    """Classify every column of a table file; see the module docstring."""
    if detector is None:
        from bastion.data.detect import default_detector

        detector = default_detector()
    p = Path(path)
    kind = fmt or table_format(p)
    if kind is None:
        raise TableError(f"{p}: not a table format (expected one of {', '.join(sorted(TABLE_SUFFIXES))})")
    if not p.is_file():
        raise FileNotFoundError(2, "No such file", str(p))
    report = TableReport(path=str(p), format=kind)
    limit = None if full else sample_rows
    batches = {"csv": _csv_batches, "tsv": _csv_batches, "jsonl": _jsonl_batches, "parquet": _parquet_batches}[kind]
    exhausted = True
    for columns in batches(p, kind, batch_rows, report):
        n = len(next(iter(columns.values()))) if columns else 0
        if limit is not None and report.rows + n > limit:
            n = limit - report.rows
            columns = {k: v[:n] for k, v in columns.items()}
        for name, values in columns.items():
            col = report.columns.get(name)
            if col is None:
                col = report.columns[name] = ColumnReport(name=name, hints=column_hints(name))
            _scan_column(col, values, detector, max_examples)
        report.rows += n
        if limit is not None and report.rows >= limit:
            exhausted = False
            break
    report.complete = exhausted
    return report


def _scan_column(col: ColumnReport, values: list[Any], detector: Detector, max_examples: int) -> None:
    texts: list[str] = []
    col.rows += len(values)
    for v in values:
        if v is None:
            continue
        s = v if isinstance(v, str) else json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
        s = s.strip()
        if not s:
            continue
        texts.append(s[:MAX_CELL_CHARS].replace("\x00", " "))
    col.non_empty += len(texts)
    if not texts:
        return
    joined = _SEP.join(texts)
    starts = [0]
    for t in texts[:-1]:
        starts.append(starts[-1] + len(t) + len(_SEP))
    seen: set[tuple[int, str]] = set()
    for ent in detector.detect(joined):
        row = bisect.bisect_right(starts, ent.start) - 1
        if ent.end > starts[row] + len(texts[row]):
            continue  # spans a row separator: not one cell's value
        key = (row, ent.entity_type)
        st = col.types.setdefault(ent.entity_type, TypeStats())
        st.max_score = max(st.max_score, ent.score)
        if key in seen:
            continue
        seen.add(key)
        st.rows += 1
        if len(st.examples) < max_examples:
            st.examples.append(ent.masked)


def _csv_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, list[Any]]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def on_invalid(row: Any) -> str:
        report.bad_rows += 1
        if len(report.warnings) < 50:
            report.warnings.append(f"row {getattr(row, 'number', '?')}: {getattr(row, 'text', '')[:0]}"
                                   f"expected {getattr(row, 'expected_columns', '?')} columns, "
                                   f"got {getattr(row, 'actual_columns', '?')}; skipped")  # fmt: skip
        return "skip"

    try:  # first pass only learns the column names; bad rows are counted by the second
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter="\t" if kind == "tsv" else ",",
                invalid_row_handler=lambda _r: "skip",
                newlines_in_values=True,
            ),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True, column_types=None),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read as {kind.upper()}: {_first_line(exc)}") from exc
    schema = reader.schema
    # read every column as text so a numeric-looking id column keeps its leading zeros and separators
    try:
        reader.close()
        names = schema.names
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter="\t" if kind == "tsv" else ",", invalid_row_handler=on_invalid, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True, column_types={n: pa.string() for n in names}
            ),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        report.warnings.append(f"stopped reading: {_first_line(exc)}")
        report.bad_rows += 1


def _jsonl_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, list[Any]]]:
    batch: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if len(raw) > MAX_JSONL_LINE:
                _warn(report, f"line {lineno}: longer than {MAX_JSONL_LINE} bytes; skipped")
                continue
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                _warn(report, f"line {lineno}: not a JSON object ({type(exc).__name__}); skipped")
                continue
            if not isinstance(obj, dict):
                _warn(report, f"line {lineno}: JSON {type(obj).__name__}, expected an object; skipped")
                continue
            batch.append(obj)
            if len(batch) >= batch_rows:
                yield _columnar(batch)
                batch = []
    if batch:
        yield _columnar(batch)


def _columnar(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(str(k), None)
    return {k: [r.get(k) for r in rows] for k in keys}


def _parquet_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, list[Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise TableError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from exc
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        report.warnings.append(f"stopped reading: {_first_line(exc)}")
        report.bad_rows += 1


def _warn(report: TableReport, msg: str) -> None:
    report.bad_rows += 1
    if len(report.warnings) < 50:
        report.warnings.append(msg)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
