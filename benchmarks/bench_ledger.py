"""The ledger after a year (issue 13): 52 sent issues of N recipients each (100k; ``--quick``:
3 issues of 2,000), on SQLite and PostgreSQL.

One real first send (``digest send`` to ``benchmarks.sink``) writes an issue and its ledger;
its rows are copied, set-based, to the 51 weeks before it (issue record, articles, batches,
one ``send_recipients`` row per reader), as a publication's database looks after a year.
Then, before and after ``digest db compact`` (the default ``keep_recipients_weeks``, 13; then
1): the wall time of ``digest issues list`` and ``digest status`` (whole processes, median of
``repeat`` runs), the time of a new send's freeze (``ledger._freeze_recipients`` for the next
week, rolled back, in-process) and the database's size: the file (SQLite; PostgreSQL: the
database) and what its tables use (SQLite: pages not free; PostgreSQL: after VACUUM).

Targets (2 cores): ``issues list`` and ``status`` <= 0.5 s; after compaction the size in use
within 2x of one issue's ledger plus the subscribers (measured right after the first send).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from benchmarks import datagen, pgdb
from benchmarks.bench_send import database, label
from benchmarks.publication import AS_OF, write_publication
from benchmarks.runner import digest_env, run_measured
from benchmarks.servers import HelperProcess, wait_for_http
from benchmarks.stats import Figure, check, median, unmeasured

WEEKS = 52


def run(
    *, quick: bool, workdir: Path, repeat: int | None = None, options: Any = None
) -> list[Figure]:
    dbs_opt = getattr(options, "databases", None)
    dbs = dbs_opt.split(",") if dbs_opt else (["sqlite"] if quick else ["sqlite", "postgresql"])
    readers, weeks = (2000, 3) if quick else (100_000, WEEKS)
    runs = repeat or (1 if quick else 3)
    workdir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    with HelperProcess("benchmarks.sink") as sink:
        wait_for_http(sink.url + "/stats")
        for kind in dbs:
            if kind == "postgresql" and not pgdb.available():
                figures.append(unmeasured("ledger", "ledger on postgresql", "s", "not reachable"))
                continue
            with database(kind, workdir) as url:
                figures += _year(kind, url, workdir, sink.url, readers, weeks, runs)
    return figures


def _year(
    kind: str, url: str, workdir: Path, sink_url: str, readers: int, weeks: int, runs: int
) -> list[Figure]:
    from digest.store.database import open_store

    store = open_store(url)
    try:
        datagen.generate(store, readers)
        config = write_publication(workdir / f"ledger-{kind}", db_url=url)
        env = digest_env(sink_url)
        sent = run_measured(
            ["send", "--yes", "--config", str(config), "--as-of", AS_OF.isoformat()],
            env=env,
            log=workdir / f"ledger-send-{kind}.log",
        )
        if sent.returncode != 0:
            return [unmeasured("ledger", f"ledger {kind}", "s", f"send: {sent.tail(3)}")]
        one_issue = _sizes(store)[1]
        _copy_back(store, weeks)
        tag = f"{weeks} issues × {label(readers)} {kind}"
        figures = _measure(store, config, env, workdir, f"{tag}, before compaction", runs)
        for keep in (13, 1):
            _set_keep(config, keep)
            done = run_measured(
                ["db", "compact", "--config", str(config)], env=env, log=workdir / "compact.log"
            )
            when = f"after compact (keep {keep} weeks)"
            figures.append(
                Figure(
                    "ledger",
                    f"{tag}: digest db compact, keep {keep}",
                    done.wall,
                    "s",
                    1,
                    [done.wall],
                    note=done.tail(1)[:120],
                )
            )
            figures += _measure(store, config, env, workdir, f"{tag}, {when}", runs)
        used = figures[-1]
        limit = 2 * one_issue
        figures.append(
            Figure(
                "ledger",
                f"{tag}: one issue's ledger + subscribers (in use)",
                one_issue,
                "MB",
                1,
                [one_issue],
            )
        )
        used.target, used.met = (
            f"<= {limit:.1f} MB (2x one issue)",
            check(used.value, at_most=limit),
        )
        return figures
    finally:
        store.dispose()


def _measure(
    store: Any, config: Path, env: dict[str, str], workdir: Path, tag: str, runs: int
) -> list[Figure]:
    figures: list[Figure] = []
    for command in (["issues", "list"], ["status"]):
        walls = []
        for _ in range(runs):
            done = run_measured(
                [*command, "--config", str(config)], env=env, log=workdir / "ledger-cmd.log"
            )
            if done.returncode != 0:
                return [unmeasured("ledger", f"{tag}: digest {' '.join(command)}", "s",
                                   done.tail(2))]  # fmt: skip
            walls.append(done.wall)
        value = median(walls)
        figures.append(
            Figure(
                "ledger",
                f"{tag}: digest {' '.join(command)}",
                value,
                "s",
                runs,
                walls,
                target="<= 0.5 s",
                met=check(value, at_most=0.5),
            )
        )
    freeze = _freeze_seconds(store)
    figures.append(Figure("ledger", f"{tag}: a new send's freeze", freeze, "s", 1, [freeze]))
    file_mb, used_mb = _sizes(store)
    figures.append(Figure("ledger", f"{tag}: database file", file_mb, "MB", 1, [file_mb]))
    figures.append(Figure("ledger", f"{tag}: database in use", used_mb, "MB", 1, [used_mb]))
    return figures


def _copy_back(store: Any, weeks: int) -> None:
    """Copy the one sent issue to the ``weeks - 1`` weeks before it, set-based."""
    from digest.store.tables import IssueArticle, IssueRecord, SendBatch, SendRecipient

    issues, articles = (cast(Table, t.__table__) for t in (IssueRecord, IssueArticle))
    batches, recipients = (cast(Table, t.__table__) for t in (SendBatch, SendRecipient))
    with store.engine.begin() as conn:
        source = conn.execute(select(issues)).mappings().one()
        arts = [dict(a) for a in conn.execute(select(articles)).mappings()]
        for week in range(1, weeks):
            back = timedelta(weeks=week)
            key = (source["as_of"] - back).strftime("%G-W%V")
            row = dict(source) | {"key": key, "as_of": source["as_of"] - back}
            for col in ("created_at", "started_at", "finished_at"):
                row[col] = source[col] - back if source[col] else None
            conn.execute(insert(issues), [row])
            conn.execute(insert(articles), [a | {"issue_key": key} for a in arts])
            for table in (batches, recipients):
                cols = [c for c in table.c if c.name != "issue_key"]
                conn.execute(
                    insert(table).from_select(
                        ["issue_key", *(c.name for c in cols)],
                        select(text(":key").bindparams(key=key), *cols).where(
                            table.c.issue_key == source["key"]
                        ),
                    )
                )


def _freeze_seconds(store: Any) -> float:
    """Seconds to freeze the recipients of next week's issue (its record made first, the
    whole rolled back)."""
    from digest.store.ledger import _freeze_recipients
    from digest.store.tables import IssueRecord

    issues = cast(Table, IssueRecord.__table__)
    key = (AS_OF + timedelta(weeks=1)).strftime("%G-W%V")
    with Session(store.engine) as s:
        newest = s.execute(select(issues).order_by(issues.c.key.desc())).mappings().first()
        s.execute(insert(issues), [dict(newest or {}) | {"key": key, "status": "sending"}])
        began = time.perf_counter()
        _freeze_recipients(s, key=key, batch_size=1000, now=AS_OF)
        s.flush()
        took = time.perf_counter() - began
        s.rollback()
    return took


def _sizes(store: Any) -> tuple[float, float]:
    """The database's size on disk and what its tables use, in MB."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_freespacemap"))
            conn.execute(text("VACUUM"))  # records the free space of every page
            total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            used = conn.execute(
                text(
                    "SELECT sum(pg_relation_size(c.oid) - "
                    "coalesce((SELECT sum(avail) FROM pg_freespace(c.oid)), 0)) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')"
                )
            ).scalar_one()
            return total / 1e6, float(used) / 1e6
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return pages * size / 1e6, (pages - free) * size / 1e6


def _set_keep(config: Path, weeks: int) -> None:
    text_ = config.read_text(encoding="utf-8")
    lines = [ln for ln in text_.splitlines() if not ln.startswith("keep_recipients_weeks")]
    out = "\n".join(lines).replace("[storage]", f"[storage]\nkeep_recipients_weeks = {weeks}")
    config.write_text(out + "\n", encoding="utf-8")
