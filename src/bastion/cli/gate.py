"""`bastion gate ARTIFACT --stage deploy`: the deployment gate for CI, pre-commit and people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bastion.cli._common import EXIT_FINDINGS, command, console, print_json, state
from bastion.core.types import Severity


def register(app: typer.Typer) -> None:
    @app.command("gate")
    @command
    def gate(
        artifact: Annotated[Path, typer.Argument(help="Model or dataset file or folder")],
        stage: Annotated[str, typer.Option("--stage", help="deploy|train|validate")] = "deploy",
        signature: Annotated[Path | None, typer.Option("--signature", help="Default: <artifact>.sig")] = None,
        public_key: Annotated[Path | None, typer.Option("--public-key", "--public_key", help="Pinned key")] = None,
        certificate_chain: Annotated[
            list[Path] | None, typer.Option("--certificate-chain", "--certificate_chain", help="Trusted roots")
        ] = None,
        identity: Annotated[str | None, typer.Option("--identity", help="Expected signer identity")] = None,
        identity_provider: Annotated[
            str | None, typer.Option("--identity-provider", "--identity_provider", help="Sigstore OIDC issuer")
        ] = None,
        trust_config: Annotated[Path | None, typer.Option("--trust-config", "--trust_config")] = None,
        policy: Annotated[Path | None, typer.Option("--policy", help="Policy file (scanner threshold)")] = None,
        fail_on: Annotated[str | None, typer.Option("--fail-on", help="Scanner threshold severity")] = None,
        sarif: Annotated[Path | None, typer.Option("--sarif", help="Write SARIF here")] = None,
        no_registry: Annotated[bool, typer.Option("--no-registry", help="Skip the registry check")] = False,
        no_scan: Annotated[bool, typer.Option("--no-scan", help="Skip the model scanner")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Block ARTIFACT unless it is signed by a trusted identity, untampered, approved and scan-clean."""
        from bastion.model.gate import check, default_scan
        from bastion.model.registry import Registry

        settings = state.settings
        active = state.policy(policy, Severity.parse(fail_on) if fail_on else None)
        registry = None if no_registry else Registry(state.store, settings.project)
        result = check(
            artifact,
            stage=stage,
            signature=signature,
            public_key=public_key,
            certificate_chain=certificate_chain or [],
            identity=identity,
            oidc_issuer=identity_provider,
            trust_config=trust_config,
            registry=registry,
            policy=active,
            scan=None if no_scan else default_scan,
            actor=settings.who,
        )
        if sarif is not None:
            result.write_sarif(sarif, settings.project)
        if as_json:
            print_json(result.to_dict())
        elif result.passed:
            where = f" ({result.registry['ref']}, {result.registry['state']})" if result.registry else ""
            console.print(f"[green]gate passed[/] for {stage}: {artifact}{where}", soft_wrap=True)
        else:
            console.print(f"[bold red]gate BLOCKED[/] {artifact} for {stage}:", soft_wrap=True)
            for reason in result.reasons:
                console.print(f"  - {reason}", soft_wrap=True, markup=False)
        if not result.passed:
            raise typer.Exit(EXIT_FINDINGS)
