"""TensorFlow SavedModel folders: recognised by structure; tf-keras Lambda layers read from metadata.

TensorFlow is not installed, so the protobufs are written by hand in the wire format.
"""

from __future__ import annotations

import base64
import json
import marshal
from pathlib import Path

import numpy as np
from _model_build import exec_pickle

from bastion.core.types import Finding, Severity
from bastion.model.scan import scan_bytes, scan_file


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def vi(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def saved_model_pb(user_metadata: str | None = None) -> bytes:
    node = ld(1, b"dense/MatMul") + ld(2, b"MatMul")
    meta_graph = ld(2, ld(1, node))
    if user_metadata is not None:  # MetaGraphDef.object_graph_def -> SavedObject.user_object.metadata
        user_object = ld(1, b"_tf_keras_layer") + ld(3, user_metadata.encode())
        meta_graph += ld(7, ld(1, ld(4, user_object)))
    return vi(1, 1) + ld(2, meta_graph)


def fingerprint_pb() -> bytes:
    hashes = b"".join(vi(i, 0xF0E1D2C3B4A59687 + i) for i in range(1, 6))
    return hashes + ld(6, vi(1, 1)) + ld(7, b"4c1e5a36-0000-4000-8000-1234567890ab")


def tensor_bundle_index() -> bytes:
    """An SSTable-shaped index: blocks, then the 48-byte footer ending in the table magic."""
    blocks = b"\x00\x00\x00" + b"bundle-header-entry" + b"\x00" * 13
    footer = (varint(0) + varint(5) + varint(5) + varint(10)).ljust(40, b"\x00")
    return blocks + footer + (0xDB4775248B80FB57).to_bytes(8, "little")


def layer_json(cls: str, config: dict[str, object]) -> str:
    return json.dumps({"class_name": cls, "name": cls.lower(), "config": config})


def lambda_config(source: str) -> dict[str, object]:
    """tf-keras' serialisation of a Lambda: base64 of the marshalled code object, as a __tuple__."""
    code = compile(source, "<lambda>", "eval").co_consts[0]
    b64 = base64.b64encode(marshal.dumps(code)).decode()
    return {
        "name": "lambda",
        "function": {"class_name": "__tuple__", "items": [b64, None, None]},
        "function_type": "lambda",
    }


def keras_metadata_pb(*layers: str) -> bytes:
    return b"".join(
        ld(1, vi(2, i) + ld(3, f"root.layer-{i}".encode()) + ld(4, b"_tf_keras_layer") + ld(5, m.encode()))
        for i, m in enumerate(layers)
    )


def write_savedmodel(root: Path, keras_layers: tuple[str, ...] = ()) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(saved_model_pb())
    (root / "fingerprint.pb").write_bytes(fingerprint_pb())
    (root / "variables" / "variables.index").write_bytes(tensor_bundle_index())
    weights = np.random.default_rng(7).standard_normal(256).astype("<f4").tobytes()
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
    if keras_layers:
        (root / "keras_metadata.pb").write_bytes(keras_metadata_pb(*keras_layers))
    return root


def worst(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def test_genuine_savedmodel_folder_is_clean(tmp_path: Path) -> None:
    dense = layer_json("Dense", {"units": 4, "activation": "relu"})
    root = write_savedmodel(tmp_path / "model", (dense,))
    assert scan_file(root) == []


def test_fingerprint_is_not_read_as_onnx() -> None:
    assert scan_bytes(fingerprint_pb(), "model/fingerprint.pb") == []


def test_tensor_bundle_index_is_recognised() -> None:
    assert scan_bytes(tensor_bundle_index(), "variables.index") == []


def test_shard_name_does_not_exempt_a_pickle(tmp_path: Path) -> None:
    root = write_savedmodel(tmp_path / "model")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(exec_pickle())
    assert "model.pickle.dangerous-callable" in {f.rule_id for f in scan_file(root)}


def test_shard_name_elsewhere_is_still_unrecognised() -> None:
    findings = scan_bytes(b"\x00\x01\x02\x03" * 8, "weights.data-00000-of-00001")
    assert {f.rule_id for f in findings} == {"model.scan.unrecognised"}


def test_keras_metadata_lambda_with_exec_is_critical(tmp_path: Path) -> None:
    evil = layer_json("Lambda", lambda_config('lambda x: exec(\'open("/tmp/m","w")\') or x'))
    root = write_savedmodel(tmp_path / "model", (layer_json("InputLayer", {}), evil))
    findings = [f for f in scan_file(root) if f.rule_id == "model.keras.lambda"]
    assert findings and worst(findings) == Severity.CRITICAL
    assert any("'exec'" in (f.evidence or "") for f in findings)


def test_keras_metadata_lambda_with_eval_and_os() -> None:
    evil = layer_json("Lambda", lambda_config('lambda x: eval(\'__import__("os").system("true")\')'))
    findings = scan_bytes(keras_metadata_pb(evil), "keras_metadata.pb")
    evidence = " ".join(f.evidence or "" for f in findings if f.rule_id == "model.keras.lambda")
    assert "'eval'" in evidence


def test_saved_model_user_object_metadata_is_read() -> None:
    evil = layer_json("Lambda", lambda_config("lambda x: exec('pass')"))
    findings = scan_bytes(saved_model_pb(user_metadata=evil), "saved_model.pb")
    assert "model.keras.lambda" in {f.rule_id for f in findings}
    assert scan_bytes(saved_model_pb(user_metadata=layer_json("Dense", {"units": 2})), "saved_model.pb") == []
