"""The app factory each `bastion serve --workers N` process runs.

Uvicorn starts worker processes by import string, so the parent hands them
what `create_app` needs (validated settings, the database URL, the state
folder) through one environment variable, which only its own children
inherit. Each worker opens its own store connection and runs its own audit
writer; the store serialises chain appends across processes (SQLite
`BEGIN IMMEDIATE`, PostgreSQL row locks). Limits are exact only when shared
through Redis; without it each worker enforces its share (see
`Gateway._share`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    from fastapi import FastAPI

ENV = "BASTION_GATEWAY_WORKER"


def handoff(settings: GatewaySettings, db_url: str, state_dir: Path) -> None:
    os.environ[ENV] = json.dumps(
        {"settings": settings.model_dump(mode="json"), "db_url": db_url, "state_dir": str(state_dir)}
    )


def app() -> FastAPI:
    from bastion.core.store import Store
    from bastion.gateway import tune_process
    from bastion.gateway._app import build_app

    tune_process()

    spec = json.loads(os.environ[ENV])
    settings = GatewaySettings.model_validate(spec["settings"])
    from bastion.gateway._server import GatewayHttpProtocol

    GatewayHttpProtocol.configure(settings)  # this worker's server protocol (named in `serve`) takes its limits
    store = Store.open(spec["db_url"], state_dir=Path(spec["state_dir"]))
    return build_app(settings, store)
