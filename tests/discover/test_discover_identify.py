from __future__ import annotations

from pathlib import Path

from discover_formats import Expected, crc32c_ref

from bastion.discover import WalkItem, WalkProblem, identify, walk


def test_reference_crc32c_is_right() -> None:
    assert crc32c_ref(b"123456789") == 0xE3069283


def test_every_format_identified_with_zero_misidentifications(format_tree: tuple[Path, Expected]) -> None:
    root, expected = format_tree
    got: dict[str, tuple[str, str] | None] = {}
    problems = []
    for item in walk(root):
        if isinstance(item, WalkProblem):
            problems.append(item)
            continue
        asset = identify(item)
        got[item.relpath] = (asset.kind.value, asset.format) if asset else None
    assert not problems
    wrong = {k: (got.get(k, "<missing>"), v) for k, v in expected.items() if got.get(k, "<missing>") != v}
    extra = {k: v for k, v in got.items() if k not in expected and v is not None}
    assert not wrong, f"misidentified (got, expected): {wrong}"
    assert not extra, f"unexpected assets: {extra}"


def test_header_summaries(format_tree: tuple[Path, Expected]) -> None:
    root, _ = format_tree
    items = {i.relpath: i for i in walk(root) if isinstance(i, WalkItem)}
    st = identify(items["models/weights.bin"])
    assert st is not None and st.tags["parameters"] == 15 and st.tags["tensors"] == 2
    gg = identify(items["models/llm.dat"])
    assert gg is not None and gg.tags["architecture"] == "llama" and gg.tags["metadata"]["general.name"] == "tiny-llama"
    npy = identify(items["models/emb.npy"])
    assert npy is not None and npy.tags["shape"] == [5, 7] and npy.tags["dtype"] == "<f2"
    ox = identify(items["models/graph.model"])
    assert ox is not None and ox.tags["producer"] == "bastion-test"
    pq = identify(items["data/train.bin"])
    assert pq is not None and pq.tags["rows"] == 10 and pq.tags["columns"] == ["id", "label"]
    csv = identify(items["data/transactions.dat"])
    assert csv is not None and csv.tags["columns"] == ["id", "name", "email", "amount"]
    sk = identify(items["models/sklearn.pickle"])
    assert sk is not None and sk.framework == "sklearn"
    for m in ("zlib", "gzip", "bz2", "xz", "lzma", "lz4"):
        a = identify(items[f"models/clf_{m}.z"])
        assert a is not None and a.tags["compression"] == m and a.framework == "sklearn"
    hf = identify(items["hf/bert-finetuned"])
    assert hf is not None and hf.tags["_name_or_path"] == "bert-base-uncased" and hf.size and hf.size > 100
    ml = identify(items["mlruns/model"])
    assert ml is not None and ml.framework == "sklearn" and ml.tags["run_id"] == "4b5c6d7e8f9a0b1c"
    env = identify(items["app/.env"])
    assert env is not None and env.tags["model_key_names"] == ["OPENAI_API_KEY"]
    assert "sk-proj" not in repr(env.to_dict())  # never the raw value
    fa = identify(items["vectors/index.faiss"])
    assert fa is not None and fa.tags["dimension"] == 4 and fa.tags["vectors"] == 2
    nb = identify(items["notebooks/train.ipynb"])
    assert nb is not None and nb.tags["cells"] == 2 and nb.tags["outputs"] == 1


def test_folder_assets_come_after_their_files(format_tree: tuple[Path, Expected]) -> None:
    root, _ = format_tree
    order = [i.relpath for i in walk(root) if isinstance(i, WalkItem)]
    assert order.index("hf/bert-finetuned") > order.index("hf/bert-finetuned/model.safetensors")
    folder = next(i for i in walk(root) if isinstance(i, WalkItem) and i.relpath == "saved/serving")
    assert folder.is_dir and "variables/" in folder.members


def test_single_file_root_uses_the_file_name(format_tree: tuple[Path, Expected]) -> None:
    root, _ = format_tree
    items = list(walk(root / "models" / "emb.npy"))
    assert len(items) == 1 and isinstance(items[0], WalkItem) and items[0].relpath == "emb.npy"
    asset = identify(items[0], project="p1")
    assert asset is not None and asset.uri == "emb.npy" and asset.project == "p1"


def test_truncated_files_are_flagged_not_crashing(format_tree: tuple[Path, Expected], tmp_path: Path) -> None:
    root, _ = format_tree
    src = (root / "models/weights.bin").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(src[:20])
    (tmp_path / "cut.parquet").write_bytes((root / "data/train.bin").read_bytes()[:100])
    (tmp_path / "cut.zip").write_bytes((root / "models/state.pt").read_bytes()[:200])
    assets = {i.relpath: identify(i) for i in walk(tmp_path) if isinstance(i, WalkItem)}
    for name in ("cut.safetensors", "cut.parquet", "cut.zip"):
        a = assets[name]
        assert a is not None and a.tags.get("problems"), name
        assert a.confidence < 0.9
