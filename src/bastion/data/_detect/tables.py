"""The column classifier for CSV, TSV, JSONL and Parquet.

Tables are read batch by batch through pyarrow (CSV/Parquet) or line by line
(JSONL), so memory stays constant whatever the file size. The per-column work is
column-vectorised: pyarrow compute trims, drops empty cells and (for repetitive
columns) de-duplicates values, then appends a separator to every cell, and the
resulting Arrow data buffer *is* the joined text of the batch, so no Python
object is made per cell. One multi-pattern engine pass runs over that text; hits
are mapped back to cells with the Arrow offsets (numpy), context windows are
fenced inside their own cell, and a hit that crosses a separator is dropped, so
every cell is judged exactly as if it had been detected alone (tested against
the per-cell path).

A column's report names the entity types seen, the share of scanned non-empty
rows that hold each, masked examples, and the hints its name gave. By default
the first `sample_rows` rows are scanned; `full=True` scans every row. In a full
scan the names/places layer (the slow, per-token part) keeps running on a
column only when its name hints at names/places or its first `sample_rows` rows
held some; `estimate=True` stops scanning a column once every share it found is
known to within `tolerance` (95% interval). Rows the reader cannot parse are
counted and reported as warnings, never fatal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.data._detect.engine import RawHit, resolve_overlaps_raw

if TYPE_CHECKING:
    import pyarrow as pa

    from bastion.data.detect import Detector

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
                  ".pq": "parquet"}  # fmt: skip
_SEP = "\n\x00\n"
MAX_CELL_CHARS = 64 << 10
MAX_JSONL_LINE = 16 << 20
NAMES_MIN_SHARE = 0.01  # PERSON/LOCATION share in the sample that keeps the names layer on in a full scan
DEDUP_RATIO = 0.6  # scan distinct values only when they are at most this share of a batch's cells
ESTIMATE_MIN_ROWS = 20_000
CACHE_VALUES = 100_000  # distinct cell values remembered per column in a full scan

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
    names_layer: bool | None = None  # None while still sampling; then whether PERSON/LOCATION are looked for
    estimated: bool = False  # scanning stopped early: shares are estimates within the tolerance

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
            "names_layer": self.names_layer is not False,
            "estimated": self.estimated,
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
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows_scanned": self.rows,
            "complete": self.complete,
            "estimated": self.estimated,
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
    names: bool | None = None,
    estimate: bool = False,
    tolerance: float = 0.005,
) -> TableReport:
    """Classify every column of a table file; see the module docstring.

    `names`: None (default) keeps the names layer on for the sample and, in a full
    scan, only on the columns whose sample suggests names or places; True or False
    forces it for every row. `estimate` (with `full`) stops a column early once its
    shares are within `tolerance`.
    """
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
    scanner = _ColumnScanner(detector, max_examples)
    exhausted = True
    for columns in batches(p, kind, batch_rows, report):
        n = len(next(iter(columns.values()))) if columns else 0
        if limit is not None and report.rows + n > limit:
            n = limit - report.rows
            columns = {k: v.slice(0, n) for k, v in columns.items()}
        live = 0
        for name, values in columns.items():
            col = report.columns.get(name)
            if col is None:
                col = report.columns[name] = ColumnReport(name=name, hints=column_hints(name))
            if col.estimated:
                continue
            live += 1
            scanner.scan(col, values, _use_names(col, names, sample_rows, scanner.has_names))
            if col.names_layer is None and col.rows >= sample_rows:
                _use_names(col, names, sample_rows, scanner.has_names)  # decide once the sample is in
            if estimate and full and _stable(col, tolerance):
                col.estimated = True
        report.rows += n
        if limit is not None and report.rows >= limit:
            exhausted = False
            break
        if estimate and full and live and all(c.estimated for c in report.columns.values()):
            exhausted = False
            report.estimated = True
            break
    report.complete = exhausted
    return report


def _use_names(col: ColumnReport, names: bool | None, sample_rows: int, available: bool) -> bool:
    if not available or names is False:
        col.names_layer = False
        return False
    if names is True or (col.rows < sample_rows and col.names_layer is None):
        return True
    if col.names_layer is None:
        col.names_layer = bool({"PERSON", "LOCATION"} & set(col.hints)) or any(
            col.share(t) >= NAMES_MIN_SHARE for t in ("PERSON", "LOCATION")
        )
    return col.names_layer


def _stable(col: ColumnReport, tolerance: float) -> bool:
    """Every share is known to +/- `tolerance` (normal approximation, 95%) after enough rows."""
    n = col.non_empty
    if col.rows < ESTIMATE_MIN_ROWS or n == 0:
        return n == 0 and col.rows >= ESTIMATE_MIN_ROWS
    for st in col.types.values():
        p = st.rows / n
        if 1.96 * math.sqrt(max(p * (1 - p), 1.0 / n) / n) > tolerance:
            return False
    return True


class _ColumnScanner:
    """Scans one column batch (an Arrow string array) with one engine pass; see the module docstring.

    Columns with repeated values (names, cities, codes) are de-duplicated per batch,
    and what a distinct value held is remembered per column (up to CACHE_VALUES
    values), so a value that recurs in later batches is never detected twice: a
    cell's result depends only on the cell, since context is fenced inside it.
    """

    def __init__(self, detector: Detector, max_examples: int) -> None:
        self.detector = detector
        self.max_examples = max_examples
        self.names = detector._names
        self.has_names = detector._names is not None
        self.sep_len = len(_SEP)
        self.memo: dict[tuple[str, bool], dict[str, tuple[RawHit, ...]]] = {}

    def scan(self, col: ColumnReport, values: pa.Array, use_names: bool) -> None:
        import numpy as np
        import pyarrow.compute as pc

        col.rows += len(values)
        vals = _clean(values)
        n = len(vals)
        col.non_empty += n
        if not n:
            return
        if n >= 64:
            vc = pc.value_counts(vals)
            if len(vc) <= n * DEDUP_RATIO:
                self._scan_distinct(col, vc.field("values"), vc.field("counts"), use_names)
                return
        kept, krow = self._cells(vals, use_names)
        if not kept:
            return
        ktype = [h[0] for h in kept]
        for etype in dict.fromkeys(ktype):
            idx = [i for i, t in enumerate(ktype) if t == etype]
            self._add(col, etype, len(np.unique(krow[idx])), [kept[i] for i in idx])

    def _scan_distinct(self, col: ColumnReport, uniq: pa.Array, counts: pa.Array, use_names: bool) -> None:
        memo = self.memo.setdefault((col.name, use_names), {})
        texts: list[str] = uniq.to_pylist()
        missing = [i for i, v in enumerate(texts) if v not in memo]
        fresh: dict[int, list[RawHit]] = {}
        if missing:
            import pyarrow as pa

            kept, krow = self._cells(uniq.take(pa.array(missing, type=pa.int64())), use_names)
            for h, r in zip(kept, krow.tolist(), strict=True):
                fresh.setdefault(missing[r], []).append(h)
            for i in missing:
                if len(memo) >= CACHE_VALUES:
                    break
                memo[texts[i]] = _one_per_type(fresh.get(i, []))
        per_type: dict[str, tuple[int, list[RawHit]]] = {}
        for i, (v, c) in enumerate(zip(texts, counts.to_pylist(), strict=True)):
            got = _one_per_type(fresh[i]) if i in fresh else memo.get(v, ())
            for h in got:
                rows, hs = per_type.get(h[0], (0, []))
                hs.append(h)
                per_type[h[0]] = (rows + c, hs)
        for etype, (rows, hs) in per_type.items():
            self._add(col, etype, rows, hs)

    def _add(self, col: ColumnReport, etype: str, rows: int, hits: list[RawHit]) -> None:
        from bastion.data._detect.model import Entity

        st = col.types.setdefault(etype, TypeStats())
        st.rows += rows
        st.max_score = max(st.max_score, max(h[3] for h in hits))
        for h in hits[: max(0, self.max_examples - len(st.examples))]:
            st.examples.append(Entity(*h).masked)

    def _cells(self, vals: pa.Array, use_names: bool) -> tuple[list[RawHit], Any]:
        """Kept (overlap-resolved, inside-one-cell) hits of `vals` and the cell index of each."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        joined = pc.binary_join_element_wise(vals, pa.scalar(_SEP), pa.scalar(""))
        m = len(joined)
        bufs = joined.buffers()
        off_dtype = np.int64 if pa.types.is_large_string(joined.type) else np.int32
        offs = np.frombuffer(bufs[1], dtype=off_dtype, count=m + 1, offset=joined.offset * off_dtype().itemsize)
        o0, o1 = int(offs[0]), int(offs[-1])
        data = bytes(memoryview(bufs[2])[o0:o1])
        text = data.decode("utf-8", "surrogatepass")
        if len(text) == len(data):
            starts = (offs[:-1] - o0).astype(np.int64)
        else:
            lens = pc.utf8_length(joined).to_numpy(zero_copy_only=False).astype(np.int64)
            starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        cell_ends = np.append(starts[1:], len(text)) - self.sep_len
        cells = starts.tolist()
        det = self.detector
        threshold = det.min_score
        hits = det.engine.hits(text, data, min_score=threshold, cells=cells)
        if use_names and self.names is not None:
            hits.extend(_raw(e) for e in self.names.find(text, cells=cells) if e.score >= threshold)
        for rec in det.recognizers:
            hits.extend(_raw(e) for e in rec.find(text) if e.score >= threshold and 0 <= e.start < e.end <= len(text))
        if not hits:
            return [], np.zeros(0, dtype=np.int64)
        hs = np.fromiter((h[1] for h in hits), dtype=np.int64, count=len(hits))
        he = np.fromiter((h[2] for h in hits), dtype=np.int64, count=len(hits))
        row = np.searchsorted(starts, hs, side="right") - 1
        inside = he <= cell_ends[row]
        counts = np.bincount(row[inside], minlength=m)
        keep_one = inside & (counts[row] == 1)
        kept = [hits[i] for i in np.flatnonzero(keep_one)]
        rows = [row[keep_one]]
        multi = np.flatnonzero(inside & (counts[row] > 1))
        if len(multi):
            resolved = resolve_overlaps_raw([hits[i] for i in multi])
            kept.extend(resolved)
            rows.append(np.searchsorted(starts, np.fromiter((h[1] for h in resolved), dtype=np.int64), "right") - 1)
        return kept, np.concatenate(rows)


