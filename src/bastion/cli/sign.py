"""`bastion sign ...` and `bastion verify ...`: OpenSSF model signatures for models and datasets.

Flags follow the upstream `model_signing` CLI (`--signature`, `--private_key`,
`--public_key`, `--certificate_chain`, `--ignore-paths`, `--allow_symlinks`, ...);
dashed spellings (`--private-key`) are accepted too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bastion.cli._common import EXIT_FINDINGS, UserError, command, console, err_console, print_json, state

SigOpt = Annotated[
    Path | None, typer.Option("--signature", help="Signature file (default: <model>.sig next to the model)")
]
IgnoreOpt = Annotated[list[Path] | None, typer.Option("--ignore-paths", help="Paths to leave out (repeatable)")]
GitOpt = Annotated[bool, typer.Option("--ignore-git-paths/--no-ignore-git-paths", help="Leave out .git* files")]
SymOpt = Annotated[bool, typer.Option("--allow_symlinks", "--allow-symlinks", help="Hash symlinks inside the model")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
AlgoOpt = Annotated[str, typer.Option("--hash-algorithm", help="sha256 (default), blake2 or blake3")]
ShardOpt = Annotated[
    int | None, typer.Option("--shard-size", min=1, help="Hash in shards of this many bytes (parallel per file)")
]
WorkersOpt = Annotated[int | None, typer.Option("--workers", min=1, max=256, help="Hashing threads")]
RevokedOpt = Annotated[
    list[str] | None, typer.Option("--revoked", help="Reject this key fingerprint (repeatable); adds to the registry's")
]


def _record(result: Any) -> None:
    from bastion.model.sign import record_event

    settings = state.settings
    record_event(state.store, settings.project, settings.who, result)


def _sign_out(result: Any, as_json: bool) -> None:
    _record(result)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"[green]signed[/] {result.model} -> {result.signature}\n"
        f"  {result.files} file(s), {result.bytes_hashed / 1e6:.1f} MB in {result.seconds:.2f}s, "
        f"signer {result.signer[:32]}, root sha256:{result.root_digest[:16]}...",
        soft_wrap=True,
    )


def _verify_out(result: Any, as_json: bool, payload: dict[str, Any] | None = None) -> None:
    _record(result)
    if as_json:
        print_json(payload or result.to_dict())
    elif result.ok:
        console.print(
            f"[green]verified[/] {result.model}: {result.files_checked} file(s), signer {str(result.signer)[:32]}",
            soft_wrap=True,
        )
    else:
        table = Table(title=f"verification FAILED: {result.model}")
        table.add_column("rule", style="bold red")
        table.add_column("file")
        table.add_column("reason", overflow="fold")
        for p in result.problems:
            table.add_row(p.rule_id, p.path or "", p.message)
        console.print(table)
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _revoked(extra: list[str] | None) -> set[str]:
    from bastion.model.registry import Registry

    found = {r.lower() for r in extra or []}
    found |= Registry(state.store, state.settings.project).revoked_fingerprints()
    return found


def _spec(algorithm: str, shard_size: int | None) -> dict[str, Any]:
    return {"method": "shards" if shard_size else "files", "algorithm": algorithm, "shard_size": shard_size or 10**9}


def register(app: typer.Typer) -> None:
    sign_app = typer.Typer(help="Sign models and datasets (OpenSSF model-signing format).", no_args_is_help=True)
    verify_app = typer.Typer(help="Verify model and dataset signatures.", no_args_is_help=True)
    app.add_typer(sign_app, name="sign")
    app.add_typer(verify_app, name="verify")

    @sign_app.command("key")
    @command
    def sign_key(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        private_key: Annotated[Path, typer.Option("--private_key", "--private-key", help="PEM private key")],
        signature: SigOpt = None,
        password: Annotated[
            str | None, typer.Option("--password", help="Key password", envvar="BASTION_KEY_PASSWORD")
        ] = None,
        ignore_paths: IgnoreOpt = None,
        ignore_git_paths: GitOpt = True,
        allow_symlinks: SymOpt = False,
        algorithm: AlgoOpt = "sha256",
        shard_size: ShardOpt = None,
        workers: WorkersOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Sign MODEL with an ECDSA (P-256/384/521) or Ed25519 private key."""
        from bastion.model.sign import sign_model

        result = sign_model(
            model,
            signature,
            private_key=private_key,
            password=password,
            ignore_paths=ignore_paths or [],
            ignore_git_paths=ignore_git_paths,
            allow_symlinks=allow_symlinks,
            workers=workers,
            **_spec(algorithm, shard_size),
        )
        _sign_out(result, as_json)

    @sign_app.command("certificate")
    @command
    def sign_certificate(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        private_key: Annotated[Path, typer.Option("--private_key", "--private-key", help="PEM private key")],
        signing_certificate: Annotated[
            Path, typer.Option("--signing_certificate", "--signing-certificate", help="PEM signing certificate")
        ],
        certificate_chain: Annotated[
            list[Path] | None,
            typer.Option("--certificate_chain", "--certificate-chain", help="PEM chain certificates (repeatable)"),
        ] = None,
        signature: SigOpt = None,
        ignore_paths: IgnoreOpt = None,
        ignore_git_paths: GitOpt = True,
        allow_symlinks: SymOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Sign MODEL with a key and its certificate (the chain is embedded for verifiers)."""
        from bastion.model.sign import sign_model

        result = sign_model(
            model,
            signature,
            private_key=private_key,
            signing_certificate=signing_certificate,
            certificate_chain=certificate_chain or [],
            ignore_paths=ignore_paths or [],
            ignore_git_paths=ignore_git_paths,
            allow_symlinks=allow_symlinks,
        )
        _sign_out(result, as_json)

    @sign_app.command("pkcs11-key")
    @command
    def sign_pkcs11(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        pkcs11_uri: Annotated[str, typer.Option("--pkcs11_uri", "--pkcs11-uri", help="RFC 7512 PKCS#11 URI")],
        module_path: Annotated[
            list[str] | None, typer.Option("--module_path", "--module-path", help="PKCS#11 module (.so)")
        ] = None,
        signature: SigOpt = None,
        ignore_paths: IgnoreOpt = None,
        ignore_git_paths: GitOpt = True,
        allow_symlinks: SymOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Sign MODEL with an ECDSA key held in an HSM or token (SoftHSM2 in tests)."""
        from bastion.model.sign import sign_model

        result = sign_model(
            model,
            signature,
            pkcs11_uri=pkcs11_uri,
            module_paths=module_path or [],
            ignore_paths=ignore_paths or [],
            ignore_git_paths=ignore_git_paths,
            allow_symlinks=allow_symlinks,
        )
        _sign_out(result, as_json)

    @sign_app.command("keygen")
    @command
    def keygen(
        out: Annotated[Path, typer.Option("--out", "-o", help="Private key path; the public key gets .pub")],
        key_type: Annotated[
            str, typer.Option("--type", help="ecdsa-p256|ecdsa-p384|ecdsa-p521|ed25519")
        ] = "ecdsa-p256",
        password: Annotated[str | None, typer.Option("--password", envvar="BASTION_KEY_PASSWORD")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace existing key files")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a signing key pair (the private key owner-only; existing files are kept unless --force)."""
        from bastion.model.sign import generate, write_keypair

        pub = out.with_suffix(".pub")
        if pub.resolve() == out.resolve():
            raise UserError(f"{out}: the public key would be written over the private key; use e.g. -o release.pem")
        if not force:
            for path in (out, pub):
                if path.exists() or path.is_symlink():
                    raise UserError(f"{path} already exists; refusing to overwrite a key (use --force)")
        fp = write_keypair(generate(key_type), out, pub, password, overwrite=force)  # type: ignore[arg-type]
        if as_json:
            print_json({"private_key": str(out), "public_key": str(pub), "fingerprint": fp})
        else:
            console.print(f"wrote {out} and {pub}\nfingerprint {fp}", soft_wrap=True)

    @sign_app.command("dataset")
    @command
    def sign_dataset_cmd(
        dataset: Annotated[Path, typer.Argument(help="Dataset file or folder")],
        private_key: Annotated[Path, typer.Option("--private_key", "--private-key", help="PEM private key")],
        source: Annotated[str, typer.Option("--source", help="Where the data came from")],
        license_: Annotated[str, typer.Option("--license", help="Licence (SPDX id or text)")],
        collected: Annotated[str, typer.Option("--collected", help="Collection date, YYYY-MM-DD")],
        collector: Annotated[str, typer.Option("--collector", help="Who collected it")],
        transformation: Annotated[
            list[str] | None, typer.Option("--transformation", help="Applied step, e.g. 'protected by policy P'")
        ] = None,
        chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Lines per CSV/JSONL chunk")] = 100_000,
        signature: SigOpt = None,
        password: Annotated[str | None, typer.Option("--password", envvar="BASTION_KEY_PASSWORD")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Sign a dataset with provenance and per-file, per-chunk digests."""
        from bastion.data.manifest import sign_dataset

        result = sign_dataset(
            dataset,
            signature,
            private_key=private_key,
            password=password,
            chunk_rows=chunk_rows,
            provenance={
                "source": source,
                "license": license_,
                "collected": collected,
                "collector": collector,
                "transformations": transformation or [],
            },
        )
        _sign_out(result, as_json)

    @verify_app.command("key")
    @command
    def verify_key(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        public_key: Annotated[Path, typer.Option("--public_key", "--public-key", help="Pinned PEM public key")],
        signature: SigOpt = None,
        ignore_paths: IgnoreOpt = None,
        ignore_git_paths: GitOpt = True,
        ignore_unsigned_files: Annotated[
            bool, typer.Option("--ignore_unsigned_files/--no-ignore_unsigned_files", help="Skip files not signed")
        ] = False,
        revoked: RevokedOpt = None,
        workers: WorkersOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Verify MODEL against a signature made with the pinned key."""
        from bastion.model.sign import verify_model

        result = verify_model(
            model,
            signature,
            public_key=public_key,
            ignore_paths=ignore_paths or [],
            ignore_git_paths=ignore_git_paths,
            ignore_unsigned_files=ignore_unsigned_files,
            revoked=_revoked(revoked),
            workers=workers,
        )
        _verify_out(result, as_json)

    @verify_app.command("certificate")
    @command
    def verify_certificate(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        certificate_chain: Annotated[
            list[Path], typer.Option("--certificate_chain", "--certificate-chain", help="Trusted PEM roots/chain")
        ],
        identity: Annotated[
            str | None, typer.Option("--identity", help="Expected signer (SAN email/URI/DNS or subject CN)")
        ] = None,
        signature: SigOpt = None,
        ignore_paths: IgnoreOpt = None,
        ignore_git_paths: GitOpt = True,
        revoked: RevokedOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Verify MODEL against a certificate-signed signature that chains to the given roots."""
        from bastion.model.sign import verify_model

        result = verify_model(
            model,
            signature,
            certificate_chain=certificate_chain,
            identity=identity,
            ignore_paths=ignore_paths or [],
            ignore_git_paths=ignore_git_paths,
            revoked=_revoked(revoked),
        )
        _verify_out(result, as_json)

    @verify_app.command("sigstore")
    @command
    def verify_sigstore(
        model: Annotated[Path, typer.Argument(help="Model file or folder")],
        identity: Annotated[str, typer.Option("--identity", help="Expected signer identity")],
        identity_provider: Annotated[
            str, typer.Option("--identity_provider", "--identity-provider", help="Expected OIDC issuer")
        ],
        signature: SigOpt = None,
        trust_config: Annotated[
            Path | None, typer.Option("--trust_config", "--trust-config", help="Sigstore client trust config JSON")
        ] = None,
        use_staging: Annotated[bool, typer.Option("--use_staging", "--use-staging")] = False,
        ignore_paths: IgnoreOpt = None,
        revoked: RevokedOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Verify a Sigstore-signed MODEL offline (cached public-good root, or --trust_config)."""
        from bastion.model.sign import verify_model

        result = verify_model(
            model,
            signature,
            identity=identity,
            oidc_issuer=identity_provider,
            trust_config=trust_config,
            use_staging=use_staging,
            ignore_paths=ignore_paths or [],
            revoked=_revoked(revoked),
        )
        _verify_out(result, as_json)

    @verify_app.command("dataset")
    @command
    def verify_dataset_cmd(
        dataset: Annotated[Path, typer.Argument(help="Dataset file or folder")],
        public_key: Annotated[Path, typer.Option("--public_key", "--public-key", help="Pinned PEM public key")],
        signature: SigOpt = None,
        revoked: RevokedOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check a dataset before training: signature, files, changed rows and provenance."""
        from bastion.data.manifest import verify_dataset

        result = verify_dataset(dataset, signature, public_key=public_key, revoked=sorted(_revoked(revoked)))
        if result.ok and not as_json and result.provenance:
            p = result.provenance
            err_console.print(
                f"provenance: {p['source']} ({p['license']}), collected {p['collected']} by {p['collector']}"
                + (f"; {', '.join(p['transformations'])}" if p["transformations"] else ""),
                soft_wrap=True,
            )
        _verify_out(result.verify, as_json, result.to_dict())
