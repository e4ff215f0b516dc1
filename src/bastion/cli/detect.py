"""`bastion detect FILE|-`: PII and secrets in a text, or a column report for a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, command, console, err_console, fail, print_json


def register(app: typer.Typer) -> None:
    @app.command("detect")
    @command
    def detect_cmd(
        source: Annotated[str, typer.Argument(help="File to inspect, or '-' for standard input")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
        entities: Annotated[
            str | None, typer.Option("--entities", "-e", help="Comma-separated entity types to report")
        ] = None,
        min_score: Annotated[float, typer.Option("--min-score", help="Drop entities scoring below this")] = 0.5,
        custom: Annotated[
            Path | None, typer.Option("--recognizers", "-r", help="YAML with custom recognizers/deny/allow lists")
        ] = None,
        names: Annotated[bool, typer.Option("--names/--no-names", help="Use the names/places gazetteer")] = True,
        mode: Annotated[str, typer.Option("--as", help="auto, text or table")] = "auto",
        full: Annotated[bool, typer.Option("--full", help="Tables: scan every row, not a sample")] = False,
        sample: Annotated[int, typer.Option("--sample", help="Tables: rows to sample")] = 1000,
        estimate: Annotated[
            bool, typer.Option("--estimate", help="Tables with --full: stop a column once its shares are stable")
        ] = False,
        exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when something is found")] = False,
    ) -> None:
        """Find PII and secrets. Exit 1 when something is found, 2 on bad input."""
        from bastion.data import tables
        from bastion.data.detect import Detector, RecognizerConfigError

        if not 0.0 <= min_score <= 1.0:
            fail("--min-score must be between 0 and 1")
        if mode not in ("auto", "text", "table"):
            fail("--as must be one of: auto, text, table")
        try:
            det = (
                Detector.from_yaml(custom, names=names, min_score=min_score)
                if custom
                else Detector(names=names, min_score=min_score)
            )
        except RecognizerConfigError as exc:
            fail(str(exc))
        wanted = [e.strip() for e in entities.split(",") if e.strip()] if entities else None
        is_table = source != "-" and (mode == "table" or (mode == "auto" and tables.table_format(Path(source))))
        if is_table:
            report = tables.classify_table(Path(source), detector=det, full=full, sample_rows=sample, estimate=estimate,
                                           fmt=None if tables.table_format(Path(source)) else "csv")  # fmt: skip
            found = _show_table(report.to_dict(), as_json, wanted)
        else:
            found = _show_text(source, det, as_json, wanted)
        if found and not exit_zero:
            raise typer.Exit(EXIT_FINDINGS)


def _show_text(source: str, det: Any, as_json: bool, wanted: list[str] | None) -> int:
    from bastion.data.detect import scan_text_file

    if source == "-":
        result = scan_text_file(sys.stdin.buffer, det, entities=wanted)
    else:
        p = Path(source)
        if p.is_dir():
            fail(f"{p}: is a directory")
        with p.open("rb") as fh:
            result = scan_text_file(fh, det, entities=wanted)
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    rows = result.located
    if as_json:
        print_json({"source": source, "warnings": result.warnings,
                    "entities": [{**loc.entity.to_dict(), "line": loc.line, "column": loc.column}
                                 for loc in rows]})  # fmt: skip
        return len(rows)
    table = Table(title=f"sensitive data in {source}")
    for col in ("line:col", "type", "score", "value (masked)", "why"):
        table.add_column(col)
    for loc in rows:
        e = loc.entity
        table.add_row(f"{loc.line}:{loc.column}", e.entity_type, f"{e.score:.2f}", e.masked, e.explanation)
    console.print(table if rows else "[green]nothing found[/]")
    return len(rows)


def _show_table(report: dict[str, Any], as_json: bool, wanted: list[str] | None) -> int:
    found = 0
    for col in report["columns"]:
        if wanted is not None:
            col["entity_types"] = [t for t in col["entity_types"] if t in wanted]
        found += len(col["entity_types"])
    for w in report["warnings"]:
        err_console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    if as_json:
        print_json(report)
        return found
    scope = "all rows" if report["complete"] else f"first {report['rows_scanned']} rows"
    table = Table(title=f"columns of {report['path']} ({scope})")
    for c in ("column", "entity types", "share of rows", "examples (masked)", "name hints"):
        table.add_column(c)
    for col in report["columns"]:
        types = col["entity_types"]
        table.add_row(
            col["column"],
            ", ".join(types) or "-",
            ", ".join(f"{col['types'][t]['share']:.0%}" for t in types) or "-",
            "; ".join(", ".join(col["types"][t]["examples"][:2]) for t in types) or "-",
            ", ".join(col["hints"]) or "-",
        )
    console.print(table)
    return found
