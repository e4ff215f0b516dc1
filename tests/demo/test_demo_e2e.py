"""The flagship scenario end to end, through the real CLI, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

SARIF_SCHEMA = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


def bastion(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(extra)
    return env


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return _env()
    return _env(BASTION_DATABASE_URL=request.getfixturevalue("pg_database"))


def test_demo_runs_the_lifecycle_and_the_audit_log_catches_tampering(tmp_path: Path, demo_env: dict[str, str]) -> None:
    proc = bastion(["demo", "--dir", "bank"], tmp_path, demo_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for step in ("1. Discover", "2. Scan", "3. Protect", "4. Sign, approve, gate", "5. Serve", "7. Retire", "8. Audit"):
        assert step in out
    assert "the gate now blocks" in out and "now unrecoverable" in out and "intact." in out
    assert "REDACTED_EMAIL_ADDRESS" in out and "the caller got the real values back: True" in out
    assert "A prompt-injection attempt: HTTP 4" in out and "Another bank's key: HTTP 404" in out

    reports = tmp_path / "bank" / "reports"
    report = json.loads((reports / "report.json").read_text())
    rules = {f["rule_id"] for f in report["findings"]}
    assert "model.pickle.dangerous-callable" in rules, rules
    assert any(r.startswith("discover.secrets") or r.startswith("data.") for r in rules), rules
    assert report["decision"]["passed"] is False
    sarif = json.loads((reports / "report.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(sarif)
    assert sarif["runs"][0]["results"], "the demo must produce SARIF results"
    html = (reports / "report.html").read_text()
    assert "model.pickle.dangerous-callable" in html
    bom = json.loads((reports / "ai-bom.cdx.json").read_text())
    assert bom["specVersion"] == "1.6" and any(c["type"] == "machine-learning-model" for c in bom["components"])
    # No raw secret from the generated project reaches any report.
    env_file = (tmp_path / "bank" / ".env").read_text()
    openai_key = env_file.split("OPENAI_API_KEY=")[1].split()[0]
    for name in ("report.json", "report.sarif", "report.html"):
        assert openai_key not in (reports / name).read_text()

    verify = bastion(["audit", "verify"], tmp_path, demo_env)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    if "BASTION_DATABASE_URL" in demo_env:
        import psycopg

        dsn = demo_env["BASTION_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    else:
        with sqlite3.connect(tmp_path / ".bastion" / "bastion.db") as conn:
            conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    tampered = bastion(["audit", "verify", "--json"], tmp_path, demo_env)
    assert tampered.returncode == 1
    problems = json.loads(tampered.stdout)["problems"]
    assert any(p["seq"] == 5 and p["kind"] == "modified" for p in problems), problems


def test_demo_twice_in_the_same_store(tmp_path: Path) -> None:
    env = _env()
    for _ in range(2):
        proc = bastion(["demo", "--dir", "bank"], tmp_path, env)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert bastion(["audit", "verify"], tmp_path, env).returncode == 0
