"""Runs the anchor scanners on a list of files; executed inside the eval venv.

    .venv-eval-model_scan/bin/python evals/model_scan/anchors.py files.json out.json

Each tool is used the way its documentation shows: picklescan's `scan_file_path`
(default and strict), fickling's `scan_file`/`scan_zip_archive`, and the
`modelscan` CLI with JSON output. "detected" means the tool reported an issue;
errors are recorded separately (a scan error is not a detection).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any


def picklescan(path: str, strict: bool) -> dict[str, Any]:
    from picklescan.scanner import scan_file_path

    try:
        r = scan_file_path(path, strict=strict)
    except Exception as exc:
        return {"detected": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {"detected": r.infected_files > 0, "error": "scan error" if r.scan_err else None}


def fickling(path: str) -> dict[str, Any]:
    import fickling as fk
    from fickling.analysis import Severity

    try:
        if zipfile.is_zipfile(path):
            results = list(fk.scan_zip_archive(path, graceful=True).values())
        else:
            results = [fk.scan_file(path, graceful=True)]
    except Exception as exc:
        return {"detected": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    detected = any(r.severity > Severity.LIKELY_SAFE and r.results for r in results)
    errors = [e for r in results for e in r.errors]
    return {"detected": detected, "error": "; ".join(map(str, errors))[:200] or None}


def modelscan(path: str) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "modelscan"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        proc = subprocess.run(
            [str(exe), "-p", path, "-r", "json", "-o", str(out)], capture_output=True, text=True, timeout=300
        )
        if not out.exists():
            return {"detected": False, "error": (proc.stderr or proc.stdout)[-200:] or f"rc={proc.returncode}"}
        data = json.loads(out.read_text())
    issues = data.get("issues") or []
    errors = data.get("errors") or []
    return {"detected": bool(issues), "error": json.dumps(errors)[:200] if errors else None}


TOOLS = {
    "modelscan": modelscan,
    "picklescan": lambda p: picklescan(p, False),
    "picklescan --strict": lambda p: picklescan(p, True),
    "fickling": fickling,
}


def main() -> None:
    files = json.loads(Path(sys.argv[1]).read_text())
    out: dict[str, dict[str, Any]] = {}
    for tool, fn in TOOLS.items():
        t0 = time.perf_counter()
        out[tool] = {f: fn(f) for f in files}
        out[tool]["__seconds__"] = {"detected": False, "error": None, "seconds": time.perf_counter() - t0}
    Path(sys.argv[2]).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
