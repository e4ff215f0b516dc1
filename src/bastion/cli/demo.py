"""`bastion demo`: the flagship scenario on the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bastion.cli._common import command, console, state
from bastion.cli._progress import progress_bar


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @command
    def demo(
        dest: Annotated[Path, typer.Option("--dir", help="Where to generate the sample project")] = Path(
            "bastion-demo"
        ),
    ) -> None:
        """Generate a bank's fraud-detection project with realistic mistakes, and scan it."""
        from bastion.demo import DEMO_PROJECT, run_demo
        from bastion.report import print_summary

        settings = state.settings
        console.rule("[bold]Bastion demo: fraud detection at Example Bank")
        console.print(
            "A bank's data-science team built a fraud model. Their project folder holds customer\n"
            "transactions, a training notebook, configs, a system prompt and two model files,\n"
            "one of them downloaded from a third party. Bastion discovers and checks all of it.\n"
        )
        with progress_bar() as progress:
            result = run_demo(
                dest.resolve(),
                state.store,
                state.policy(),
                actor=settings.who,
                report_dir=dest.resolve() / "reports",
                progress=progress,
            )
        console.print(Text.assemble(("1. Discover ", "bold"), f"{len(result.report.assets)} AI assets in {dest}/"))
        for asset in sorted(result.report.assets, key=lambda a: a.uri):
            console.print(Text(f"   {asset.kind.value:<12} {asset.format:<18} {asset.uri}"))
        console.print("\n[bold]2. Scan[/] secrets, personal data and malicious model code")
        print_summary(result.report, console)
        console.print("\n[bold]Reports[/]")
        for fmt, file in result.reports.items():
            console.print(Text(f"   {fmt:>5}: {file}"))
        console.print(
            f"\nEverything above is recorded in the store (project [bold]{DEMO_PROJECT}[/]) with a "
            "hash-chained audit log.\nTry: [bold]bastion audit verify[/], "
            f"[bold]bastion -p {DEMO_PROJECT} inventory list[/]"
        )
