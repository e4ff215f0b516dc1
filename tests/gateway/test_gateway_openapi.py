"""The OpenAPI description is accurate: generated requests only ever get documented answers.

A schema-driven fuzz in the manner of schemathesis, with a small JSON-Schema-to-Hypothesis
translator (the subset the description uses: object, array, string, integer, number,
boolean, null, anyOf, required): for
every operation, bodies generated from its declared request schema (and arbitrary JSON
beside it) must be answered with a status the description lists, never a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from gw_helpers import auth, issue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.store import Store

SUCCESS = {200, 201}


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        return st.text(max_size=40) | st.sampled_from(["echo", "raw", "acme-only", "user", "application", "acme"])
    if kind == "integer":
        return st.integers(min_value=-(2**40), max_value=2**40)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=4)
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    return st.none() | st.integers() | st.text(max_size=10)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, upstream_url: str) -> Any:
    from fastapi.testclient import TestClient
    from gw_helpers import base_settings

    from bastion.gateway import create_app

    state = tmp_path_factory.mktemp("fuzz") / "state"
    store = Store.open(f"sqlite:///{state / 'b.db'}", state_dir=state)
    app = create_app(base_settings(upstream_url, auth_failures_per_minute=100_000), store)
    key = issue(store, "acme", "admin")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.openapi(), key
    store.close()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            ops.append((method.upper(), path, op))
    return ops


def test_description_lists_every_route(env: Any) -> None:
    _, spec, _ = env
    paths = set(spec["paths"])
    for p in (
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/predict/{model}",
        "/admin/login",
        "/admin/keys",
        "/admin/keys/{key_id}/revoke",
        "/admin/keys/{key_id}/rotate",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert p in paths


def _allowed(op: dict[str, Any]) -> set[int]:
    return {int(code) for code in op.get("responses", {}) if code.isdigit()}


@pytest.mark.parametrize(
    "method_path",
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/predict/{model}"),
        ("POST", "/admin/login"),
        ("POST", "/admin/keys"),
        ("POST", "/admin/keys/{key_id}/rotate"),
    ],
)
def test_fuzz_bodies_get_documented_answers(env: Any, method_path: tuple[str, str]) -> None:
    client, spec, key = env
    method, path = method_path
    op = spec["paths"][path][method.lower()]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    allowed = _allowed(op) | SUCCESS
    url = path.replace("{model}", "fraud").replace("{key_id}", "key_missing")
    anything = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    )

    examples = 6 if path == "/admin/login" else 20  # every login costs one Argon2 verification

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=from_schema(schema) | anything)
    def run(body: Any) -> None:
        r = client.request(
            method, url, content=json.dumps(body), headers={**auth(key), "content-type": "application/json"}
        )
        assert r.status_code in allowed, (r.status_code, r.text[:300], body)
        assert r.status_code < 500
        if r.status_code >= 400:
            assert r.json()["error"]["message"]

    run()


def test_get_operations_answer_documented_statuses(env: Any) -> None:
    client, spec, key = env
    for method, path, op in _operations(spec):
        if method != "GET" or "{" in path:
            continue
        allowed = _allowed(op) | SUCCESS
        for headers in ({}, auth(key)):
            r = client.get(path, headers=headers)
            assert r.status_code in allowed, (path, r.status_code)
