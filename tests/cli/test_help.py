"""Every command loads and documents itself in a fresh interpreter (catches import cycles)."""

from __future__ import annotations

import subprocess
import sys

from typer.main import get_command

from bastion.cli.app import app


def _commands() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        for sub in getattr(cmd, "commands", {}) or {}:
            paths.append([name, sub])
    return paths


def test_every_command_has_help_in_a_fresh_process() -> None:
    paths = _commands()
    assert {"scan", "demo", "audit", "controls", "config"} <= {p[0] for p in paths}
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from bastion.cli.app import app\n"
        "runner = CliRunner()\n"
        f"for path in {paths!r}:\n"
        "    result = runner.invoke(app, [*path, '--help'])\n"
        "    if result.exit_code != 0:\n"
        "        print(path, result.output, result.exception, file=sys.stderr); sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_each_group_imports_first_in_its_own_process() -> None:
    """Importing any command module first must work: import order bugs hide behind a warm cache."""
    from bastion.cli import app as app_module

    for module in app_module._COMMANDS:
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{module}: {proc.stderr[-500:]}"
