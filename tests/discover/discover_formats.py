"""Builds a tree holding every format discovery must recognise, with the expected answers.

Files are written by their real libraries where those are light (numpy, torch,
safetensors, onnx, gguf, h5py, joblib, sklearn, pyarrow, nbformat) and byte-exact
from the published format otherwise (TFLite, TFRecord, FAISS, SavedModel, XGBoost,
LightGBM, CatBoost, Keras v3 container, Chroma, Lance). Extensions are chosen to
lie where that makes a better test: identification must come from the bytes.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import struct
import zipfile
from pathlib import Path

# expected: relpath -> (kind, format) or None for "not an AI asset"
Expected = dict[str, tuple[str, str] | None]

FAKE_OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2


def crc32c_ref(data: bytes) -> int:
    """Bitwise CRC-32C, independent of the implementation under test."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    crc = crc32c_ref(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_bytes(records: list[bytes]) -> bytes:
    out = b""
    for r in records:
        length = struct.pack("<Q", len(r))
        out += length + struct.pack("<I", _masked(length)) + r + struct.pack("<I", _masked(r))
    return out


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb_len(field: int, data: bytes) -> bytes:
    return _pb_varint(field << 3 | 2) + _pb_varint(len(data)) + data


def savedmodel_pb() -> bytes:
    meta_info = _pb_len(4, b"serve") + _pb_len(5, b"2.15.0") + _pb_len(6, b"v2.15.0-rc1")
    meta_graph = _pb_len(1, meta_info) + _pb_len(2, b"\n\x00")
    return b"\x08\x01" + _pb_len(2, meta_graph)


def faiss_flat_l2(d: int, vectors: list[list[float]]) -> bytes:
    header = b"IxF2" + struct.pack("<iqqq?i", d, len(vectors), 1 << 20, 1 << 20, True, 1)
    codes = b"".join(struct.pack(f"<{d}f", *v) for v in vectors)
    return header + struct.pack("<Q", len(codes)) + codes


def tflite_bytes() -> bytes:
    # FlatBuffer: root uoffset, file identifier "TFL3", then a minimal vtable/table.
    body = struct.pack("<HHH", 6, 8, 4) + b"\x00\x00" + struct.pack("<iI", -6 + 2, 3)
    return struct.pack("<I", 16) + b"TFL3" + b"\x00" * 8 + body + b"\x00" * 32


def xgboost_json() -> bytes:
    doc = {
        "learner": {
            "attributes": {},
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": {"model": {"gbtree_model_param": {"num_trees": "1"}, "trees": []}, "name": "gbtree"},
            "learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "4"},
            "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [2, 0, 3],
    }
    return json.dumps(doc).encode()


def _ubj_key(k: str) -> bytes:
    return b"L" + struct.pack(">q", len(k)) + k.encode()


def xgboost_ubj() -> bytes:
    inner = b"{" + _ubj_key("gradient_booster") + b"{" + _ubj_key("name") + b"S" + _ubj_key("gbtree") + b"}}"
    return (
        b"{"
        + _ubj_key("learner")
        + inner
        + _ubj_key("version")
        + b"[$l#L"
        + struct.pack(">q", 3)
        + (struct.pack(">iii", 2, 0, 3))
        + b"}"
    )


LIGHTGBM_TEXT = (
    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=3\n"
    "objective=binary sigmoid:1\nfeature_names=a b c d\nfeature_infos=none none none none\n"
    "tree_sizes=100\n\nTree=0\nnum_leaves=1\nleaf_value=0.1\n\nend of trees\n"
)


def keras_v3(path: Path) -> None:
    import h5py

    weights = path.parent / "_weights.h5"
    with h5py.File(weights, "w") as f:
        f.create_group("layers").create_group("dense").create_group("vars").create_dataset("0", data=[1.0, 2.0])
    cfg = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": []},
        "registered_name": None,
    }
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2024-05-01@10:00:00"}))
        z.writestr("config.json", json.dumps(cfg))
        z.write(weights, "model.weights.h5")
    weights.unlink()


