"""One sender per issue, across processes.

``issue_lock(store, key)`` is held for a whole send. On PostgreSQL it is a
session-level ``pg_try_advisory_lock`` on a dedicated connection (scoped to
the current schema, so two newsletters in one database do not block each
other); on SQLite an ``fcntl.flock`` on a lock file beside the database. In
both cases the lock goes away with the process, so a killed send never leaves
a stale lock behind. A lock held elsewhere raises ``IssueLocked`` at once
(nobody waits).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from digest.errors import IssueLocked
from digest.store.database import Store

_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


def lock_file_path(store: Store, key: str) -> Path | None:
    """The SQLite lock file for ``key`` (None for an in-memory database)."""
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.send-{key}.lock")


@contextmanager
def issue_lock(store: Store, key: str) -> Iterator[None]:
    if store.dialect == "postgresql":
        with _pg_lock(store, key):
            yield
        return
    path = lock_file_path(store, key)
    if path is None:
        with _memory_lock(f"{id(store.engine)}:{key}", key):
            yield
        return
    with _file_lock(path, key):
        yield


@contextmanager
def _pg_lock(store: Store, key: str) -> Iterator[None]:
    conn = store.engine.connect()
    try:
        name = {"name": f"digest-send:{key}"}
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(current_schema()), hashtext(:name))"), name
        ).scalar()
        conn.commit()
        if not got:
            raise IssueLocked(key)
        try:
            yield
        finally:
            conn.execute(
                text("SELECT pg_advisory_unlock(hashtext(current_schema()), hashtext(:name))"), name
            )
            conn.commit()
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path, key: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IssueLocked(key) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(name: str, key: str) -> Iterator[None]:
    with _memory_guard:
        lock = _memory_locks.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise IssueLocked(key)
    try:
        yield
    finally:
        lock.release()
