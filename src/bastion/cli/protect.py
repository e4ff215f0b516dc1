"""`bastion protect | unprotect | minimize`: de-identify datasets and find data a model does not need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, command, console, print_json, state
from bastion.cli.keys import manager, principal


def register(app: typer.Typer) -> None:
    @app.command("protect")
    @command
    def protect(
        dataset: Annotated[Path, typer.Argument(help="CSV, JSONL or Parquet dataset")],
        policy: Annotated[Path, typer.Option("--policy", "-P", help="YAML/JSON column policy")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Protected dataset to write")],
        report: Annotated[Path | None, typer.Option("--report", help="JSON report (default: OUT.report.json)")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Write a protected copy of DATASET per the policy, and a report of what changed."""
        from bastion.data.protect import protect_table

        rep_path = report or out.with_name(out.name + ".report.json")
        rep = protect_table(dataset, policy, out, keys=manager(), who=principal(), report_path=rep_path)
        if as_json:
            print_json(rep.to_dict())
            return
        table = Table(title=f"protected {rep.rows} rows -> {out}")
        for col in ("column", "operator", "changed", "empty", "reversible"):
            table.add_column(col)
        for c in rep.columns:
            table.add_row(
                c["column"],
                c["op"],
                str(c.get("changed", c.get("entities_replaced", 0))),
                str(c["empty"]),
                "yes" if c.get("reversible") else "",
            )
        console.print(table)
        console.print(f"report: {rep_path}", soft_wrap=True)

    @app.command("unprotect")
    @command
    def unprotect(
        dataset: Annotated[Path, typer.Argument(help="A dataset written by bastion protect")],
        policy: Annotated[Path, typer.Option("--policy", "-P")],
        out: Annotated[Path, typer.Option("--out", "-o")],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Reverse tokenize / fpe / encrypt columns (needs the data-owner role); one-way columns stay."""
        from bastion.data.protect import unprotect_table

        rep = unprotect_table(dataset, policy, out, keys=manager(), who=principal())
        if as_json:
            print_json(rep.to_dict())
        else:
            console.print(f"restored {rep.rows} rows to {out}", soft_wrap=True)

    @app.command("minimize")
    @command
    def minimize(
        dataset: Annotated[Path, typer.Argument(help="Training dataset")],
        features: Annotated[str | None, typer.Option("--features", help="Comma-separated model features")] = None,
        config: Annotated[Path | None, typer.Option("--training-config", help="YAML/JSON with 'features'")] = None,
        retention: Annotated[list[str] | None, typer.Option("--retention", help="CLASS=DAYS, repeatable")] = None,
        ts_col: Annotated[str | None, typer.Option("--timestamp-column")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Report sensitive columns the model does not need and rows past retention; exit 1 on findings."""
        from bastion.data.protect import minimize_dataset

        rules: dict[str, int] = {}
        for item in retention or []:
            cls_, _, days = item.partition("=")
            if not days.isdigit():
                raise ValueError(f"--retention expects CLASS=DAYS, got {item!r}")
            rules[cls_.strip().upper() if cls_.strip() != "*" else "*"] = int(days)
        feats = [f.strip() for f in features.split(",") if f.strip()] if features else None
        rep = minimize_dataset(
            dataset, features=feats, training_config=config, retention=rules or None, timestamp_column=ts_col
        )
        if as_json:
            print_json(rep.to_dict())
        else:
            for f in rep.findings:
                console.print(f"[{f.severity.label}] {f.title}: {f.evidence}", soft_wrap=True, markup=False)
            if rep.unused_sensitive:
                console.print("suggested policy (bastion protect --policy):")
                console.print(json.dumps(rep.suggested_policy(), indent=2), markup=False)
        threshold = state.settings.fail_on
        if any(f.severity >= threshold for f in rep.findings):
            raise typer.Exit(EXIT_FINDINGS)
