"""CLI start-up stays light: heavy libraries are imported by the command that needs them, not by `--help`.

Checked through `sys.modules` in a fresh interpreter, not by timing: a wall-clock
assertion would fail on a loaded machine and pass a regression on a fast one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Each of these costs tens to hundreds of milliseconds to import (measured with -X importtime).
HEAVY = (
    "numpy",
    "pyarrow",
    "pandas",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "yaml",
    "cryptography.hazmat",
    "OpenSSL",
    "model_signing",
    "sigstore",
    "sigstore_models",
    "google.protobuf",
    "onnxruntime",
    "torch",
    "tokenizers",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "casbin",
    "re2",
    "blake3",
    "bastion.core.store",
    "bastion.core.audit",
    "bastion.core.config",
    "bastion.scan",
    "bastion.crypto.keys",
    "bastion.data.protect",
    "bastion.data.detect",
    "bastion.model.sign",
    "bastion.model.scan",
    "bastion.model.registry",
    "bastion.gateway",
    "bastion.guard",
)

PROBE = """
import json, sys
{body}
heavy = json.loads(sys.argv[1])
print(json.dumps(sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))))
"""


def _loaded(body: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _loaded("import bastion.cli.app") == []


@pytest.mark.parametrize("argv", [["--help"], ["verify", "--help"], ["sign", "--help"], ["verify", "key", "--help"]])
def test_help_loads_no_heavy_module(argv: list[str]) -> None:
    body = f"""
import contextlib, io
from bastion.cli.app import app
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    app({argv!r})
"""
    # Typer itself (its `_adapters` module) imports pydantic to run any command; that is not ours to defer.
    assert [m for m in _loaded(body) if m != "pydantic"] == []


def test_a_command_run_builds_only_its_own_group() -> None:
    """`bastion verify ...` imports and builds the sign/verify group, not the other nineteen."""
    body = """
import contextlib, io, sys
sys.argv = ["bastion", "verify", "--help"]
from bastion.cli.app import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
"""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            body + "import json; print(json.dumps([m for m in sys.modules if 'bastion.cli.' in m]))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "bastion.cli.sign" in loaded
    assert not loaded & {"bastion.cli.scan", "bastion.cli.guard", "bastion.cli.demo", "bastion.cli.protect"}


def test_command_map_matches_what_each_module_registers() -> None:
    from bastion.cli import app as app_module

    for name, module in app_module._COMMAND_MODULES.items():
        assert name in app_module._registered(app_module.build_app([module])), (name, module)
    full = app_module._registered(app_module.app)
    assert set(app_module._COMMAND_MODULES) <= full


@pytest.mark.parametrize(
    ("argv", "partial"),
    [
        (["sign", "key", "m"], True),
        (["--project", "bank", "verify", "key"], True),
        (["--db=sqlite:///x.db", "encrypt", "x"], True),
        (["--help"], False),
        (["--version"], False),
        ([], False),
        (["no-such-command"], False),
    ],
)
def test_app_for_falls_back_to_the_full_app(argv: list[str], partial: bool) -> None:
    from bastion.cli import app as app_module

    names = app_module._registered(app_module.app_for(argv))
    assert (names < app_module._registered(app_module.app)) is partial
