"""`bastion controls list|show`: browse the control catalog that findings cite."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bastion.cli._common import command, console, print_json


def _as_dict(control: object) -> dict[str, object]:
    from bastion.core.types import Control

    assert isinstance(control, Control)
    return {
        "ref": control.ref,
        "framework": control.framework,
        "id": control.id,
        "title": control.title,
        "kind": control.kind,
        "url": control.url,
    }


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Browse the control catalog (OWASP, ATLAS, NIST AI RMF, EU AI Act, GDPR, ISO 42001).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="controls")

    @group.command("list")
    @command
    def list_(
        framework: Annotated[
            str | None, typer.Option("--framework", "-f", help="Only this framework (e.g. owasp-llm, atlas)")
        ] = None,
        kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (e.g. technique, mitigation)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """List controls, all frameworks or one."""
        from bastion.core.controls import catalog

        controls = catalog().list(framework)
        if kind is not None:
            controls = [c for c in controls if (c.kind or "").casefold() == kind.casefold()]
        if as_json:
            print_json([_as_dict(c) for c in controls])
            return
        title = f"controls: {framework}" if framework else "control catalog"
        table = Table(title=f"{title} ({len(controls)})", show_header=True)
        table.add_column("ref", no_wrap=True, style="bold")
        table.add_column("kind")
        table.add_column("title")
        for c in controls:
            table.add_row(Text(c.ref), Text(c.kind or ""), Text(c.title))
        console.print(table)

    @group.command("show")
    @command
    def show(
        ref: Annotated[str, typer.Argument(help="Control reference, e.g. owasp-llm:LLM01 or nist-ai-rmf:GV-1.6")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Show one control (aliases such as GV-1.6 or 'Article 10' resolve)."""
        from bastion.core.controls import catalog

        cat = catalog()
        control = cat.get(ref)
        fw = cat.framework(control.framework)
        data = _as_dict(control) | {"framework_name": fw.name, "framework_version": fw.version}
        if as_json:
            print_json(data)
            return
        table = Table(show_header=False, title=Text(control.ref))
        table.add_column("field", style="bold")
        table.add_column("value")
        table.add_row("framework", Text(f"{fw.name} {fw.version}".strip()))
        table.add_row("id", Text(control.id))
        table.add_row("kind", Text(control.kind or ""))
        table.add_row("title", Text(control.title))
        table.add_row("url", Text(control.url or ""))
        console.print(table)
