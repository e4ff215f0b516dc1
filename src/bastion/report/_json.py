"""The JSON report: the lossless form every other format can be rebuilt from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bastion.core.report_model import ScanReport
from bastion.report._common import jsonable, target_path, write_atomic


def to_json(report: ScanReport) -> str:
    """Deterministic text: the model fixes key order, so two renders of one report diff clean."""
    data: Any = jsonable(report.to_dict())
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def load_json(path: Path) -> ScanReport:
    """Read a JSON report back; raises `ValueError` with the file name when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON report ({exc})") from exc
    try:
        return ScanReport.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


class JsonRenderer:
    name = "json"
    suffix = ".json"

    def render(self, report: ScanReport, out: Path) -> Path:
        return write_atomic(target_path(out, self.suffix), to_json(report))
