"""`bastion scan-model FILE`: scan one model artifact without loading it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_CLEAN, EXIT_FINDINGS, command, console, fail, print_json, state
from bastion.core.types import Finding, Severity


def register(app: typer.Typer) -> None:
    @app.command("scan-model")
    @command
    def scan_model(
        file: Annotated[Path, typer.Argument(help="Model file (or SavedModel folder) to scan")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
        sarif: Annotated[Path | None, typer.Option("--sarif", help="Also write a SARIF 2.1.0 log to this file")] = None,
        fail_on: Annotated[
            str | None, typer.Option("--fail-on", help="Exit 1 at or above this severity (default: config)")
        ] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Time budget for the file, seconds")] = 0.0,
    ) -> None:
        """Scan a model file for malicious or tampered serialization (never loads it)."""
        from bastion.model.scan import Limits, scan_file

        if not file.exists():
            fail(f"{file}: no such file or directory")
        threshold = Severity.parse(fail_on) if fail_on else state.settings.fail_on
        budget = timeout if timeout > 0 else state.settings.scan.timeout_per_file
        findings = scan_file(file, limits=Limits(time_budget_s=budget))
        if sarif is not None:
            _write_sarif(findings, file, sarif)
        if as_json:
            print_json({"file": str(file), "findings": [f.to_dict() for f in findings]})
        else:
            _table(findings, file)
        worst = max((f.severity for f in findings), default=None)
        raise typer.Exit(EXIT_FINDINGS if worst is not None and worst >= threshold else EXIT_CLEAN)


def _table(findings: list[Finding], file: Path) -> None:
    if not findings:
        console.print(f"[green]clean[/]: {file}")
        return
    table = Table(title=f"model scan: {file}", show_lines=False)
    for col in ("severity", "rule", "where", "evidence"):
        table.add_column(col, overflow="fold")
    for f in sorted(findings, key=lambda x: -x.severity):
        table.add_row(f.severity.label, f.rule_id, f.location.pointer or "", f.evidence)
    console.print(table)


def _write_sarif(findings: list[Finding], file: Path, out: Path) -> None:
    """Write a SARIF 2.1.0 log to `out` (a file path) through the shared report renderer."""
    import json
    from datetime import UTC, datetime

    from bastion import __version__
    from bastion.core.report_model import ScanReport
    from bastion.model.scan import RULES
    from bastion.report import to_sarif

    now = datetime.now(UTC)
    report = ScanReport(
        scan_id=f"scan-model-{now.strftime('%Y%m%dT%H%M%S')}",
        project=state.settings.project,
        root=str(file),
        started_at=now,
        finished_at=now,
        tool_version=__version__,
        findings=list(findings),
    )
    if out.is_dir():
        out = out / "scan-model.sarif"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_sarif(report, RULES), indent=2, default=str) + "\n", encoding="utf-8")
