"""`bastion access ...` and `bastion serve` argument handling, plus the demo scene."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bastion.cli.app import app
from bastion.core.store import Store
from bastion.gateway import demo_gateway, well_formed

runner = CliRunner()


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'state' / 'b.db'}"
    result = runner.invoke(
        app, ["--db", db, "-p", "gw", *args], env={"BASTION_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    )
    return result.exit_code, result.stdout


def test_access_lifecycle(tmp_path: Path) -> None:
    code, out = _cli(
        tmp_path,
        "access",
        "create",
        "-t",
        "acme",
        "-n",
        "app",
        "-r",
        "application",
        "--rpm",
        "10",
        "--expires-in",
        "30d",
        "--json",
    )
    assert code == 0, out
    created = json.loads(out)
    assert well_formed(created["key"]) and created["limits"] == {"requests_per_minute": 10}
    code, out = _cli(tmp_path, "access", "list", "--json")
    assert code == 0 and created["key"] not in out and json.loads(out)[0]["id"] == created["id"]
    code, out = _cli(tmp_path, "access", "rotate", created["id"], "--overlap", "1h", "--json")
    assert code == 0 and json.loads(out)["rotated_from"] == created["id"]
    code, out = _cli(tmp_path, "access", "revoke", created["id"], "--json")
    assert code == 0 and json.loads(out)["active"] is False


def test_access_bad_input_exits_2(tmp_path: Path) -> None:
    assert _cli(tmp_path, "access", "create", "-t", "acme", "-n", "x", "-r", "root")[0] == 2
    assert (
        _cli(tmp_path, "access", "create", "-t", "acme", "-n", "x", "-r", "application", "--expires-in", "soon")[0] == 2
    )
    assert _cli(tmp_path, "access", "revoke", "key_nope")[0] == 2
    assert _cli(tmp_path, "access", "admin-create", "root", env={"BASTION_ADMIN_PASSWORD": "short"})[0] == 2


def test_admin_create_prints_totp_uri(tmp_path: Path) -> None:
    code, out = _cli(
        tmp_path,
        "access",
        "admin-create",
        "root",
        "-t",
        "acme",
        env={"BASTION_ADMIN_PASSWORD": "a long enough password"},
    )
    assert code == 0 and out.startswith("otpauth://totp/")


def test_serve_rejects_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "gw.yaml"
    bad.write_text("models: [{name: x, upstream: ftp://nope}]\n")
    code, _ = _cli(tmp_path, "serve", "-g", str(bad))
    assert code == 2
    code, _ = _cli(tmp_path, "serve", "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(bad))
    assert code == 2
    bad.write_text("unknown_key: 1\n")
    assert _cli(tmp_path, "serve", "-g", str(bad))[0] == 2


def test_demo_scene(sqlite_store: Store) -> None:
    out = demo_gateway(sqlite_store)
    assert out["upstream_saw_pii"] is False and out["caller_got_restored_answer"] is True
    assert out["other_tenant_status"] == 404 and out["statuses_under_limit"][-1] == 429
    assert out["injection_status"] in (400, 403)
    assert out["request_log_intact"] and out["audit_chain_intact"] and out["requests_logged"] == 6


def test_access_create_in_the_gateway_files_project(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("project: bank\nmodels: []\n")
    db = f"sqlite:///{tmp_path / 'state' / 'b.db'}"
    from bastion.cli._common import state

    # CliRunner calls the app in-process, and the CLI's lazily built state (settings, store)
    # outlives an invocation unless `main()` closes it: start from a clean one, as a real run does.
    state.close()
    state._settings = None
    result = runner.invoke(
        app,
        ["--db", db, "access", "create", "-t", "acme", "-n", "app", "-r", "application", "-g", str(cfg), "--json"],
        env={"BASTION_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["project"] == "bank"
    store = Store.open(db, state_dir=tmp_path / "state")
    try:
        from bastion.gateway import key_store

        assert key_store(store, "bank").authenticate(created["key"]) is not None
    finally:
        store.close()


def test_serve_announces_url_models_and_guards_once_listening(tmp_path: Path) -> None:
    import os
    import selectors
    import subprocess
    import sys

    import httpx
    from gw_upstream import free_port

    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(
        "project: bank\n"
        "models:\n"
        "  - {name: gpt-x, upstream: 'http://127.0.0.1:9/v1'}\n"
        "  - {name: raw, upstream: 'http://127.0.0.1:9/v1', guards: []}\n"
        "guards:\n"
        "  - {name: pii, action: redact, on_error: closed}\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bastion",
            "--db",
            f"sqlite:///{tmp_path / 'b.db'}",
            "serve",
            "-g",
            str(cfg),
            "--port",
            str(port),
        ],
        env={**os.environ, "BASTION_STATE_DIR": str(tmp_path / "state")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        out = b""
        while b"guards for raw" not in out:
            if not sel.select(timeout=60) or proc.poll() is not None:
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
        text = out.decode()
        assert f"listening on http://127.0.0.1:{port}" in text, text
        assert f"OpenAI base URL: http://127.0.0.1:{port}/v1" in text and "project bank" in text
        assert "models: gpt-x, raw" in text and "guards: pii (redact, on_error closed)" in text
        assert "guards for raw: none" in text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # printed once listening
    finally:
        proc.terminate()
        proc.wait(30)
