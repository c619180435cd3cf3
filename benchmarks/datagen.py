"""Fill a database with N active subscribers, fast.

One subscriber is added through the product (``subscribers.repository.add``,
so its stored fields are exactly what the product writes); the other N-1 are
copied from it by one set-based ``INSERT … SELECT`` over a generated series
(SQLite: a recursive CTE; PostgreSQL: ``generate_series``), with their own
address (``reader0000042@example.com``) and name. A million rows take a few
seconds and never pass through Python.

Consent-ledger rows are written only for the template subscriber: the send
does not read them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import text

from digest.store.database import Store

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CHUNK = 250_000


def address(n: int) -> str:
    return f"reader{n:07d}@example.com"


def generate(store: Store, count: int, *, start: int = 1) -> float:
    """Insert ``count`` active subscribers numbered from ``start``; return seconds taken."""
    from subscribers import repository

    if count <= 0:
        return 0.0
    began = time.perf_counter()
    with store.session() as s:
        template = repository.add(
            s, address(start), at=AT, source="import", name=f"Reader {start}", status="active"
        )
        template_id = template.id
    first, last = start + 1, start + count - 1
    dialect = store.dialect
    with store.engine.begin() as conn:
        lo = first
        while lo <= last:
            hi = min(lo + CHUNK - 1, last)
            if dialect == "sqlite":
                conn.execute(
                    text(
                        "WITH RECURSIVE seq(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM seq WHERE n < :hi) "
                        "INSERT INTO subscribers (email, email_key, name, status, source, created_at, "
                        "confirmed_at, soft_bounces) "
                        "SELECT printf('reader%07d@example.com', n), printf('reader%07d@example.com', n), "
                        "'Reader ' || n, t.status, t.source, t.created_at, t.confirmed_at, 0 "
                        "FROM seq, (SELECT * FROM subscribers WHERE id = :tid) AS t"
                    ),
                    {"lo": lo, "hi": hi, "tid": template_id},
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO subscribers (email, email_key, name, status, source, created_at, "
                        "confirmed_at, soft_bounces) "
                        "SELECT 'reader' || lpad(n::text, 7, '0') || '@example.com', "
                        "'reader' || lpad(n::text, 7, '0') || '@example.com', "
                        "'Reader ' || n, t.status, t.source, t.created_at, t.confirmed_at, 0 "
                        "FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS n, "
                        "(SELECT * FROM subscribers WHERE id = :tid) AS t"
                    ),
                    {"lo": lo, "hi": hi, "tid": template_id},
                )
            lo = hi + 1
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - began


def active_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM subscribers WHERE status = 'active'")
            ).scalar_one()
        )


def clear_sends(store: Store) -> None:
    """Forget every issue and send (keeps the subscribers): the next send starts afresh."""
    tables = ["send_recipients", "send_batches", "issue_articles", "issues"]
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)}"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.datagen DATABASE_URL COUNT``: a list to try things on."""
    import argparse

    from digest.store.database import open_store

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.datagen",
        description="Add COUNT active subscribers (reader0000001@example.com, …) to a database.",
        epilog="Example:\n  python -m benchmarks.datagen sqlite:///big.db 100000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="sqlite:///file.db or postgresql+psycopg://user@host/db")
    parser.add_argument("count", type=int)
    args = parser.parse_args(argv)
    store = open_store(args.url)
    try:
        start = active_count(store) + 1
        took = generate(store, args.count, start=start)
        print(
            f"added {args.count} active subscribers in {took:.1f} s ({active_count(store)} active)"
        )
    finally:
        store.dispose()


if __name__ == "__main__":
    main()