def _one_per_type(hits: list[RawHit]) -> tuple[RawHit, ...]:
    """The highest-scoring hit of each type in one cell (all the column report needs from it)."""
    best: dict[str, RawHit] = {}
    for h in hits:
        if h[0] not in best or h[3] > best[h[0]][3]:
            best[h[0]] = h
    return tuple(best.values())


def _raw(e: Any) -> Any:
    return (e.entity_type, e.start, e.end, e.score, e.explanation, e.kind, e.recognizer, e.value)


def _clean(values: pa.Array) -> pa.Array:
    """Non-empty, trimmed, NUL-free cells, each at most MAX_CELL_CHARS characters."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    vals = pc.utf8_trim_whitespace(values)
    vals = pc.drop_null(vals)
    vals = pc.filter(vals, pc.greater(pc.binary_length(vals), 0))
    if not len(vals):
        return vals
    if pc.max(pc.utf8_length(vals)).as_py() > MAX_CELL_CHARS:
        vals = pc.utf8_slice_codeunits(vals, 0, MAX_CELL_CHARS)
    if pc.any(pc.match_substring(vals, "\x00")).as_py():
        vals = pc.replace_substring(vals, "\x00", " ")
    return vals


def _as_text(values: list[Any]) -> pa.Array:
    """Python cell values (JSON, nested Parquet) as an Arrow string array, the way the text path sees them."""
    import pyarrow as pa

    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict | list):
            out.append(json.dumps(v, default=str))
        else:
            out.append(str(v))
    return pa.array(out, type=pa.string())


def _arrow_text(arr: Any) -> pa.Array:
    """A column as strings: zero-copy for text, an Arrow cast for numbers, Python for the rest."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr
    if pa.types.is_integer(t) or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)):
        try:
            return arr.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover
            pass
    return _as_text(arr.to_pylist())


def _csv_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, Any]]:
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
            yield {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        report.warnings.append(f"stopped reading: {_first_line(exc)}")
        report.bad_rows += 1


def _jsonl_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, Any]]:
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


def _columnar(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(str(k), None)
    return {k: _as_text([r.get(k) for r in rows]) for k in keys}


def _parquet_batches(path: Path, kind: str, batch_rows: int, report: TableReport) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise TableError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from exc
    try:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield {name: _arrow_text(batch.column(i)) for i, name in enumerate(batch.schema.names)}
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
