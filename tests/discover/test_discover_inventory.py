from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from discover_formats import FAKE_OPENAI_KEY, Expected

from bastion.core.controls import validate_refs
from bastion.core.types import Asset, AssetKind
from bastion.discover import RULES, DiscoverScanner, build_bom, discover, record, sprawl_findings
from bastion.discover._bom import validate_bom


@pytest.fixture(scope="module")
def found(format_tree: tuple[Path, Expected]):  # type: ignore[no-untyped-def]
    root, _ = format_tree
    return discover(root, use_git=False)


def test_every_rule_cites_known_controls() -> None:
    for rule in RULES.values():
        assert rule.controls and validate_refs(list(rule.controls)) == [], rule.id
    assert set(DiscoverScanner().rules) == set(RULES)


def test_sprawl_findings_on_the_format_tree(found) -> None:  # type: ignore[no-untyped-def]
    by_rule: dict[str, set[str]] = {}
    for f in found.findings:
        by_rule.setdefault(f.rule_id, set()).add(f.asset_uri)
        assert FAKE_OPENAI_KEY not in f.evidence and FAKE_OPENAI_KEY[8:20] not in repr(f.to_dict())
    assert by_rule["discover.secrets.model-api-key"] == {"app/.env", "notebooks/train.ipynb"}
    assert by_rule["discover.dataset.pii-unencrypted"] == {"data/transactions.dat"}
    assert (
        "models/sklearn.pickle" not in by_rule["discover.model.duplicate"]
        or len(by_rule["discover.model.duplicate"]) == 1
    )
    dup = next(f for f in found.findings if f.rule_id == "discover.model.duplicate")
    assert set(dup.properties["copies"]) == {"mlruns/model/model.pkl", "models/sklearn.pickle"}
    # files inside a folder asset are owned through the folder, not flagged one by one
    assert "hf/bert-finetuned/model.safetensors" not in by_rule["discover.asset.no-owner"]
    assert "hf/bert-finetuned" in by_rule["discover.asset.no-owner"]
    nb = next(f for f in found.findings if f.asset_uri == "notebooks/train.ipynb")
    assert nb.location.pointer == "cells/1/outputs/0"


def test_lineage_owners_and_risk(format_tree: tuple[Path, Expected], tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(format_tree[0], root)
    (root / "CODEOWNERS").write_text("*.ipynb @data-science\n/models/ @ml-platform\n")
    found = discover(root, owners={"data/*": "fraud-team"}, use_git=False)
    a = {x.uri: x for x in found.assets}
    assert a["hf/bert-finetuned"].lineage == ["hf:bert-base-uncased"]
    assert a["mlruns/model"].lineage == ["mlflow-run:4b5c6d7e8f9a0b1c"]
    assert "data/transactions.dat" in a["notebooks/train.ipynb"].lineage
    assert a["models/raw.pkl"].owner == "@ml-platform" and a["models/raw.pkl"].tags["owner_source"] == "codeowners"
    assert a["notebooks/train.ipynb"].owner == "@data-science"
    assert a["data/train.bin"].owner == "fraud-team" and a["data/train.bin"].tags["owner_source"] == "config"
    pii = a["data/transactions.dat"]
    assert pii.classification == ["pii"] and pii.risk and "holds personal data" in pii.risk_reasons
    assert a["models/weights.bin"].risk is not None and a["models/weights.bin"].risk < a["models/raw.pkl"].risk  # type: ignore[operator]
    assert not any(f.rule_id == "discover.asset.no-owner" and f.asset_uri.startswith("models/") for f in found.findings)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_owner_from_git_history(tmp_path: Path) -> None:
    (tmp_path / "m.npy").write_bytes(
        b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".ljust(128, b" ")[:127]
        + b"\n"
        + b"\x00" * 8
    )
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }
    for cmd in (["init", "-q"], ["add", "m.npy"], ["commit", "-q", "-m", "model"]):
        subprocess.run(["git", "-C", str(tmp_path), *cmd], check=True, env=env, capture_output=True)
    found = discover(tmp_path)
    (asset,) = [x for x in found.assets if x.uri == "m.npy"]
    assert asset.owner == "Ada <ada@example.com>" and asset.tags["owner_source"] == "git"


def test_unregistered_model_next_to_registered(tmp_path: Path, format_tree: tuple[Path, Expected]) -> None:
    shutil.copytree(format_tree[0] / "mlruns", tmp_path / "mlruns")
    shutil.copy(format_tree[0] / "models/emb.npy", tmp_path / "mlruns/stray.npy")
    found = discover(tmp_path, use_git=False)
    hits = [f for f in found.findings if f.rule_id == "discover.model.unregistered"]
    assert [f.asset_uri for f in hits] == ["mlruns/stray.npy"]


def test_malformed_header_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "cut.safetensors").write_bytes(b'\x40\x00\x00\x00\x00\x00\x00\x00{"a":')
    found = discover(tmp_path, use_git=False)
    assert [f.rule_id for f in found.findings if f.asset_uri == "cut.safetensors"].count(
        "discover.asset.malformed"
    ) == 1


