"""`bastion registry ...`: the trusted registry of approved models, datasets and components."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bastion.cli._common import command, console, print_json, state

if TYPE_CHECKING:  # imported when a command runs: the registry pulls in the store and signing
    from bastion.model.registry import Artifact, Registry

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who is acting (default: config actor or $USER)")]


def _actor(actor: str | None) -> str:
    return actor or state.settings.who


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Trusted registry: register, validate, approve, deploy, retire.", no_args_is_help=True)
    app.add_typer(group, name="registry")

    def reg() -> Registry:
        from bastion.model.registry import Registry

        return Registry(state.store, state.settings.project)

    def show_one(a: Artifact, as_json: bool) -> None:
        if as_json:
            print_json(a.to_dict())
        else:
            approvers = ", ".join(x["actor"] for x in a.approvals) or "-"
            console.print(
                f"{a.ref} \\[{a.kind}, {a.risk} risk] state [bold]{a.state}[/]\n"
                f"  digest {a.digest}\n  signer {a.signer or '-'}\n  approvers {approvers}",
                soft_wrap=True,
            )

    @group.command("add")
    @command
    def add(
        path: Annotated[Path, typer.Argument(help="Artifact file or folder")],
        name: Annotated[str, typer.Option("--name", help="Registry name")],
        version: Annotated[str, typer.Option("--version", help="Version label")],
        kind: Annotated[str, typer.Option("--kind", help="model|dataset|component")] = "model",
        risk: Annotated[str, typer.Option("--risk", help="low|high (high needs two approvers)")] = "low",
        public_key: Annotated[
            Path | None, typer.Option("--public-key", "--public_key", help="Verify the signature with this key")
        ] = None,
        signature: Annotated[Path | None, typer.Option("--signature")] = None,
        scan: Annotated[
            bool, typer.Option("--scan/--no-scan", help="Run the model scanner and record the result")
        ] = True,
        actor: ActorOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Register an artifact by digest (draft); with --public-key, record the verified signer."""
        from bastion.model.sign import content_digest, verify_model

        who = _actor(actor)
        signer = None
        if public_key is not None:
            v = verify_model(path, signature, public_key=public_key, revoked=reg().revoked_fingerprints())
            if not v.ok:
                raise ValueError(f"signature does not verify: {v.problems[0].message}")
            signer = v.signer
        scan_result = None
        if scan:
            from bastion.model.scan import scan_file

            findings = scan_file(path)
            policy = state.policy()
            decision = policy.evaluate(findings)
            scan_result = {
                "passed": decision.passed,
                "findings": len(findings),
                "max_severity": max(findings, key=lambda f: f.severity).severity.label if findings else None,
            }
        art = reg().register(
            name=name,
            version=version,
            kind=kind,
            uri=str(path),
            digest=content_digest(path, ignore_paths=[signature] if signature else []),
            actor=who,
            risk=risk,
            signer=signer,
            scan=scan_result,
        )
        show_one(art, as_json)

    @group.command("list")
    @command
    def list_(
        state_: Annotated[str | None, typer.Option("--state", help="Only this lifecycle state")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List registered artifacts."""
        items = reg().list_artifacts(state_)
        if as_json:
            print_json([a.to_dict() for a in items])
            return
        table = Table(title="trusted registry")
        for col in ("artifact", "kind", "risk", "state", "digest", "signer"):
            table.add_column(col, overflow="fold")
        for a in items:
            table.add_row(a.ref, a.kind, a.risk, a.state, a.digest[:23], (a.signer or "-")[:16])
        console.print(table)

    @group.command("show")
    @command
    def show(ref: Annotated[str, typer.Argument(help="NAME@VERSION or id")], as_json: JsonOpt = False) -> None:
        """Show one artifact with its approvals and history."""
        a = reg().get(ref)
        if a is None:
            raise ValueError(f"artifact {ref} is not registered")
        if as_json:
            data = a.to_dict()
            data["history"] = reg().history(ref)
            print_json(data)
        else:
            show_one(a, False)
            for h in reg().history(ref):
                console.print(f"  {h['ts']}  {h['from']} -> {h['to']} by {h['actor']}", soft_wrap=True)

    @group.command("transition")
    @command
    def transition(
        ref: Annotated[str, typer.Argument(help="NAME@VERSION or id")],
        to: Annotated[str, typer.Argument(help="validated|deployed|retired|draft")],
        note: Annotated[str, typer.Option("--note")] = "",
        actor: ActorOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Move an artifact through its lifecycle (guarded by the registry policy)."""
        show_one(reg().transition(ref, to, actor=_actor(actor), note=note), as_json)

    @group.command("approve")
    @command
    def approve(
        ref: Annotated[str, typer.Argument(help="NAME@VERSION or id")],
        note: Annotated[str, typer.Option("--note")] = "",
        actor: ActorOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Approve a validated artifact; high-risk ones need a second, different approver."""
        show_one(reg().approve(ref, actor=_actor(actor), note=note), as_json)

    signer_app = typer.Typer(help="Trusted and revoked signers.", no_args_is_help=True)
    group.add_typer(signer_app, name="signer")

    @signer_app.command("add")
    @command
    def signer_add(
        fingerprint: Annotated[
            str, typer.Argument(help="Key fingerprint (sha256 of the PEM public key) or a .pub file")
        ],
        identity: Annotated[str, typer.Option("--identity", help="Who holds the key")],
        actor: ActorOpt = None,
    ) -> None:
        """Trust a signing key (once any signer is added, only trusted signers pass the gate)."""
        fp = _fingerprint(fingerprint)
        reg().add_signer(fp, identity, actor=_actor(actor))
        console.print(f"trusted signer {fp[:16]}... ({identity})", soft_wrap=True)

    @signer_app.command("revoke")
    @command
    def signer_revoke(
        fingerprint: Annotated[str, typer.Argument(help="Key fingerprint or a .pub file")],
        reason: Annotated[str, typer.Option("--reason", help="Why (kept in the registry)")],
        actor: ActorOpt = None,
    ) -> None:
        """Revoke a signing key: its signatures are rejected from now on."""
        fp = _fingerprint(fingerprint)
        reg().revoke_signer(fp, actor=_actor(actor), reason=reason)
        console.print(f"revoked signer {fp[:16]}...", soft_wrap=True)

    @signer_app.command("list")
    @command
    def signer_list(as_json: JsonOpt = False) -> None:
        """List trusted and revoked signers."""
        items = reg().signers()
        if as_json:
            print_json([s.to_dict() for s in items])
            return
        table = Table(title="signers")
        for col in ("fingerprint", "identity", "status", "added by"):
            table.add_column(col, overflow="fold")
        for s in items:
            table.add_row(s.fingerprint, s.identity, s.status, s.added_by)
        console.print(table)


def _fingerprint(value: str) -> str:
    p = Path(value)
    if p.suffix in (".pub", ".pem", ".crt") and p.is_file():
        from bastion.model.sign import fingerprint, load_public_key

        return fingerprint(load_public_key(p))
    return value.lower()
