"""The OpenAPI description is accurate, checked by schemathesis against the app itself.

schemathesis reads the app's own `/openapi.json`, generates requests for every
operation (bodies, path and query parameters, valid and invalid), sends them
through the ASGI app with an administrator's key, and checks every answer: no
5xx, a status the description lists, the declared content type, and a body
that conforms to the declared response schema (the OpenAI error shape for
every error).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from gw_helpers import auth, issue
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bastion.core.store import Store

SUCCESS = {200, 201}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


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


@pytest.fixture(scope="module")
def served(env: Any) -> Any:
    """The same app over real loopback HTTP: schemathesis sends its cases with `requests`."""
    from gw_upstream import serve

    client, _, _ = env
    with serve(client.app) as url:
        yield url


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


def test_get_operations_answer_documented_statuses(env: Any) -> None:
    client, spec, key = env
    for method, path, op in _operations(spec):
        if method != "GET" or "{" in path:
            continue
        allowed = _allowed(op) | SUCCESS
        for headers in ({}, auth(key)):
            r = client.get(path, headers=headers)
            assert r.status_code in allowed, (path, r.status_code)


@pytest.fixture(scope="module")
def api_schema(env: Any) -> Any:
    _, spec, _ = env
    return schemathesis.openapi.from_dict(spec)


def _labels() -> list[str]:
    """Every served operation, from the routers themselves (collection needs them before any app exists)."""
    from bastion.gateway._routes import admin, health, openai, predict

    paths: list[str] = []
    for router in (openai.router, predict.router, admin.router, health.router):
        for route in router.routes:
            for method in sorted(getattr(route, "methods", ()) or ()):
                paths.append(f"{method} {route.path}")  # type: ignore[attr-defined]
    return sorted(paths)


# Positive cases follow the declared schemas; negative ones break them on purpose.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("label", _labels())
def test_schemathesis_every_operation_answers_as_documented(
    api_schema: Any, env: Any, served: str, label: str, mode: Any
) -> None:
    _, _, key = env
    found = api_schema.find_operation_by_label(label)
    if found is None:
        pytest.fail(f"{label} is served but missing from the OpenAPI description")
    if mode is GenerationMode.NEGATIVE and not (
        list(found.iter_parameters()) or found.get_request_payload_content_types()
    ):
        pytest.skip("no parameters or body to make invalid")
    examples = 4 if label == "POST /admin/login" else 12  # every login costs an Argon2 verification

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=found.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=served, headers=auth(key), checks=CHECKS, timeout=30)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("no invalid value exists for these parameters (e.g. a free-form path segment)")
