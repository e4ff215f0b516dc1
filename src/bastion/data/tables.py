"""Column classification for CSV, TSV, JSONL and Parquet tables (constant memory)."""

from __future__ import annotations

from bastion.data._detect.tables import (
    ColumnReport,
    TableError,
    TableReport,
    TypeStats,
    classify_table,
    column_hints,
    table_format,
)

__all__ = ["ColumnReport", "TableError", "TableReport", "TypeStats", "classify_table", "column_hints", "table_format"]
