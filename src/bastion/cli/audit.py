"""`bastion audit verify | export | log | checkpoint`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, command, console, fail, print_json, state


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Verify, export and read the tamper-evident audit log.", no_args_is_help=True)
    app.add_typer(group, name="audit")

    @group.command("verify")
    @command
    def verify(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
        """Recompute the hash chain and check signed checkpoints; exit 1 if anything was tampered with."""
        from bastion.core.audit import AuditError

        try:
            report = state.store.audit.verify()
        except AuditError as exc:
            fail(str(exc))
        if as_json:
            print_json(report.to_dict())
        elif report.ok:
            console.print(
                f"[green]audit log intact[/]: {report.events_checked} events, "
                f"{report.checkpoints_checked} signed checkpoints"
                + (f", head seq {report.head_seq}" if report.head_seq else "")
            )
        else:
            n = len(report.problems)
            table = Table(title=f"audit log TAMPERED ({n} problem{'' if n == 1 else 's'})")
            table.add_column("seq", justify="right")
            table.add_column("problem", style="bold red")
            table.add_column("detail")
            for p in report.problems:
                table.add_row(str(p.seq), p.kind, p.message)
            console.print(table)
            console.print(f"{report.events_checked} events, {report.checkpoints_checked} checkpoints checked")
        if not report.ok:
            raise typer.Exit(EXIT_FINDINGS)

    @group.command("export")
    @command
    def export(
        out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout)")] = None,
        project: Annotated[str | None, typer.Option("--project", help="Only this project's events")] = None,
    ) -> None:
        """Write the events as JSON Lines, hashes included, so others can re-verify the chain."""
        log = state.store.audit
        if out is None:
            log.export(sys.stdout, project)
            return
        with out.open("w", encoding="utf-8") as fh:
            count = log.export(fh, project)
        console.print(f"exported {count} events to {out}", soft_wrap=True)

    @group.command("log")
    @command
    def show(
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="Newest N events")] = 20,
        project: Annotated[str | None, typer.Option("--project", help="Only this project's events")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Show the newest events."""
        events = state.store.audit.tail(limit, project)
        if as_json:
            print_json([e.to_dict() for e in events])
            return
        table = Table(title="audit log")
        for col in ("seq", "time (UTC)", "project", "kind", "actor", "subject", "hash"):
            table.add_column(col, overflow="fold")
        for e in events:
            table.add_row(
                str(e.seq),
                e.ts.strftime("%Y-%m-%d %H:%M:%S"),
                e.project,
                e.kind,
                e.actor,
                e.subject,
                e.hash[:12],
            )
        console.print(table)

    @group.command("checkpoint")
    @command
    def checkpoint(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
        """Sign the current head now (also done after every scan and every 1000 events)."""
        from bastion.core.audit import AuditError

        try:
            cp = state.store.audit.checkpoint()
        except AuditError as exc:
            fail(str(exc))
        if as_json:
            print_json(cp.to_dict() if cp else None)
        elif cp is None:
            console.print("audit log is empty: nothing to sign")
        else:
            console.print(f"checkpoint #{cp.id}: seq {cp.seq} hash {cp.hash[:16]}… key {cp.key_id}")
