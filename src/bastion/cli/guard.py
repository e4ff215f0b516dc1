"""`bastion guard FILE` (offline injection/jailbreak scoring) and `bastion monitor` (drift and alerts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, command, console, fail, print_json, state


def register(app: typer.Typer) -> None:
    @app.command("guard")
    @command
    def guard_cmd(
        source: Annotated[str, typer.Argument(help="JSON Lines of {id, text} (or plain lines), or '-' for stdin")],
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input line")] = False,
        threshold: Annotated[float | None, typer.Option("--threshold", help="Override the model threshold")] = None,
        content: Annotated[str, typer.Option("--source", help="user, or document/tool/web for indirect content")] = (
            "user"
        ),
        exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when inputs are blocked")] = False,
        no_encoder: Annotated[
            bool, typer.Option("--no-encoder", help="The n-gram stage alone (faster, weaker on paraphrases)")
        ] = False,
        budget_ms: Annotated[
            float | None,
            typer.Option("--budget-ms", help="Time budget per input; past it the verdict is 'timeout' (default: none)"),
        ] = None,
    ) -> None:
        """Score prompts for injection/jailbreak. Exit 1 when any is blocked or not judged, 2 on bad input."""
        from bastion.guard import InjectionDetector, ModelError, guard_lines

        if threshold is not None and not 0.0 < threshold < 1.0:
            fail("--threshold must be between 0 and 1")
        if budget_ms is not None and budget_ms <= 0:
            fail("--budget-ms must be positive")
        try:
            # Offline scoring has no request waiting on it: by default every input is judged in full.
            det = InjectionDetector(
                threshold=threshold,
                indirect_threshold=threshold,
                encoder=False if no_encoder else None,
                budget_ms=budget_ms,
            )
        except ModelError as exc:
            fail(str(exc))
        if source == "-":
            stream = sys.stdin
        else:
            path = Path(source)
            if path.is_dir():
                fail(f"{path}: is a directory")
            stream = path.open(encoding="utf-8", errors="replace")
        blocked = errors = timeouts = total = 0
        rows = []
        with stream:
            for res in guard_lines(stream, det, source=content):
                total += 1
                blocked += res["verdict"] == "block"
                errors += res["verdict"] == "error"
                timeouts += res["verdict"] == "timeout"
                if as_json:
                    sys.stdout.write(json.dumps(res) + "\n")
                else:
                    rows.append(res)
        if not as_json:
            late = f", {timeouts} timed out" if timeouts else ""
            table = Table(title=f"injection guard: {blocked}/{total} blocked{late}")
            for col in ("id", "score", "verdict", "encoder", "signals"):
                table.add_column(col)
            for r in rows:
                signals = ", ".join(r.get("heuristics", []) + r.get("flags", [])) or r.get("error", "")
                style = {"block": "red", "error": "yellow", "timeout": "yellow"}.get(r["verdict"], "")
                table.add_row(str(r["id"]), "" if r["score"] is None else f"{r['score']:.3f}",
                              f"[{style}]{r['verdict']}[/]" if style else r["verdict"], r.get("encoder") or "",
                              signals)  # fmt: skip
            console.print(table)
        if (blocked or errors or timeouts) and not exit_zero:
            raise typer.Exit(EXIT_FINDINGS)

    @app.command("monitor")
    @command
    def monitor_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
        metrics: Annotated[bool, typer.Option("--metrics", help="Prometheus text format (as on /metrics)")] = False,
        limit: Annotated[int, typer.Option("--alerts", help="Recent alerts to show")] = 20,
    ) -> None:
        """Drift monitors (latest window per monitor) and recent de-duplicated alerts."""
        from bastion.guard import list_alerts, list_monitors, prometheus_text

        store = state.store
        project = state.settings.project
        if metrics:
            sys.stdout.write(prometheus_text(store, project))
            return
        mons = list_monitors(store, project)
        alerts = list_alerts(store, project, limit=max(0, limit))
        if as_json:
            print_json({"project": project, "monitors": mons, "alerts": alerts})
            return
        table = Table(title=f"drift monitors ({project})")
        for col in ("monitor", "features", "windows", "drifted", "last", "max score", "drifted features"):
            table.add_column(col)
        for m in mons:
            last = "-" if m["last_drifted"] is None else ("[red]drift[/]" if m["last_drifted"] else "ok")
            score = "-" if m["last_max_score"] is None else f"{m['last_max_score']:.3f}"
            table.add_row(m["name"], str(m["features"]), str(m["windows"]), str(m["drifted_windows"]), last, score,
                          ", ".join(m["last_drifted_features"][:6]))  # fmt: skip
        console.print(table)
        at = Table(title="recent alerts")
        for col in ("kind", "subject", "severity", "count", "last seen"):
            at.add_column(col)
        for a in alerts:
            at.add_row(a["kind"], a["subject"], a["severity"], str(a["count"]), a["last_seen"])
        console.print(at)
