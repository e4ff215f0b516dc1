from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from discover_formats import Expected
from typer.testing import CliRunner

from bastion.cli import _common, bom, discover, inventory


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BASTION_CONFIG", raising=False)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        _common.state.close()
        _common.state._settings = None
        _common.state.config_file = None
        _common.state.overrides = {"project": "cli"}

    for mod in (discover, inventory, bom):
        mod.register(app)
    return app


def test_discover_json_inventory_and_bom(cli: typer.Typer, tmp_path: Path, format_tree: tuple[Path, Expected]) -> None:
    root = tmp_path / "tree"
    shutil.copytree(format_tree[0], root)
    runner = CliRunner()
    res = runner.invoke(cli, ["discover", str(root), "--json", "--fail-on", "critical"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    records = {r["path"]: r for r in doc["assets"]}
    assert records["models/weights.bin"]["kind"] == "model" and records["models/weights.bin"]["format"] == "safetensors"
    assert doc["inventory"]["added"]
    res = runner.invoke(cli, ["discover", str(root), "--fail-on", "high"])
    assert res.exit_code == 1  # the API key and PII findings are high
    res = runner.invoke(cli, ["inventory", "list", "--json", "--kind", "dataset"])
    assert res.exit_code == 0, res.output
    assert {a["format"] for a in json.loads(res.stdout)} >= {"csv", "parquet", "jsonl"}
    res = runner.invoke(cli, ["inventory", "show", "data/train.bin", "--json"])
    assert json.loads(res.stdout)["tags"]["rows"] == 10
    assert runner.invoke(cli, ["inventory", "show", "nope"]).exit_code == 2
    (root / "models/emb.npy").unlink()
    res = runner.invoke(cli, ["inventory", "diff", str(root), "--json"])
    assert json.loads(res.stdout)["removed"] == ["models/emb.npy"]
    res = runner.invoke(cli, ["inventory", "export", "--format", "csv"])
    assert res.exit_code == 0 and res.stdout.startswith("uri,kind,format")
    res = runner.invoke(cli, ["bom", "--from-inventory", "-o", str(tmp_path / "bom.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "bom.json").read_text())["specVersion"] == "1.6"
    assert runner.invoke(cli, ["bom"]).exit_code == 2
    assert runner.invoke(cli, ["discover", str(tmp_path / "missing")]).exit_code == 2
