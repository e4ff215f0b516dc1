"""The scanner plug-in, custom recognizers from YAML, and the `bastion detect` command."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from bastion.cli.app import app
from bastion.core.plugins import Recognizer, Scanner, ScanTarget
from bastion.data import Detector
from bastion.data._detect.custom import RecognizerConfigError, parse_custom
from bastion.data._scan import RULES, SensitiveDataScanner

TOKEN = "ghp_R4nd0mT0k3nV4lu3Xyz0123456789abcdEFG"


def _target(p: Path) -> ScanTarget:
    return ScanTarget(path=p, relpath=p.name, size=p.stat().st_size, head=p.read_bytes()[:65536])


def _scan(p: Path) -> list:
    s = SensitiveDataScanner()
    assert s.applies(_target(p))
    return list(s.scan(_target(p)))


def test_scanner_protocol_and_rules() -> None:
    s = SensitiveDataScanner()
    assert isinstance(s, Scanner)
    for rule in RULES.values():
        assert rule.controls and all(":" in c for c in rule.controls)
    assert "owasp-llm:LLM02" in RULES["data.secret"].controls
    assert "gdpr:Art.5" in RULES["data.pii"].controls


def test_notebook_sources_and_outputs(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"import os\ntoken = '{TOKEN}'\ndf.head()")
    cell.outputs = [
        nbformat.v4.new_output("stream", text="ok\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "name email\n0 Ann Lee ann.lee@corp.io"},
                               execution_count=1),
    ]  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    p = tmp_path / "n.ipynb"
    nbformat.write(nb, p)
    found = _scan(p)
    secret = next(f for f in found if f.rule_id == "data.secret")
    assert secret.location.pointer == "cells/1/source" and secret.location.line == 2
    assert TOKEN not in json.dumps(secret.to_dict())
    out = [f for f in found if f.location.pointer == "cells/1/outputs/1"]
    assert any(f.rule_id == "data.pii.notebook-output" and "EMAIL_ADDRESS" in f.evidence for f in out)
    assert "atlas:AML.T0057" in out[0].controls


def test_malformed_notebook_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "bad.ipynb"
    p.write_text('{"cells": [ {"source": "' + TOKEN + '"')
    found = _scan(p)
    assert any(f.rule_id == "data.unreadable" for f in found)
    assert any(f.rule_id == "data.secret" for f in found)  # still scanned as text


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("config.yaml", f"db:\n  url: postgres://app:Sup3rS3cret!@db:5432/x\n  token: {TOKEN}\n"),
        ("settings.toml", f'[auth]\ngithub = "{TOKEN}"\n'),
        ("app.json", json.dumps({"auth": {"token": TOKEN}})),
        (".env", f"GITHUB_TOKEN={TOKEN}\n"),
        ("app.ini", f"[x]\ntoken={TOKEN}\n"),
        ("prompt.txt", f"System: use {TOKEN} to call the API\n"),
    ],
)
def test_configs_and_prompts(tmp_path: Path, name: str, content: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    found = [f for f in _scan(p) if f.rule_id == "data.secret"]
    assert found and found[0].location.line is not None
    assert all(TOKEN not in f.evidence for f in found)


def test_table_findings_per_column(tmp_path: Path) -> None:
    p = tmp_path / "customers.csv"
    p.write_text("name,email,card\n" + "".join(f"A B,u{i}@corp.io,4539 1488 0343 6467\n" for i in range(30)))
    found = _scan(p)
    cols = {f.location.pointer: f for f in found}
    assert cols["column:email"].rule_id == "data.pii.column"
    assert cols["column:card"].severity.label == "high"
    assert "4539 1488" not in cols["column:card"].evidence


def test_custom_yaml(tmp_path: Path) -> None:
    y = tmp_path / "r.yaml"
    y.write_text(
        "recognizers:\n  - name: emp\n    entity_type: EMPLOYEE_ID\n    regex: 'EMP-\\d{6}'\n    score: 0.8\n"
        "    context: [employee]\n    context_score: 0.95\n"
        "deny_list:\n  CODENAME: [bluebird, night jar]\nallow_list: [a@b.io]\n"
    )
    det = Detector.from_yaml(y)
    ents = {e.entity_type: e for e in det.detect("employee EMP-123456 on Bluebird and Night jar; mail a@b.io")}
    assert ents["EMPLOYEE_ID"].score == 0.95
    assert "CODENAME" in ents and "EMAIL_ADDRESS" not in ents


@pytest.mark.parametrize(
    "doc",
    [
        "recognizers: [",
        "- just a list",
        "recognizers:\n  - name: x\n    entity_type: lower\n    regex: a",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: '(?<=a)b'",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: '(a)\\1'",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: 'a*'",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: a\n    score: 7",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: a\n    validator: nope",
        "recognizers:\n  - {name: x, entity_type: X, regex: a}\n  - {name: x, entity_type: X, regex: b}",
        "deny_list: [a, b]",
        "surprise: 1",
        "recognizers:\n  - name: x\n    entity_type: X\n    regex: a\n    bogus: 1",
    ],
)
def test_malformed_yaml_is_one_clear_error(doc: str) -> None:
    with pytest.raises(RecognizerConfigError) as err:
        parse_custom(doc)
    assert "\n" not in str(err.value)


runner = CliRunner()


def test_cli_text_json_and_exit_codes(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text(f"token {TOKEN}\n")
    res = runner.invoke(app, ["detect", str(p), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["entities"][0]["entity_type"] == "GITHUB_PAT" and TOKEN not in res.stdout
    clean = tmp_path / "c.txt"
    clean.write_text("nothing to see\n")
    assert runner.invoke(app, ["detect", str(clean)]).exit_code == 0
    assert runner.invoke(app, ["detect", str(p), "--exit-zero"]).exit_code == 0
    assert runner.invoke(app, ["detect", str(tmp_path / "missing.txt")]).exit_code == 2
    bad = tmp_path / "r.yaml"
    bad.write_text("recognizers: [")
    assert runner.invoke(app, ["detect", str(p), "-r", str(bad)]).exit_code == 2
    assert runner.invoke(app, ["detect", "-"], input="ssn 536-22-1390\n").exit_code == 1


def test_cli_table(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("email\n" + "".join(f"u{i}@corp.io\n" for i in range(10)))
    res = runner.invoke(app, ["detect", str(p), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["columns"][0]["entity_types"] == ["EMAIL_ADDRESS"]
    res = runner.invoke(app, ["detect", str(p), "--json", "--full", "--estimate"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and out["complete"] and not out["estimated"]  # 10 rows: too few to stop early
    assert out["columns"][0]["estimated"] is False and out["columns"][0]["names_layer"] is True


def test_recognizer_protocol_plugins_are_used() -> None:
    class Fixed:
        name = "fixed"
        entity_types = ("SECRET_WORD",)

        def find(self, text: str) -> list:
            from bastion.data import Entity

            i = text.find("abracadabra")
            return [] if i < 0 else [Entity("SECRET_WORD", i, i + 11, 0.9, "plugin=fixed", value="abracadabra")]

    assert isinstance(Fixed(), Recognizer)
    det = Detector(recognizers=[Fixed()], names=False)
    assert [e.entity_type for e in det.detect("say abracadabra")] == ["SECRET_WORD"]


def test_new_national_ids_are_sensitive_ids(tmp_path: Path) -> None:
    """Korean RRNs, Turkish TCKNs and passport numbers are government IDs: high, like the US ones."""
    p = tmp_path / "people.txt"
    p.write_text("주민등록번호 850314-1234562\nTC Kimlik No: 31728459054\nPassport No: X12345678\n", encoding="utf-8")
    rules = {f.properties["entity_type"]: f.rule_id for f in _scan(p)}
    for etype in ("KR_RRN", "TR_TCKN"):
        assert rules.get(etype) == "data.pii.sensitive-id", rules
    assert any(r == "data.pii.sensitive-id" for t, r in rules.items() if "PASSPORT" in t), rules
