"""The terminal summary `bastion scan` prints: counts, the worst findings, the verdict.

Every string from the report goes into Rich as `Text`, never as markup, so a
finding titled ``[red]...`` or carrying escape codes cannot restyle or spoof the
summary.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Severity

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _clean(value: str, limit: int = 160) -> Text:
    """Plain text with control characters (ANSI escapes, newlines) made visible and length bounded."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else "?" for ch in value)
    return Text(out if len(out) <= limit else out[: limit - 1] + "…")


def _where(f: Finding) -> Text:
    loc = f.location
    suffix = f":{loc.line}" if loc.line is not None else (f"#{loc.pointer}" if loc.pointer else "")
    return _clean(f"{f.asset_uri}{suffix}", 80)


def print_summary(report: ScanReport, console: Console, *, top: int = 10) -> None:
    """Counts by severity, the `top` worst findings, errors, and the policy decision."""
    summary = report.summary
    head = Text.assemble(
        ("scan ", "dim"),
        _clean(report.scan_id, 40),
        ("  project ", "dim"),
        _clean(report.project, 40),
        ("  assets ", "dim"),
        str(summary["assets"]),
        ("  findings ", "dim"),
        str(summary["total"]),
    )
    if report.finished_at is not None:
        head.append(f"  ({(report.finished_at - report.started_at).total_seconds():.1f} s)", "dim")
    console.print(head)

    counts = Text()
    for sev in sorted(Severity, reverse=True):
        n = summary["by_severity"][sev.label]
        counts.append(f" {sev.label} {n} ", _STYLE[sev] if n else "dim")
        counts.append(" ")
    console.print(counts)

    findings = report.sorted_findings()
    if findings:
        table = Table(show_header=True, header_style="bold", title=f"top {min(top, len(findings))} findings")
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("finding", overflow="fold")
        for f in findings[:top]:
            title = _clean(f.title, 120)
            if f.evidence:
                title.append("\n")
                title.append(_clean(f.evidence, 120).plain, "dim")
            table.add_row(Text(f.severity.label, _STYLE[f.severity]), _clean(f.rule_id, 40), _where(f), title)
        console.print(table)
        if len(findings) > top:
            console.print(Text(f"… and {len(findings) - top} more (see the JSON/SARIF/HTML reports)", "dim"))

    if report.errors:
        console.print(Text(f"{len(report.errors)} error(s) during the scan:", "bold red"))
        for err in report.errors[:5]:
            console.print(Text.assemble("  - ", _clean(err)))

    decision = report.decision
    if decision is None:
        return
    passed = bool(decision.get("passed"))
    body = Text(
        f"{'PASSED' if passed else 'FAILED'} (fail threshold: {decision.get('threshold', '?')})",
        "bold green" if passed else "bold red",
    )
    for reason in list(decision.get("reasons") or [])[:10]:
        body.append("\n- ")
        body.append(_clean(str(reason)).plain)
    console.print(Panel(body, title="policy", border_style="green" if passed else "red", expand=False))