def test_inventory_survives_a_rescan_with_changes(
    store,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    format_tree: tuple[Path, Expected],
) -> None:
    root = tmp_path / "t"
    shutil.copytree(format_tree[0] / "models", root / "models")
    shutil.copytree(format_tree[0] / "data", root / "data")
    first = discover(root, project="p", store=store, use_git=False)
    delta = record(store, first, project="p", actor="test")
    assert len(delta.added) == len(first.assets) > 20 and not delta.changed
    assert first.digested == len(first.assets)
    # unchanged rescan: nothing re-hashed, nothing changed
    again = discover(root, project="p", store=store, use_git=False)
    assert again.digested == 0
    delta = record(store, again, project="p", actor="test")
    assert not delta.added and not delta.changed and not delta.vanished
    # change one file, delete one, add one
    (root / "models/emb.npy").unlink()
    (root / "data/features.tsv").write_text("a\tb\tc\td\n1\t2\t3\t4\n5\t6\t7\t8\n9\t0\t1\t2\n")
    os.utime(root / "data/features.tsv", (1, 1))
    shutil.copy(root / "models/weights.bin", root / "models/copy.safetensors")
    third = discover(root, project="p", store=store, use_git=False)
    assert third.digested == 2
    delta = record(store, third, project="p", actor="test")
    assert delta.added == ["models/copy.safetensors"]
    # weights.bin now has a copy, so its risk (and nothing else) changed
    assert delta.changed == ["data/features.tsv", "models/weights.bin"]
    assert "stored in 2 places" in store.get_asset("p", "models/weights.bin").risk_reasons
    assert delta.vanished == ["models/emb.npy"]
    assert store.get_asset("p", "data/features.tsv").tags["columns"] == ["a", "b", "c", "d"]
    assert "models/emb.npy" not in {a.uri for a in store.list_assets("p")}
    assert "models/emb.npy" in {a.uri for a in store.list_assets("p", include_vanished=True)}
    dup = [f for f in third.findings if f.rule_id == "discover.model.duplicate"]
    assert dup and "models/copy.safetensors" in dup[0].properties["copies"]


def test_verify_catches_silent_content_change(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "x.npy"
    p.write_bytes(
        b"\x93NUMPY\x01\x00v\x00"
        + b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".ljust(117)
        + b"\n"
        + b"\x00" * 8
    )
    st = p.stat()
    record(store, discover(tmp_path, project="v", store=store, use_git=False), project="v", actor="t")
    data = bytearray(p.read_bytes())
    data[-1] = 1
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (
        discover(tmp_path, project="v", store=store, use_git=False).assets[0].digest
        == store.get_asset("v", "x.npy").digest
    )  # size+mtime unchanged: trusted
    verified = discover(tmp_path, project="v", store=store, verify=True, use_git=False)
    assert verified.assets[0].tags.get("content_changed_silently") is True


def test_bom_validates_with_models_data_and_lineage(found) -> None:  # type: ignore[no-untyped-def]
    doc = build_bom(found.assets, name="fraud")
    assert validate_bom(doc) == []
    assert doc["specVersion"] == "1.6"
    comps = {c["bom-ref"]: c for c in doc["components"]}
    assert comps["asset:models/weights.bin"]["type"] == "machine-learning-model"
    assert comps["asset:data/train.bin"]["type"] == "data"
    assert comps["asset:data/train.bin"]["data"][0]["type"] == "dataset"
    st = comps["asset:models/weights.bin"]
    assert st["hashes"][0]["alg"] == "SHA-256" and len(st["hashes"][0]["content"]) == 64
    hf = comps["asset:hf/bert-finetuned"]
    assert hf["modelCard"]["modelParameters"]["architectureFamily"] == "bert"
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert "external:hf:bert-base-uncased" in deps["asset:hf/bert-finetuned"]
    assert "asset:data/transactions.dat" in deps["asset:notebooks/train.ipynb"]
    bad = dict(doc, specVersion="1.6")
    bad["components"] = [dict(doc["components"][0], type="not-a-type")]
    assert validate_bom(bad)


def test_sprawl_findings_api_for_the_orchestrator(store) -> None:  # type: ignore[no-untyped-def]
    assets = [
        Asset("a/m1.safetensors", AssetKind.MODEL, "safetensors", project="p", digest="sha256:" + "1" * 64),
        Asset("b/m2.safetensors", AssetKind.MODEL, "safetensors", project="p", digest="sha256:" + "1" * 64),
        Asset("c.csv", AssetKind.DATASET, "csv", project="p", tags={"columns": ["email", "x"]}),
    ]
    out = sprawl_findings("p", assets, store, root=Path("/nonexistent"))
    rules = sorted(f.rule_id for f in out)
    assert rules.count("discover.asset.no-owner") == 3
    assert "discover.model.duplicate" in rules and "discover.dataset.pii-unencrypted" in rules
    assert all(a.risk is not None for a in assets)
