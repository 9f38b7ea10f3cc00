"""Store fixtures: every store test runs against real SQLite and real PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth, user postgres); each test gets a fresh
database, dropped afterwards. Set MONITOR_TEST_PG to another server URL to use that one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_SERVER = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database for this test."""
    name = f"mm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - only when the server is missing
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each backend we support."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/monitor.db"
    return str(request.getfixturevalue("pg_url"))
