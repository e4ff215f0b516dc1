"""Shared database fixtures: every store test runs on SQLite and on PostgreSQL.

`db_url` gives a fresh, empty database per test: a SQLite file under `tmp_path`,
or a uniquely named PostgreSQL database (created on the server named by
``BASTION_TEST_PG_URL``, default ``postgresql+psycopg://postgres@localhost:5432/test``,
dropped afterwards) so that tests of concurrent sessions never share state. When
PostgreSQL is unreachable its parameters skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from bastion.core.store import Store

PG_URL = os.environ.get("BASTION_TEST_PG_URL", "postgresql+psycopg://postgres@localhost:5432/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_dsn() -> str:
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@cache
def _pg_unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e .[postgres])"
    try:
        with psycopg.connect(_admin_dsn(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


def _require_pg() -> None:
    problem = _pg_unavailable()
    if problem is None:
        return
    if _in_ci():
        pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
    pytest.skip(problem)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database URL; dropped (forcibly) after the test."""
    import psycopg
    from sqlalchemy.engine import make_url

    _require_pg()
    name = f"bastion_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, state_dir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(state_dir / 'bastion.db').as_posix()}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def store(db_url: str, state_dir: Path) -> Iterator[Store]:
    opened = Store.open(db_url, state_dir=state_dir)
    try:
        yield opened
    finally:
        opened.close()


class SoftHSM:
    """One SoftHSM2 configuration, with its tokens, for the whole test session.

    SoftHSM2 reads `SOFTHSM2_CONF` and its token folder once per process (at
    C_Initialize) and does not notice tokens created later, so every token the tests
    use is created here, up front, before any test loads the PKCS#11 module.
    """

    TOKENS = ("keys", "sign")
    PIN = "87654321"
    SO_PIN = "12345678"

    def __init__(self, root: Path, util: str, module: str) -> None:
        import subprocess

        self.module = module
        (root / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        self.labels = {name: f"bastion-{name}-{uuid.uuid4().hex[:8]}" for name in self.TOKENS}
        for label in self.labels.values():
            subprocess.run(
                [util, "--init-token", "--free", "--label", label, "--so-pin", self.SO_PIN, "--pin", self.PIN],
                check=True,
                capture_output=True,
                env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            )


@pytest.fixture(scope="session")
def softhsm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """The session's SoftHSM2; skipped locally, failed under CI=true, when softhsm2 is missing."""
    import shutil

    from bastion.crypto._keys.pkcs11 import default_module

    util = shutil.which("softhsm2-util")
    module = default_module()
    if util is None or module is None:
        msg = "softhsm2 is not installed (apt-get install softhsm2)"
        if _in_ci():
            pytest.fail(f"{msg}; CI=true requires the PKCS#11 tests to run")
        pytest.skip(msg)
    hsm = SoftHSM(tmp_path_factory.mktemp("softhsm"), util, module)
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    try:
        yield hsm
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
