"""What every renderer shares: safe JSON values, atomic writes, output paths, severity maps."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from bastion.core.types import Severity

DEFAULT_BASENAME = "report"


def jsonable(value: Any) -> Any:
    """Make `value` strict-JSON safe: no NaN/Infinity, string keys, no raw bytes.

    Scanner `properties` are free-form, so a renderer cannot trust them to be
    JSON-clean; bytes are summarised rather than dumped, because raw bytes from a
    scanned artifact are exactly what must never reach a report.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def target_path(out: Path, suffix: str, basename: str = DEFAULT_BASENAME) -> Path:
    """`out` itself, or ``out/<basename><suffix>`` when `out` is an existing folder."""
    out = Path(out)
    return out / f"{basename}{suffix}" if out.is_dir() else out


def write_atomic(path: Path, data: str) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# GitHub code scanning buckets: >=9 critical, 7-8.9 high, 4-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 3.0,
    Severity.INFO: 0.0,
}
