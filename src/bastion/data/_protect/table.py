"""Per-column protection of CSV, JSONL and Parquet datasets, driven by a policy file.

Values are read as strings (CSV and JSONL exactly as written, so reversible
operators round-trip byte for byte; Parquet columns named in the policy are cast to
string), each protected column is transformed as one batch, and the output is
written atomically. The report lists per column what was done and how many values
changed, never the values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bastion.crypto._files import PRIVATE, atomic_write
from bastion.data._protect.errors import ProtectError
from bastion.data._protect.operators import Keyring, OpSpec, apply, reverse
from bastion.data._protect.text import TextPolicy, protect_text

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MAX_POLICY = 1 << 20
csv.field_size_limit(1 << 24)


@dataclass
class ColumnRule:
    column: str
    spec: OpSpec | None = None  # None with `text` set: detect entities inside each cell
    text: TextPolicy | None = None


@dataclass
class TablePolicy:
    key: str | None
    default: OpSpec
    columns: dict[str, ColumnRule] = field(default_factory=dict)

    @classmethod
    def load(cls, source: Path | Mapping[str, Any]) -> TablePolicy:
        if isinstance(source, Mapping):
            data: Any = dict(source)
            where = "policy"
        else:
            path = Path(source)
            if path.stat().st_size > MAX_POLICY:
                raise ProtectError(f"{path}: policy file larger than 1 MiB")
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ProtectError(f"{path}: invalid YAML/JSON policy: {str(exc).splitlines()[0]}") from None
            where = str(path)
        if not isinstance(data, Mapping):
            raise ProtectError(f"{where}: a policy is a mapping with 'columns'")
        unknown = set(data) - {"key", "default", "columns"}
        if unknown:
            raise ProtectError(f"{where}: unknown policy field(s) {sorted(unknown)}")
        cols = data.get("columns") or {}
        if not isinstance(cols, Mapping):
            raise ProtectError(f"{where}: 'columns' must map column names to operators")
        key = data.get("key")
        if key is not None and not isinstance(key, str):
            raise ProtectError(f"{where}: 'key' must be a key id")
        default = OpSpec.parse(data.get("default", "keep"), f"{where}: default")
        rules: dict[str, ColumnRule] = {}
        for name, raw in cols.items():
            if isinstance(raw, Mapping) and raw.get("op") == "detect":
                extra = set(raw) - {"op", "entities"}
                if extra:
                    raise ProtectError(f"{where}: column {name!r}: 'detect' takes only 'entities'")
                rules[str(name)] = ColumnRule(str(name), None, TextPolicy(raw.get("entities") or {}))
            elif raw == "detect":
                rules[str(name)] = ColumnRule(str(name), None, TextPolicy())
            else:
                rules[str(name)] = ColumnRule(str(name), OpSpec.parse(raw, f"{where}: column {name!r}"))
        return cls(key=key, default=default, columns=rules)


def table_format(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ProtectError(f"{path}: unsupported dataset format (use .csv, .jsonl or .parquet)")
    return fmt


@dataclass
class Table:
    columns: list[str]
    data: dict[str, list[Any]]
    rows: int
    arrow: Any = None  # the original Arrow table for Parquet, so untouched columns keep their types
    newline: str = "\r\n"  # CSV line ending of the input, kept so reversible columns round-trip byte for byte


def read_table(path: Path) -> Table:
    fmt = table_format(path)
    if fmt == "csv":
        with Path(path).open("rb") as raw:
            first = raw.readline()
        newline = "\r\n" if first.endswith(b"\r\n") else "\n"
        with Path(path).open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise ProtectError(f"{path}: empty CSV (no header)") from None
            except csv.Error as exc:
                raise ProtectError(f"{path}: malformed CSV: {exc}") from None
            if len(set(header)) != len(header):
                raise ProtectError(f"{path}: duplicate column names in the header")
            cols: list[list[Any]] = [[] for _ in header]
            n = 0
            try:
                for row in reader:
                    if len(row) != len(header):
                        raise ProtectError(f"{path}: row {n + 2} has {len(row)} fields, header has {len(header)}")
                    for c, v in zip(cols, row, strict=True):
                        c.append(v)
                    n += 1
            except csv.Error as exc:
                raise ProtectError(f"{path}: malformed CSV at row {n + 2}: {exc}") from None
        return Table(header, dict(zip(header, cols, strict=True)), n, newline=newline)
    if fmt == "jsonl":
        order: list[str] = []
        records = []
        with Path(path).open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ProtectError(f"{path}: line {lineno}: invalid JSON: {exc.msg}") from None
                if not isinstance(rec, dict):
                    raise ProtectError(f"{path}: line {lineno}: not a JSON object")
                for k in rec:
                    if k not in order:
                        order.append(k)
                records.append(rec)
        return Table(order, {k: [r.get(k) for r in records] for k in order}, len(records))
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        at = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ProtectError(f"{path}: cannot read Parquet: {str(exc).splitlines()[0][:200]}") from None
    return Table(list(at.column_names), {}, at.num_rows, arrow=at)


def column_values(table: Table, name: str) -> list[Any]:
    if table.arrow is not None:
        if name not in table.data:
            table.data[name] = table.arrow.column(name).to_pylist()
        return table.data[name]
    return table.data[name]


def write_table(table: Table, path: Path, changed: set[str], *, mode: int = PRIVATE) -> None:
    """Write the table atomically: a secure temp file beside `path` (random name, O_EXCL|O_NOFOLLOW), then rename.

    The file is owner-only (0600) by default, set before any value is written: what
    `unprotect` writes is restored personal data, and what `protect` writes may keep
    sensitive columns a policy left as they were; share it with an explicit chmod.
    A predictable temp name opened without `O_EXCL` could be a planted symlink that
    redirects the data elsewhere.
    """
    fmt = table_format(path)
    path = Path(path)
    with atomic_write(path, mode) as raw:
        if fmt == "csv":
            fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            w = csv.writer(fh, lineterminator=table.newline)
            w.writerow(table.columns)
            cols = [column_values(table, c) for c in table.columns]
            w.writerows(zip(*cols, strict=True))
            fh.flush()
            fh.detach()  # `atomic_write` owns, syncs and closes the file
        elif fmt == "jsonl":
            cols = [column_values(table, c) for c in table.columns]
            fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            for row in zip(*cols, strict=True):
                fh.write(json.dumps(dict(zip(table.columns, row, strict=True)), ensure_ascii=False) + "\n")
            fh.flush()
            fh.detach()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if table.arrow is not None:
                at = table.arrow
                for c in changed:
                    i = at.column_names.index(c)
                    at = at.set_column(i, c, pa.array(table.data[c], type=pa.string()))
            else:
                at = pa.table(
                    {c: pa.array([None if v is None else str(v) for v in table.data[c]]) for c in table.columns}
                )
            pq.write_table(at, raw)


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)


def _is_empty(v: Any) -> bool:
    return v is None or v == ""


def transform_table(
    table: Table, policy: TablePolicy, ring: Keyring, *, undo: bool = False
) -> tuple[list[dict[str, Any]], set[str]]:
    missing = set(policy.columns) - set(table.columns)
    if missing:
        raise ProtectError(f"policy names column(s) not in the dataset: {sorted(missing)}")
    rules = {name: policy.columns.get(name) or ColumnRule(name, policy.default) for name in table.columns}
    keyed = _row_keyed(rules, table.columns)
    # Row-keyed `encrypt` columns bind the row key *as stored in the protected file*: so they
    # run after every other column when protecting, and before any other when restoring.
    order = [n for n in table.columns if n not in keyed]
    order = [*keyed, *order] if undo else [*order, *keyed]
    reports: dict[str, dict[str, Any]] = {}
    changed: set[str] = set()
    for name in order:
        reports[name] = _transform_column(table, name, rules[name], ring, undo, changed)
    return [reports[n] for n in table.columns], changed


def _row_keyed(rules: Mapping[str, ColumnRule], columns: list[str]) -> list[str]:
    """Columns encrypted with a `row_key`; the key column must exist and not be row-keyed itself."""
    keyed = [n for n, r in rules.items() if r.spec is not None and r.spec.row_key is not None]
    for name in keyed:
        spec = rules[name].spec
        assert spec is not None and spec.row_key is not None
        if spec.row_key not in columns:
            raise ProtectError(f"column {name!r}: row_key {spec.row_key!r} is not a column of the dataset")
        if spec.row_key in keyed:
            raise ProtectError(f"column {name!r}: row_key {spec.row_key!r} is itself encrypted with a row_key")
    return keyed


def _transform_column(
    table: Table,
    name: str,
    rule: ColumnRule,
    ring: Keyring,
    undo: bool,
    changed: set[str],
) -> dict[str, Any]:
    """Protect (or restore) one column in place; returns its report entry."""
    values = column_values(table, name)
    idx = [i for i, v in enumerate(values) if not _is_empty(v)]
    entry: dict[str, Any] = {"column": name, "non_empty": len(idx), "empty": len(values) - len(idx)}
    if rule.spec is not None and rule.spec.op == "keep":
        entry.update(op="keep", changed=0)
        return entry
    strings = [_text(values[i]) for i in idx]
    if rule.spec is None:
        if undo:
            raise ProtectError(f"column {name!r}: 'detect' replacements cannot be undone from the data alone")
        assert rule.text is not None
        outs = []
        entities = 0
        for s in strings:
            res = protect_text(s, rule.text, ring)
            entities += len(res.changes)
            outs.append(res.text)
        entry.update(op="detect", entities_replaced=entities)
    elif undo:
        if not rule.spec.reversible:
            entry.update(op=rule.spec.op, changed=0, note="one-way; left as is")
            return entry
        outs = reverse(rule.spec, strings, ring, column=name, row_keys=_keys_for(table, rule.spec, idx))
        entry.update(op=f"reverse-{rule.spec.op}")
    else:
        outs = apply(
            rule.spec,
            strings,
            ring,
            entity_type=str(rule.spec.params.get("type", name)).upper(),
            column=name,
            row_keys=_keys_for(table, rule.spec, idx),
        )
        entry.update(op=rule.spec.op, reversible=rule.spec.reversible)
    new_values = list(values) if table.arrow is None else [None if v is None else str(v) for v in values]
    n_changed = 0
    for i, old, new in zip(idx, strings, outs, strict=True):
        n_changed += new != old
        new_values[i] = new
    table.data[name] = new_values
    changed.add(name)
    entry["changed"] = n_changed
    return entry


def _keys_for(table: Table, spec: OpSpec, idx: list[int]) -> list[str] | None:
    """The row-key values (as text, empty for a missing key) of rows `idx`, or None without a row key."""
    if spec.row_key is None:
        return None
    keys = column_values(table, spec.row_key)
    return ["" if _is_empty(keys[i]) else _text(keys[i]) for i in idx]
