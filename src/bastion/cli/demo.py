"""`bastion demo`: the flagship scenario on the embedded store, narrated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bastion.cli._common import command, console, state
from bastion.cli._progress import progress_bar


def say(text: Text) -> None:
    """Narrative lines are never hard-wrapped, so piped output keeps whole sentences."""
    console.print(text, soft_wrap=True)


def _step(title: str, body: str = "") -> None:
    say(Text.assemble(("\n" + title, "bold cyan")))
    if body:
        say(Text(body))


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @command
    def demo(
        dest: Annotated[Path, typer.Option("--dir", help="Where to generate the sample project")] = Path(
            "bastion-demo"
        ),
    ) -> None:
        """Generate a bank's fraud-detection project with realistic mistakes and take it through its lifecycle."""
        from bastion.demo import DEMO_PROJECT, run_demo
        from bastion.report import print_summary

        settings = state.settings
        root = dest.resolve()
        console.rule("[bold]Bastion demo: fraud detection at Example Bank")
        say(
            Text(
                "A bank's data-science team built a fraud model. Their project folder holds customer\n"
                "transactions, a training notebook, configs, a system prompt and two model files,\n"
                "one of them downloaded from a third party. Bastion takes it from discovery to retirement."
            )
        )
        with progress_bar() as progress:
            result = run_demo(
                root, state.store, state.policy(), actor=settings.who, report_dir=root / "reports", progress=progress
            )
        report = result.report
        _step(f"1. Discover: {len(report.assets)} AI assets, identified by content")
        for asset in sorted(report.assets, key=lambda a: a.uri):
            say(Text(f"   {asset.kind.value:<12} {asset.format:<18} {asset.uri}"))

        _step("2. Scan: secrets, personal data, malicious model code, sprawl")
        print_summary(report, console)
        for fmt, file in result.reports.items():
            say(Text(f"   {fmt:>5} report: {file}"))

        changed = result.protect["protect"]
        _step(
            "3. Protect: the transactions table is de-identified and encrypted at rest",
            f"   names -> consistent fake names, emails -> vault tokens, card numbers -> FF1 (still 16 digits),\n"
            f"   IBANs -> keyed HMAC, phones masked, addresses removed: {changed.get('changed_values', '?')} values.\n"
            f"   The original is encrypted (AES-256-GCM, envelope key) at {result.protect['encrypted_path']}\n"
            "   and the plaintext is gone.",
        )
        if result.rescan is not None:
            sev = result.rescan.summary["by_severity"]
            say(
                Text(
                    f"   Rescan of data/: {result.rescan.summary['total']} findings "
                    f"(critical {sev['critical']}, high {sev['high']}); decision: "
                    f"{'passed' if result.rescan.passed else 'failed'}.\n"
                    "   The plaintext PII is gone; the pseudonymised copy is still personal data under GDPR,\n"
                    "   so it stays flagged until it is encrypted too or a policy rule accepts it with a reason."
                )
            )

        supply = result.supply
        _step(
            "4. Sign, approve, gate",
            "   The model is signed (OpenSSF model-signing format), registered as high-risk and approved by\n"
            "   two people. The deployment gate "
            + ("passes." if supply.passed_before else "blocks (unexpected).")
            + "\n   An attacker flips one byte of the weights; the gate now "
            + ("passes (unexpected)." if supply.passed_after else "blocks:"),
        )
        for reason in supply.reasons_after[:4]:
            say(Text(f"   - {reason}"))

        gw = result.gateway
        _step(
            "5. Serve behind the guarded gateway (OpenAI-compatible, in-process for the demo)",
            f"   A prompt with a customer's e-mail and IBAN: the model saw {gw['upstream_saw']!r};\n"
            f"   the caller got the real values back: {gw['caller_got_restored_answer']}.\n"
            f"   A prompt-injection attempt: HTTP {gw['injection_status']}. Another bank's key: "
            f"HTTP {gw['other_tenant_status']}.\n"
            f"   Over the rate limit: HTTP {gw['statuses_under_limit'][-1]}. "
            f"{gw['requests_logged']} requests logged; request log intact: {gw['request_log_intact']}.",
        )

        _step("6. Document", f"   CycloneDX 1.6 AI-BOM: {result.bom}")

        retire = result.retire
        _step(
            "7. Retire: crypto-shred the table's key",
            f"   {retire['data_keys_destroyed']} data key(s) and {retire['vault_entries_destroyed']} vault entries "
            "destroyed; the encrypted table is "
            + ("STILL readable (unexpected)." if retire["recoverable"] else "now unrecoverable."),
        )

        audit = result.audit
        _step(
            "8. Audit",
            f"   {audit.events_checked} events in the hash chain, {audit.checkpoints_checked} signed checkpoints: "
            + ("intact." if audit.ok else "TAMPERED."),
        )
        say(
            Text.assemble(
                "\nEverything is in the store (project ",
                (DEMO_PROJECT, "bold"),
                "). Try: bastion audit verify, bastion -p fraud-demo inventory list, "
                "bastion -p fraud-demo registry list",
            )
        )
