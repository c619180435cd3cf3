"""A dedicated PostgreSQL database for a benchmark, created and dropped around it.

The server is the project's (127.0.0.1:5432, ``$DIGEST_TEST_PG_URL`` overrides);
the benchmark never touches the ``test`` database's public schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "DIGEST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def available() -> bool:
    try:
        eng = create_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def _drop(conn: object, name: str) -> None:
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # type: ignore[attr-defined]


@contextmanager
def bench_database(name: str = "digest_bench") -> Iterator[str]:
    """Create database ``name`` (dropping a leftover one) and yield its URL; drop it after."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        _drop(conn, name)
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            _drop(conn, name)
        admin.dispose()