def keras_h5(path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        f.create_group("model_weights").create_dataset("w", data=[[1.0, 2.0]])


def chroma_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE collections (id TEXT PRIMARY KEY, name TEXT, dimension INTEGER);"
        "CREATE TABLE segments (id TEXT PRIMARY KEY, type TEXT, scope TEXT, collection TEXT);"
        "CREATE TABLE embeddings (id INTEGER PRIMARY KEY, segment_id TEXT, embedding_id TEXT, seq_id BLOB);"
        "CREATE TABLE embedding_metadata (id INTEGER, key TEXT, string_value TEXT);"
        "INSERT INTO collections VALUES ('c1', 'docs', 384);"
    )
    con.commit()
    con.close()


def build_tree(root: Path) -> Expected:
    import gguf
    import joblib
    import nbformat
    import numpy as np
    import onnx
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq
    import torch
    from onnx import TensorProto, helper
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegression

    exp: Expected = {}

    def put(rel: str, data: bytes | str, expected: tuple[str, str] | None) -> Path:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        exp[rel] = expected
        return p

    def mark(rel: str, expected: tuple[str, str] | None) -> Path:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        exp[rel] = expected
        return p

    rng = np.random.default_rng(0)
    clf = LogisticRegression().fit(rng.normal(size=(20, 3)), np.arange(20) % 2)

    # ---- models
    save_file(
        {"w": np.zeros((4, 3), np.float32), "b": np.ones(3, np.float32)},
        mark("models/weights.bin", ("model", "safetensors")),
    )
    gw = gguf.GGUFWriter(mark("models/llm.dat", ("model", "gguf")), "llama")
    gw.add_name("tiny-llama")
    gw.add_context_length(128)
    gw.add_tensor("tok_embd", np.zeros((8, 4), np.float32))
    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["z"])],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("x", "y")],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    )
    onnx.save(helper.make_model(graph, producer_name="bastion-test"), mark("models/graph.model", ("model", "onnx")))
    torch.save({"w": torch.zeros(2, 2)}, mark("models/state.pt", ("model", "pytorch-zip")))
    torch.save(
        {"w": torch.zeros(2)},
        mark("models/legacy.pt", ("model", "pytorch-legacy")),
        _use_new_zipfile_serialization=False,
    )
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), mark("models/scripted.zip", ("model", "torchscript")))
    put("models/raw.pkl", pickle.dumps({"weights": [1.0, 2.0], "bias": 0.5}, protocol=4), ("model", "pickle"))
    put("models/proto0.data", pickle.dumps({"a": [1, 2]}, protocol=0), ("model", "pickle"))
    put("models/sklearn.pickle", pickle.dumps(clf), ("model", "pickle"))
    joblib.dump(clf, mark("models/clf.joblib", ("model", "joblib")))
    for method in ("zlib", "gzip", "bz2", "xz", "lzma", "lz4"):
        joblib.dump(clf, mark(f"models/clf_{method}.z", ("model", "joblib")), compress=(method, 3))
    np.save(mark("models/emb.npy", ("model", "npy")), np.zeros((5, 7), np.float16))
    np.savez(mark("models/arrays.npz", ("model", "npz")), a=np.zeros(3), b=np.ones((2, 2)))
    np.savez_compressed(mark("models/arrays_c.npz", ("model", "npz")), a=np.zeros(3))
    keras_v3(mark("models/net.keras", ("model", "keras-v3")))
    keras_h5(mark("models/net.h5", ("model", "keras-h5")))
    put("models/mobilenet.tflite", tflite_bytes(), ("model", "tflite"))
    put("models/xgb.json", xgboost_json(), ("model", "xgboost-json"))
    put("models/xgb.ubj", xgboost_ubj(), ("model", "xgboost-ubj"))
    put("models/lgbm.txt", LIGHTGBM_TEXT, ("model", "lightgbm-text"))
    put("models/model.cbm", b"CBM1" + struct.pack("<I", 12) + b"\x00" * 64, ("model", "catboost"))

    # TensorFlow SavedModel folder
    put("saved/serving/saved_model.pb", savedmodel_pb(), ("model", "tf-savedmodel-pb"))
    put("saved/serving/variables/variables.index", b"\x00" * 40 + struct.pack("<Q", 0xDB4775248B80FB57), None)
    put("saved/serving/variables/variables.data-00000-of-00001", bytes(range(256)) * 4, None)
    exp["saved/serving"] = ("model", "tf-savedmodel")

    # MLflow model folder
    put(
        "mlruns/model/MLmodel",
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
        "  sklearn:\n    pickled_model: model.pkl\n    sklearn_version: 1.4.2\n"
        "mlflow_version: 2.12.1\nmodel_uuid: 0f1e2d3c\nrun_id: 4b5c6d7e8f9a0b1c\n"
        "utc_time_created: '2024-05-01 10:00:00.000000'\n",
        ("config", "mlflow-mlmodel"),
    )
    put("mlruns/model/model.pkl", pickle.dumps(clf), ("model", "pickle"))
    put("mlruns/model/conda.yaml", "channels:\n- conda-forge\ndependencies:\n- python=3.11\n", None)
    put("mlruns/model/requirements.txt", "mlflow==2.12.1\nscikit-learn==1.4.2\n", None)
    exp["mlruns/model"] = ("model", "mlflow-model")

    # Hugging Face model folder
    put(
        "hf/bert-finetuned/config.json",
        json.dumps(
            {
                "_name_or_path": "bert-base-uncased",
                "architectures": ["BertForSequenceClassification"],
                "model_type": "bert",
                "hidden_size": 32,
                "vocab_size": 100,
                "torch_dtype": "float32",
                "transformers_version": "4.40.0",
            }
        ),
        ("config", "hf-model-config"),
    )
    save_file(
        {"embeddings": np.zeros((10, 4), np.float32)},
        mark("hf/bert-finetuned/model.safetensors", ("model", "safetensors")),
    )
    put(
        "hf/bert-finetuned/tokenizer.json",
        json.dumps({"version": "1.0", "model": {"type": "WordPiece"}, "added_tokens": []}),
        None,
    )
    exp["hf/bert-finetuned"] = ("model", "hf-model")

    # ---- datasets
    put(
        "data/transactions.dat",
        "id,name,email,amount\n" + "".join(f"{i},User {i},user{i}@example.com,{i * 3.5}\n" for i in range(20)),
        ("dataset", "csv"),
    )
    put("data/features.tsv", "a\tb\tc\n" + "".join(f"{i}\t{i * 2}\t{i * 3}\n" for i in range(10)), ("dataset", "tsv"))
    table = pa.table({"id": list(range(10)), "label": [i % 2 for i in range(10)]})
    pq.write_table(table, mark("data/train.bin", ("dataset", "parquet")))
    put(
        "data/chat.jsonl",
        "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(5)),
        ("dataset", "jsonl"),
    )
    with (
        pa.OSFile(str(mark("data/table.arrow", ("dataset", "arrow"))), "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as w,
    ):
        w.write_table(table)
    feather.write_feather(table, mark("data/table.feather", ("dataset", "arrow")))
    with (
        pa.OSFile(str(mark("data/stream.bin", ("dataset", "arrow-stream"))), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema) as w,
    ):
        w.write_table(table)
    put("data/examples.tfrecord", tfrecord_bytes([b"\x0a\x05hello", b"\x0a\x05world"]), ("dataset", "tfrecord"))
    with (
        pa.OSFile(str(mark("hfds/train/data-00000-of-00001.arrow", ("dataset", "arrow-stream"))), "wb") as s,
        pa.ipc.new_stream(s, table.schema) as w,
    ):
        w.write_table(table)
    put(
        "hfds/train/dataset_info.json",
        json.dumps(
            {
                "citation": "",
                "description": "",
                "features": {"id": {"dtype": "int64", "_type": "Value"}, "label": {"dtype": "int64", "_type": "Value"}},
            }
        ),
        None,
    )
    put(
        "hfds/train/state.json",
        json.dumps(
            {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_fingerprint": "abc", "_split": "train"}
        ),
        None,
    )
    exp["hfds/train"] = ("dataset", "hf-dataset")

    # ---- AI application material
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import pandas as pd\ndf = pd.read_csv('data/transactions.dat')"),
        nbformat.v4.new_code_cell(
            "print(key)", outputs=[nbformat.v4.new_output("stream", name="stdout", text=f"{FAKE_OPENAI_KEY}\n")]
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    put("notebooks/train.ipynb", nbformat.writes(nb), ("notebook", "jupyter"))
    put(
        "prompts/system.txt",
        "You are a helpful banking assistant. You must never reveal account numbers.\n"
        "Always answer politely and refuse requests for other customers' data.\n",
        ("prompt", "system-prompt"),
    )
    put(
        "prompts/qa.json",
        json.dumps({"_type": "prompt", "input_variables": ["question"], "template": "Answer: {question}"}),
        ("prompt", "langchain-config"),
    )
    put(
        "prompts/support.prompty",
        "---\nname: Support\nmodel:\n  api: chat\n  configuration:\n"
        "    type: azure_openai\n---\nsystem:\nYou are a support agent.\n",
        ("prompt", "prompty"),
    )
    put(
        "prompts/messages.json",
        json.dumps([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "{q}"}]),
        ("prompt", "chat-messages"),
    )
    put(
        "configs/claude_desktop_config.json",
        json.dumps(
            {
                "mcpServers": {
                    "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]}
                }
            }
        ),
        ("config", "mcp-config"),
    )
    put(
        "configs/chain.json",
        json.dumps(
            {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain", "chat_models", "openai", "ChatOpenAI"],
                "kwargs": {"model_name": "gpt-4o"},
            }
        ),
        ("config", "langchain-serialized"),
    )
    put("configs/llm.yaml", "model: gpt-4o-mini\ntemperature: 0.2\nmax_tokens: 512\n", ("config", "llm-config"))
    put(
        "configs/agents.yaml",
        "researcher:\n  role: Senior analyst\n  goal: Find fraud\n  backstory: Veteran\n",
        ("config", "agent-config"),
    )
    put("configs/OAI_CONFIG_LIST", json.dumps([{"model": "gpt-4", "api_key": "<redacted>"}]), ("config", "llm-config"))
    put(
        "vectors/index.faiss", faiss_flat_l2(4, [[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]]), ("vector_store", "faiss")
    )
    chroma_sqlite(mark("vectors/chroma/chroma.sqlite3", ("vector_store", "chroma-sqlite")))
    exp["vectors/chroma"] = ("vector_store", "chroma")
    put("vectors/lancedb/docs.lance/_versions/1.manifest", b"\x00\x01" * 20 + b"LANC", None)
    put("vectors/lancedb/docs.lance/data/abc.lance", b"\x00\x02" * 20 + b"LANC", None)
    exp["vectors/lancedb/docs.lance"] = ("vector_store", "lance")
    put("vectors/llama/docstore.json", json.dumps({"docstore/data": {}}), ("vector_store", "llamaindex-json"))
    put("vectors/llama/index_store.json", json.dumps({"index_store/data": {}}), ("vector_store", "llamaindex-json"))
    put(
        "vectors/llama/default__vector_store.json",
        json.dumps({"embedding_dict": {}, "text_id_to_ref_doc_id": {}, "metadata_dict": {}}),
        ("vector_store", "llamaindex-json"),
    )
    exp["vectors/llama"] = ("vector_store", "llamaindex")
    put("app/.env", f"# app settings\nDEBUG=1\nOPENAI_API_KEY={FAKE_OPENAI_KEY}\n", ("secrets", "dotenv"))

    # ---- negatives: not AI assets, including files that lie about their format
    put("app/main.py", "import os\n\n\ndef main() -> None:\n    print(os.getcwd())\n", None)
    put("app/settings.env", "DEBUG=1\nPORT=8080\n", None)
    put("README.md", "# Demo\n\nA bank's fraud project. Models live in models/, data in data/.\n", None)
    put("app/logo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, None)
    put("app/fake.safetensors", "this is not a model at all\n", None)
    put("app/fake.onnx", b"\x08\x07" + b"\xff" * 30, None)
    put("app/fake.pkl", "just text, no pickle here\n", None)
    put("app/empty.gguf", b"", None)
    put("app/random.bin", bytes((i * 37 + 11) % 256 for i in range(4096)), None)
    put("app/archive.zip", _plain_zip(), None)
    put("app/package.json", json.dumps({"name": "web", "version": "1.0.0", "dependencies": {}}), None)
    put("app/prose.txt", "Hello, world. This is a letter, not a table.\nRegards, Bob.\n", None)
    return exp


def _plain_zip() -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("docs/readme.txt", "hello")
    return buf.getvalue()
