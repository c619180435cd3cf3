"""Whether the database answers and its schema is the one this code was written for
(the web app's ``GET /healthz``).

``schema_state`` reads the database's Alembic revision in one query and compares it with
the newest revision this code knows. Three answers:

* ``current``: the database is at this code's newest revision;
* ``newer``: a revision this code does not know, which during an upgrade means a newer
  release has already migrated (the documented order: migrate, then roll the replicas;
  revisions only ever add, so the old replicas keep working until they are replaced);
* ``behind``: an older revision of ours, or no digest tables at all (the database was
  restored or replaced under the running app): not safe to serve.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text

from digest.store.database import MIGRATIONS_DIR, Store

SchemaFit = Literal["current", "newer", "behind"]

_REVISION = text("SELECT version_num FROM alembic_version")
_PING = text("SELECT 1")


@dataclass(frozen=True)
class SchemaState:
    database: str | None  # the database's revision (None: no digest tables)
    head: str  # this code's newest revision
    fit: SchemaFit


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """This code's newest revision and every revision it knows (read from the migration
    files once per process: they cannot change under it)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError("no Alembic revisions found")
    return head, frozenset(r.revision for r in script.walk_revisions())


def head_revision() -> str:
    return _revisions()[0]


def schema_state(store: Store) -> SchemaState:
    """The database's revision against this code's; raises what the driver raises when
    the database cannot be reached."""
    head, known = _revisions()
    with store.engine.connect() as conn:
        has_table = store.engine.dialect.has_table(conn, "alembic_version")
        rows = conn.execute(_REVISION).scalars().all() if has_table else []
    database = rows[0] if len(rows) == 1 else None
    if database == head:
        fit: SchemaFit = "current"
    elif database is not None and database not in known:
        fit = "newer"
    else:
        fit = "behind"
    return SchemaState(database, head, fit)


def ping(store: Store) -> None:
    """One trivial query: raises when the database does not answer."""
    with store.engine.connect() as conn:
        conn.execute(_PING)


__all__ = ["SchemaFit", "SchemaState", "head_revision", "ping", "schema_state"]
