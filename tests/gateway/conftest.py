"""Gateway fixtures: a real loopback upstream, a gateway app over a fresh store, keys per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gw_helpers import base_settings
from gw_upstream import SEEN, make_upstream, serve

from bastion.core.store import Store
from bastion.gateway import create_app


@pytest.fixture(scope="session")
def upstream_url() -> Iterator[str]:
    with serve(make_upstream()) as url:
        yield url + "/v1"


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    SEEN.clear()
    return SEEN


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'state' / 'b.db'}", state_dir=tmp_path / "state")
    try:
        yield s
    finally:
        s.close()


GatewayFactory = Callable[..., tuple[TestClient, Any]]


@pytest.fixture
def gateway(sqlite_store: Store, upstream_url: str) -> Iterator[GatewayFactory]:
    clients: list[TestClient] = []

    def make(store: Store | None = None, **extra: Any) -> tuple[TestClient, Any]:
        st = store or sqlite_store
        app = create_app(base_settings(upstream_url, **extra), st)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client, app.state.gateway

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
