"""Opening the database: engine, sessions, and migrations on first use.

SQLite (the default) gets WAL mode, foreign keys and a busy timeout;
PostgreSQL is reached with ``postgresql+psycopg://``. ``open_store`` upgrades
the schema to the newest Alembic revision, so an old database keeps working
after digest is upgraded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from digest.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Tables other libraries own in the same database (APScheduler's job store):
# Alembic leaves them alone.
FOREIGN_TABLES = frozenset({"digest_scheduler_jobs"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


_lock = threading.Lock()


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, base_dir: Path | None = None, pool_size: int | None = None) -> Engine:
    """An engine for ``url``; a relative SQLite path is taken from ``base_dir``.

    ``pool_size`` (the web app) keeps that many connections open and never more:
    a request beyond them waits for one instead of opening a connection that is
    closed again when it is returned (SQLAlchemy's overflow connections; on
    PostgreSQL each one is a new server process, which under a burst of clicks
    cost more than the requests themselves).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"storage.url {url!r} is not a database URL") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"storage.url {parsed.render_as_string(hide_password=True)!r}: digest stores its "
            "data in SQLite (sqlite:///digest.db) or PostgreSQL "
            "(postgresql+psycopg://user@host/db)"
        )
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not Path(db).is_absolute() and base_dir is not None:
            parsed = parsed.set(database=str((base_dir / db).resolve()))
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    return engine


# The newest migration's revision. Every command opens the store, and a database already
# at this revision needs no Alembic (which takes a tenth of a second to load): `digest
# status` stays quick. tests/digest/store/test_migrations.py checks it is Alembic's head.
HEAD_REVISION = "0009"


def is_current(engine: Engine) -> bool:
    """The database is at ``HEAD_REVISION`` (False when it has no schema yet)."""
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:
        return False
    return [tuple(row) for row in found] == [(HEAD_REVISION,)]


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """On SQLite, one process migrates a database file at a time (an ``flock`` on a file
    beside it; PostgreSQL takes an advisory lock inside the migration's transaction)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    import fcntl

    with open(f"{path}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    if is_current(engine):
        return
    with _one_migrator(engine):
        _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    if is_current(engine):  # another process migrated while this one waited
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:
                # SQLite migrations rebuild tables (copy, drop, rename); with foreign keys
                # on, dropping the old table would cascade into the rows that point at it.
                # The pragma only takes effect outside a transaction.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    if not sqlite:
                        # two processes starting on a new database (replicas, schedulers)
                        # take turns: the second finds the schema current and does nothing
                        conn.exec_driver_sql(
                            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), "
                            "hashtext('digest-migrations'))"
                        )
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(
                                f"migrating {engine.url!r} would break {len(broken)} references "
                                f"(first: {tuple(broken[0])}); nothing was changed"
                            )
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the database {engine.url!r}: {exc}") from exc


class Store:
    """The database: ``with store.session() as s: ...`` commits or rolls back.

    ``serialize=True`` (the web app) makes the sessions of one process take turns on
    SQLite, which admits one writer at a time anyway: a waiting request then starts
    the moment the previous one commits, instead of sleeping in SQLite's busy handler,
    which backs off in growing steps of up to 100 ms and so makes a burst of concurrent
    writers (one-click unsubscribes after a send) wait far longer than the writes take.
    PostgreSQL sessions never wait on it.
    """

    def __init__(self, engine: Engine, *, serialize: bool = False):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._turn = threading.RLock() if serialize and self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._turn or nullcontext(), self._sessions.begin() as s:
            yield s

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction (commits or rolls back), taking the same
        turns as ``session()``: for the few hot paths that skip the ORM."""
        with self._turn or nullcontext(), self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(
    url: str,
    *,
    base_dir: Path | None = None,
    migrate: bool = True,
    serialize: bool = False,
    pool_size: int | None = None,
) -> Store:
    engine = make_engine(url, base_dir=base_dir, pool_size=pool_size)
    if migrate:
        with _lock:
            try:
                upgrade(engine)
            except StoreError:
                raise
            except Exception as exc:  # connection refused and the like
                raise StoreError(f"cannot open the database {engine.url!r}: {exc}") from exc
    return Store(engine, serialize=serialize)
