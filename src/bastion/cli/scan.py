"""`bastion scan PATH`: the scan service, with a progress bar, a summary and report files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bastion.cli._common import EXIT_CLEAN, EXIT_FINDINGS, command, console, state
from bastion.cli._progress import progress_bar
from bastion.core.types import Severity


def _severity(value: str | None) -> Severity | None:
    return None if value is None else Severity.parse(value)


def register(app: typer.Typer) -> None:
    @app.command("scan")
    @command
    def scan(
        path: Annotated[Path, typer.Argument(help="File or folder to scan")],
        fail_on: Annotated[
            str | None, typer.Option("--fail-on", help="Exit 1 on findings at or above: info|low|medium|high|critical")
        ] = None,
        policy: Annotated[Path | None, typer.Option("--policy", help="Policy file (TOML/YAML/JSON)")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for report files")] = None,
        formats: Annotated[str, typer.Option("--format", help="Comma-separated: json,sarif,html")] = "json,sarif,html",
        scanner: Annotated[list[str] | None, typer.Option("--scanner", help="Run only these scanners")] = None,
        workers: Annotated[int | None, typer.Option("--workers", min=0, help="Worker processes (0 = CPUs)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout")] = False,
        no_progress: Annotated[bool, typer.Option("--no-progress")] = False,
    ) -> None:
        """Scan PATH with every registered scanner; record assets and findings; apply the policy."""
        from bastion.report import print_summary, to_json, write_reports
        from bastion.scan import ScanOptions, run_scan

        settings = state.settings
        active_policy = state.policy(policy, _severity(fail_on))
        options = ScanOptions(
            project=settings.project,
            actor=settings.who,
            workers=settings.scan.workers if workers is None else workers,
            timeout_per_file=settings.scan.timeout_per_file,
            max_file_size=settings.scan.max_file_size,
            exclude=settings.scan.exclude,
            follow_symlinks=settings.scan.follow_symlinks,
            scanner_names=scanner or settings.scan.scanners,
            owners=settings.owners,
        )
        store = state.store
        with progress_bar(not no_progress and not as_json) as progress:
            report = run_scan(path, store, active_policy, options, progress)
        out_dir = out or settings.state_dir / "reports" / report.scan_id
        wanted = [f.strip() for f in formats.split(",") if f.strip()]
        paths = write_reports(report, out_dir, wanted)
        if as_json:
            sys.stdout.write(to_json(report))
        else:
            print_summary(report, console)
            for fmt, file in paths.items():
                console.print(Text.assemble((f"{fmt:>5} report: ", "dim"), str(file)))
        raise typer.Exit(EXIT_CLEAN if report.passed else EXIT_FINDINGS)
