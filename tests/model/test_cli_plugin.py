"""`bastion scan-model` and the `ModelScanner` plug-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from _model_build import exec_pickle, torch_zip
from typer.testing import CliRunner

from bastion.cli import scan_model
from bastion.core.plugins import Scanner, ScanTarget
from bastion.model._scan.plugin import ModelScanner
from bastion.model.scan import RULES, write_demo_models


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def _root() -> None:
        pass

    scan_model.register(a)
    return a


def test_cli_exit_codes_and_json(app: typer.Typer, tmp_path: Path) -> None:
    benign, malicious = write_demo_models(tmp_path)
    runner = CliRunner()
    clean = runner.invoke(app, ["scan-model", str(benign)])
    assert clean.exit_code == 0, clean.output
    bad = runner.invoke(app, ["scan-model", str(malicious), "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["findings"][0]["rule_id"] == "model.pickle.dangerous-callable"
    assert "atlas:AML.T0010" in data["findings"][0]["controls"]
    missing = runner.invoke(app, ["scan-model", str(tmp_path / "nope.pt")])
    assert missing.exit_code == 2
    below = runner.invoke(app, ["scan-model", str(malicious), "--fail-on", "critical"])
    assert below.exit_code == 1


def test_cli_sarif(app: typer.Typer, tmp_path: Path) -> None:
    _, malicious = write_demo_models(tmp_path)
    out = tmp_path / "r.sarif"
    res = CliRunner().invoke(app, ["scan-model", str(malicious), "--sarif", str(out)])
    assert res.exit_code == 1, res.output
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0"
    assert log["runs"][0]["results"]


def test_demo_payload_is_never_executed_by_scanning(tmp_path: Path) -> None:
    import tempfile

    marker = Path(tempfile.gettempdir()) / "bastion-demo-marker"
    marker.unlink(missing_ok=True)
    _, malicious = write_demo_models(tmp_path)
    from bastion.model.scan import scan_file

    assert scan_file(malicious)
    assert not marker.exists()


def _target(path: Path, relpath: str | None = None) -> ScanTarget:
    data = path.read_bytes()
    return ScanTarget(path=path, relpath=relpath or path.name, size=len(data), head=data[:65536])


def test_plugin_applies_by_content_not_extension(tmp_path: Path) -> None:
    scanner = ModelScanner()
    assert isinstance(scanner, Scanner)
    hidden = tmp_path / "README.txt"
    hidden.write_bytes(torch_zip(exec_pickle()))
    assert scanner.applies(_target(hidden))
    findings = list(scanner.scan(_target(hidden)))
    assert findings and findings[0].asset_uri == "README.txt"
    text = tmp_path / "notes.txt"
    text.write_text("just some notes")
    assert not scanner.applies(_target(text))


def test_plugin_honours_timeout_option(tmp_path: Path) -> None:
    import pickle

    p = tmp_path / "big.pkl"
    p.write_bytes(pickle.dumps(list(range(400_000)), protocol=4))
    t = _target(p)
    t.options = {"timeout_per_file": 0.0001}
    assert "model.scan.timeout" in {f.rule_id for f in ModelScanner().scan(t)}


def test_every_rule_maps_to_catalog_controls() -> None:
    from bastion.core.controls import validate_refs

    for rule in RULES.values():
        assert rule.controls, rule.id
        assert not validate_refs(rule.controls), rule.id
        assert rule.id.startswith("model.")


def test_plugin_does_not_flag_data_archives(tmp_path: Path) -> None:
    import gzip

    csv = tmp_path / "transactions.csv.gz"
    csv.write_bytes(gzip.compress(b"id,amount\n1,10.5\n" * 100))
    scanner = ModelScanner()
    assert scanner.applies(_target(csv))
    assert not list(scanner.scan(_target(csv)))
    model = tmp_path / "model.pkl.gz"
    model.write_bytes(gzip.compress(b"id,amount\n1,10.5\n"))
    assert {f.rule_id for f in scanner.scan(_target(model))} == {"model.scan.unrecognised"}
