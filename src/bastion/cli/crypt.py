"""`bastion encrypt | decrypt` for files and folders (streaming AES-256-GCM, envelope keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bastion.cli._common import command, console, print_json
from bastion.cli.keys import manager, principal


def register(app: typer.Typer) -> None:
    @app.command("encrypt")
    @command
    def encrypt(
        src: Annotated[Path, typer.Argument(help="File or folder to encrypt")],
        key: Annotated[str, typer.Option("--key", "-k", help="Key id (bastion keys create)")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file or folder")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Encrypt at rest: one data key per file, wrapped by KEY; folders keep their layout (.benc added).

        A folder's files are bound to their paths and listed in a sealed .bastion-manifest,
        so decrypt refuses swapped, moved, replaced, removed or added files.
        """
        from bastion.crypto import aead

        keys, who = manager(), principal()
        if src.is_dir():
            results = aead.encrypt_tree(
                src, out or src.with_name(src.name + "-encrypted"), keys=keys, key_id=key, who=who
            )
        else:
            results = [
                aead.encrypt_file(src, out or src.with_name(src.name + aead.SUFFIX), keys=keys, key_id=key, who=who)
            ]
        if as_json:
            print_json([r.to_dict() for r in results])
        else:
            total = sum(r.bytes_in for r in results)
            console.print(f"encrypted {len(results)} file(s), {total} bytes, under key [bold]{key}[/]", soft_wrap=True)

    @app.command("decrypt")
    @command
    def decrypt(
        src: Annotated[Path, typer.Argument(help="Encrypted file or folder")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output file or folder")],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Decrypt; verifies every chunk (and a folder's manifest and paths first); writes nothing if a check fails."""
        from bastion.crypto import aead

        keys, who = manager(), principal()
        if src.is_dir():
            results = aead.decrypt_tree(src, out, keys=keys, who=who)
        else:
            results = [aead.decrypt_file(src, out, keys=keys, who=who)]
        if as_json:
            print_json([r.to_dict() for r in results])
        else:
            console.print(f"decrypted {len(results)} file(s) to {out}", soft_wrap=True)
