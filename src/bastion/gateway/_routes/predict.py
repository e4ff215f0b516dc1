"""Classic-model predictions: ONNX in-process, pinned scikit-learn files, or an upstream service."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bastion.gateway._context import ApiError, Gateway, read_json
from bastion.gateway._routes._guarding import guard_input, run_chain
from bastion.gateway._routes.schemas import ERRORS, body_schema
from bastion.gateway._settings import ClassicModel

router = APIRouter()


class ModelLoadError(ValueError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OnnxRunner:
    """onnxruntime runs the graph; an ONNX file carries no executable code."""

    def __init__(self, cfg: ClassicModel) -> None:
        import onnxruntime as ort

        assert cfg.path is not None
        if cfg.sha256 and _sha256(cfg.path) != cfg.sha256:
            raise ModelLoadError(f"{cfg.name}: file digest does not match the pinned sha256")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(cfg.path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, rows: np.ndarray) -> dict[str, Any]:
        results = self.session.run(None, {self.input: rows.astype(np.float32)})
        out: dict[str, Any] = {}
        for name, value in zip(self.outputs, results, strict=True):
            out[name] = value.tolist() if hasattr(value, "tolist") else value
        return out


class SklearnRunner:
    """Loading a joblib file executes code, so only a file whose sha256 was pinned (scanned, approved) loads."""

    def __init__(self, cfg: ClassicModel) -> None:
        assert cfg.path is not None
        if not cfg.sha256:
            raise ModelLoadError(f"{cfg.name}: scikit-learn models need a pinned sha256 (or export to ONNX)")
        if _sha256(cfg.path) != cfg.sha256:
            raise ModelLoadError(f"{cfg.name}: file digest does not match the pinned sha256")
        import joblib

        self.model = joblib.load(cfg.path)
        self.proba = cfg.return_probabilities and hasattr(self.model, "predict_proba")

    def predict(self, rows: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"label": np.asarray(self.model.predict(rows)).tolist()}
        if self.proba:
            out["probabilities"] = np.asarray(self.model.predict_proba(rows)).tolist()
        return out


def load_classic(cfg: ClassicModel) -> OnnxRunner | SklearnRunner | None:
    if cfg.kind == "upstream":
        if not cfg.url:
            raise ModelLoadError(f"{cfg.name}: upstream models need a url")
        return None
    if cfg.path is None or not cfg.path.is_file():
        raise ModelLoadError(f"{cfg.name}: model file not found")
    return OnnxRunner(cfg) if cfg.kind == "onnx" else SklearnRunner(cfg)


def _rows(body: dict[str, Any], cfg: ClassicModel) -> np.ndarray:
    rows = body.get("inputs")
    if not isinstance(rows, list) or not rows or len(rows) > cfg.max_rows:
        raise ApiError(400, f"'inputs' must be a list of 1..{cfg.max_rows} rows")
    width = None
    for row in rows:
        if not isinstance(row, list) or not row:
            raise ApiError(400, "each row must be a non-empty list of numbers")
        if width is None:
            width = len(row)
        if len(row) != width:
            raise ApiError(400, "rows must all have the same length")
        for v in row:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ApiError(400, "row values must be finite numbers")
    return np.asarray(rows, dtype=np.float64)


@router.post(
    "/v1/predict/{model}",
    tags=["predict"],
    responses=ERRORS,
    openapi_extra=body_schema("PredictRequest"),
    summary="Predict with a classic model",
)
async def predict(model: str, request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    gw.refuse_if_full(request)
    who = await gw.authenticate(request)
    cfg = gw.settings.classic(model)
    if cfg is None:
        raise ApiError(404, "model not found", "not_found_error")
    gw.note(request, model=model)
    tenant = who.tenant if cfg.tenants is None or who.tenant in cfg.tenants else "__other__"
    if tenant != who.tenant and "admin" not in who.roles:
        gw.note(request, decision="forbidden")
        raise ApiError(404, "model not found", "not_found_error")
    gw.authorize(request, who, f"model:{model}", "predict", tenant, "predict")
    body = await read_json(request, gw)  # before a slot is taken: slow uploads must not hold one
    chain = gw.chain_for(f"predict:{model}")
    async with gw.admitted(request):
        rows = _rows(body, cfg)
        await gw.enforce_limits(request, who, len(rows))
        features: Any = rows
        if chain.has("input"):
            item = guard_input(request, who, model, "input", features=rows)
            res = await run_chain(gw, request, chain, item)
            features = res.outputs if res.outputs is not None else rows
    gw.note(request, decision="allowed", rows=len(rows))
    runner = gw.classic.get(model)
    if runner is None:
        assert cfg.url is not None
        try:
            payload = json.dumps({"inputs": np.asarray(features).tolist()}, allow_nan=False).encode()
        except (TypeError, ValueError):  # a guard's rewritten features that JSON cannot carry (NaN, objects)
            raise ApiError(400, "the inputs could not be encoded for the upstream") from None
        try:
            resp = await gw.http.request("POST", cfg.url, payload, {"content-type": "application/json"}, cfg.timeout)
        except Exception:
            raise ApiError(502, "upstream unavailable", "upstream_error") from None
        if resp.status >= 400:
            raise ApiError(502, f"upstream answered {resp.status}", "upstream_error")
        try:
            outputs = resp.json()
        except (ValueError, RecursionError):
            raise ApiError(502, "upstream sent invalid JSON", "upstream_error") from None
    else:
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(gw.executor, runner.predict, np.asarray(features))
        except Exception:
            raise ApiError(400, "the model could not score these inputs (shape or type mismatch)") from None
    if chain.has("output"):
        item = guard_input(request, who, model, "output", features=features, outputs=outputs)
        res = await run_chain(gw, request, chain, item)
        outputs = res.outputs if res.outputs is not None else outputs
    return JSONResponse({"model": model, "outputs": outputs})
