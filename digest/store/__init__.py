"""The store: every table, every migration, and the queries the pipeline and the list share.

It sits at the bottom: it imports nothing of digest above it (only ``digest.errors``), so
collect, select, render and send, the list in ``subscribers/``, the CLI, the scheduler and
the web app all build on it and never on each other's storage.

- ``database``: the engine, sessions (``Store``) and Alembic upgrades on first use
- ``tables``: the SQLAlchemy tables; ``migrations/``: their Alembic history
- ``records``: issue records (one row per issue key: status, rendered issue, counts)
- ``ledger``: the send ledger (frozen recipients, batches, their states and counts);
  ``batch_path``: the per-batch steps of a send, with their statements built once
- ``controls``: the editors' pins, drops and notes
- ``feedcache``: the last good copy of each remote feed
- ``locks``: one sender per issue (PostgreSQL advisory locks, or a file lock on SQLite)
- ``keys``: the fingerprints of the keys that signed links
"""

from digest.store.database import MIGRATIONS_DIR, Store, make_engine, open_store, upgrade

__all__ = ["MIGRATIONS_DIR", "Store", "make_engine", "open_store", "upgrade"]
