"""Classic models: ONNX in-process, digest-pinned scikit-learn, upstream prediction services."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from gw_helpers import auth, issue
from onnx import TensorProto, helper

from bastion.core.store import Store
from bastion.gateway._routes.predict import ModelLoadError, load_classic
from bastion.gateway._settings import ClassicModel

W = np.array([[1.0, -1.0], [0.5, 0.5], [-1.0, 1.0]], dtype=np.float32)


def _onnx_model(path: Path) -> Path:
    """A 3-feature, 2-class softmax classifier built directly as an ONNX graph."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], W.flatten().tolist())
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"]),
        ],
        "clf",
        [x],
        [y],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def client(sqlite_store: Store, gateway: Any, tmp_path: Path, upstream_url: str) -> Any:
    path = _onnx_model(tmp_path / "fraud.onnx")
    c, _ = gateway(
        predict=[
            {
                "name": "fraud",
                "kind": "onnx",
                "path": str(path),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "tenants": ["acme"],
            },
            {"name": "remote", "kind": "upstream", "url": upstream_url.replace("/v1", "") + "/predict"},
        ]
    )
    return c


def test_onnx_prediction(client: Any, sqlite_store: Store) -> None:
    key = issue(sqlite_store, "acme", "application")
    rows = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    r = client.post("/v1/predict/fraud", headers=auth(key), json={"inputs": rows})
    assert r.status_code == 200, r.text
    probs = np.array(r.json()["outputs"]["probabilities"])
    logits = np.array(rows) @ W
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(probs, expected, atol=1e-5)


def test_upstream_prediction(client: Any, sqlite_store: Store) -> None:
    key = issue(sqlite_store, "beta", "data_scientist")
    r = client.post("/v1/predict/remote", headers=auth(key), json={"inputs": [[1, 2], [3, 4]]})
    assert r.status_code == 200 and r.json()["outputs"] == {"scores": [3, 7]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"inputs": []}, 400),
        ({"inputs": [[1, 2, 3], [1, 2]]}, 400),
        ({"inputs": [["a", 1, 2]]}, 400),
        ({"inputs": [[True, 1, 2]]}, 400),
        (b'{"inputs": [[1e400, 1, 2]]}', 400),
        (b'{"inputs": [[NaN, 1, 2]]}', 400),
        ({"x": 1}, 400),
        ({"inputs": [[1, 2]]}, 400),
        ({"inputs": [[1.0, 2.0, 3.0]] * 2000}, 400),
    ],
)
def test_bad_rows(client: Any, sqlite_store: Store, body: Any, status: int) -> None:
    key = issue(sqlite_store, "acme", "application")
    if isinstance(body, bytes):
        r = client.post("/v1/predict/fraud", headers={**auth(key), "content-type": "application/json"}, content=body)
    else:
        r = client.post("/v1/predict/fraud", headers=auth(key), json=body)
    assert r.status_code == status, r.text


def test_predict_tenant_isolation_and_scope(client: Any, sqlite_store: Store) -> None:
    other = issue(sqlite_store, "beta", "application")
    assert client.post("/v1/predict/fraud", headers=auth(other), json={"inputs": [[1, 2, 3]]}).status_code == 404
    so = issue(sqlite_store, "acme", "security_officer")
    assert client.post("/v1/predict/fraud", headers=auth(so), json={"inputs": [[1, 2, 3]]}).status_code == 403
    llm_only = issue(sqlite_store, "acme", "application", scopes=["llm"])
    assert client.post("/v1/predict/fraud", headers=auth(llm_only), json={"inputs": [[1, 2, 3]]}).status_code == 403


def test_loading_refuses_unpinned_or_tampered(tmp_path: Path) -> None:
    pkl = tmp_path / "m.joblib"
    pkl.write_bytes(b"not loaded")
    with pytest.raises(ModelLoadError, match="pinned sha256"):
        load_classic(ClassicModel(name="m", kind="sklearn", path=pkl))
    with pytest.raises(ModelLoadError, match="does not match"):
        load_classic(ClassicModel(name="m", kind="sklearn", path=pkl, sha256="0" * 64))
    onnx_path = _onnx_model(tmp_path / "x.onnx")
    with pytest.raises(ModelLoadError, match="does not match"):
        load_classic(ClassicModel(name="m", kind="onnx", path=onnx_path, sha256="1" * 64))


def test_prediction_guards_block_record_and_count(
    sqlite_store: Store, gateway: Any, tmp_path: Path, upstream_url: str
) -> None:
    """The prediction route runs its chain like the chat routes: a guard's rewrite is returned, a failing
    fail-closed guard withholds the response, and every outcome reaches the audit record and /metrics."""
    path = _onnx_model(tmp_path / "fraud.onnx")
    limiter = {"name": "confidence_limiter", "action": "redact"}
    client, gw = gateway(
        guards=[],
        predict=[
            {
                "name": "fraud",  # outputs a mapping of named outputs: not score rows, so the limiter fails closed
                "kind": "onnx",
                "path": str(path),
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "guards": [limiter],
            },
            {
                "name": "remote",  # the test upstream answers {"scores": [...]}: the same
                "kind": "upstream",
                "url": upstream_url.replace("/v1", "") + "/predict",
                "guards": [{**limiter, "action": "flag"}],
            },
        ],
    )
    key = issue(sqlite_store, "acme", "application")
    r = client.post("/v1/predict/fraud", headers=auth(key), json={"inputs": [[1.0, 2.0, 3.0]]})
    assert r.status_code == 400 and "response withheld by guard 'confidence_limiter'" in r.text, r.text
    r = client.post("/v1/predict/remote", headers=auth(key), json={"inputs": [[1, 2], [3, 4]]})
    assert r.status_code == 200 and r.json()["outputs"] == {"scores": [3, 7]}, r.text  # flagged, passed on
    effects = {
        tuple(s.labels[k] for k in ("guard", "direction", "effect")): s.value
        for m in gw.metrics.registry.collect()
        if m.name == "bastion_gateway_guard_effects"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert sum(v for (g, d, _), v in effects.items() if g == "confidence_limiter" and d == "output") == 2, effects
