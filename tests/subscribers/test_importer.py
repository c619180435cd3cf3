"""subscribers/importer.py's reading of a CSV: quotes that never close, quoted fields that
legitimately span lines, and what a bad row may not take with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from subscribers_support import T0, FakeClock, make_config, outbox_messages, secrets

from digest.store.database import Store
from digest.store.tables import ConsentEvent, Subscriber
from subscribers import repository as repo
from subscribers.importer import ImportReport, Problem, Row, import_csv, read_rows
from subscribers.workflow import Workflow


def read(tmp_path: Path, text: str) -> tuple[list[Row], list[Problem]]:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    problems: list[Problem] = []
    rows = list(read_rows(path, problems))
    return rows, problems


def emails(rows: list[Row]) -> list[tuple[int, str]]:
    return [(r.line, r.email) for r in rows]


def test_an_unclosed_quote_in_a_name_takes_no_row_with_it(tmp_path: Path) -> None:
    """Issue 11, item 10: the rows after the quote were swallowed into the name ("imported
    2", exit 0, three rows lost, none reported)."""
    rows, problems = read(
        tmp_path,
        'email,name\na@example.com,Ann\nb@example.com,"Bo\n'
        "c@example.com,Cy\nd@example.com,Di\ne@example.com,Ed\n",
    )
    assert emails(rows) == [
        (2, "a@example.com"),
        (4, "c@example.com"),
        (5, "d@example.com"),
        (6, "e@example.com"),
    ]
    assert [r.name for r in rows] == ["Ann", "Cy", "Di", "Ed"]
    [problem] = problems
    assert problem.line == 3 and "a quote opened here is not closed" in problem.reason
    assert "line 4" in problem.reason


def test_a_quote_closed_rows_later_takes_none_of_them(tmp_path: Path) -> None:
    rows, problems = read(
        tmp_path, 'email,name\nb@example.com,"Bo\nc@example.com,Cy\nd@example.com,"Di"\n'
    )
    assert emails(rows) == [(3, "c@example.com"), (4, "d@example.com")]
    assert rows[1].name == "Di"
    assert [p.line for p in problems] == [2]


def test_a_quote_open_to_the_end_of_the_file(tmp_path: Path) -> None:
    rows, problems = read(
        tmp_path, 'email,name\na@example.com,"Ann\nnothing like a row\nmore words\n'
    )
    assert rows[0].line == 3 and rows[0].email == "nothing like a row"  # reported by import_csv
    assert [r.line for r in rows] == [3, 4]
    [problem] = problems
    assert problem.line == 2 and "not closed by the end of the file" in problem.reason


def test_an_unclosed_quote_on_the_last_line(tmp_path: Path) -> None:
    rows, problems = read(tmp_path, 'email,name\na@example.com,Ann\nb@example.com,"Bo')
    assert emails(rows) == [(2, "a@example.com")]
    assert [p.line for p in problems] == [3]


def test_a_quote_opened_in_the_email_column(tmp_path: Path) -> None:
    rows, problems = read(
        tmp_path, 'email,name\n"open@example.com,Open\nx\n"y,z\nnext@example.com,Next\n'
    )
    assert [p.line for p in problems][:1] == [2]
    assert ("next@example.com", "Next") in [(r.email, r.name) for r in rows]
    assert "open@example.com" not in [r.email for r in rows]


@pytest.mark.parametrize(
    "text, name",
    [
        ('email,name\na@example.com,"Ann\nSmith"\nb@example.com,Bo\n', "Ann\nSmith"),
        (
            'email,name\na@example.com,"Ann\r\nSmith, Jr."\r\nb@example.com,Bo\r\n',
            "Ann\r\nSmith, Jr.",
        ),
        (
            'email,name\na@example.com,"Ann\n\n""the ace""\n"\nb@example.com,Bo\n',
            'Ann\n\n"the ace"',
        ),
    ],
)
def test_a_quoted_name_may_span_lines(tmp_path: Path, text: str, name: str) -> None:
    rows, problems = read(tmp_path, text)
    assert problems == []
    assert [(r.line, r.email, r.name) for r in rows] == [
        (2, "a@example.com", name),
        (rows[1].line, "b@example.com", "Bo"),
    ]


def test_quoted_fields_on_one_line_are_untouched(tmp_path: Path) -> None:
    rows, problems = read(tmp_path, 'email,name\n"a@example.com","Ann, ""Jr."""\n')
    assert problems == [] and [(r.email, r.name) for r in rows] == [("a@example.com", 'Ann, "Jr."')]


def test_control_characters_never_reach_a_name(tmp_path: Path) -> None:
    """A name printed by `subscribers list` or put in a To: header must not carry escape
    sequences (they retitle the terminal, clear the screen): the name is cleaned where every
    name is stored, ``repository.clean_name``."""
    rows, _ = read(tmp_path, "email,name\na@example.com,Ann\x1b]0;owned\x07 \x1b[2JSmith\x00\x9b\n")
    assert repo.clean_name(rows[0].name) == "Ann]0;owned [2JSmith"


def test_a_neutralised_address_reads_back(tmp_path: Path) -> None:
    rows, problems = read(
        tmp_path,
        "email,name\n'=cmd@example.com,'=x\n'tis@example.com,\n"
        "''=two@example.com,\n'\uff0bwide@example.com,\n",
    )
    assert problems == []
    assert [r.email for r in rows] == [
        "=cmd@example.com",
        "'tis@example.com",
        "'=two@example.com",
        "\uff0bwide@example.com",
    ]
    assert rows[0].name == "=x"


# --- the batched write: every rule of the row-by-row import, chunk by chunk ---------------
#
# On SQLite and PostgreSQL (the ``store`` fixture); ``batch_size`` is made small so that a few
# rows cross several chunks.


@pytest.fixture
def workflow(tmp_path: Path, store: Store) -> Workflow:
    return Workflow(make_config(tmp_path), store, secrets=secrets(), clock=FakeClock())


def run_import(
    workflow: Workflow, tmp_path: Path, text: str, *, confirmed: bool = True, batch_size: int = 3
) -> ImportReport:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return import_csv(path, workflow, confirmed=confirmed, batch_size=batch_size)


def listed(store: Store) -> dict[str, tuple[str, str | None]]:
    with store.session() as s:
        return {sub.email: (sub.status, sub.name) for sub in s.scalars(select(Subscriber))}


def ledger(store: Store) -> list[tuple[str | None, str, str, str | None]]:
    with store.session() as s:
        rows = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        return [
            (
                repo.get(s, e.subscriber_id).email if e.subscriber_id else None,  # type: ignore[union-attr]
                e.kind,
                e.email_hash,
                e.detail,
            )
            for e in rows
        ]


@pytest.mark.postgres
def test_duplicates_within_a_file_across_chunks(workflow: Workflow, tmp_path: Path) -> None:
    report = run_import(
        workflow,
        tmp_path,
        "email,name\na@example.com,Ann\nA@Example.com,Again\nb@example.com,Bo\n"
        "c@example.com,Cy\na@EXAMPLE.com,Later\nb@example.com,Bo again\n",
    )
    assert (report.added, report.duplicates, report.already, report.problems) == (3, 3, 0, [])
    assert listed(workflow.store) == {
        "a@example.com": ("active", "Ann"),
        "b@example.com": ("active", "Bo"),
        "c@example.com": ("active", "Cy"),
    }
    events = ledger(workflow.store)
    assert len(events) == 6  # subscribed + confirmed, once per reader
    assert {(who, kind) for who, kind, _, _ in events} == {
        (e, k) for e in ("a@example.com", "b@example.com", "c@example.com")
        for k in ("subscribed", "confirmed")
    }  # fmt: skip
    assert all(h == repo.email_hash(who or "") for who, _, h, _ in events)
    assert {d for *_, d in events} == {"consent vouched for by the importer"}


@pytest.mark.postgres
def test_addresses_already_on_the_list_are_left_as_they_are(
    workflow: Workflow, tmp_path: Path
) -> None:
    with workflow.store.session() as s:
        for address, status in [
            ("Gone@example.com", "unsubscribed"),
            ("pending@example.com", "pending"),
            ("bounced@example.com", "bounced"),
        ]:
            sub = repo.add(s, address, at=T0, source="cli", name="Before")
            if status != "pending":
                repo.set_status(s, sub, status, source="cli", at=T0)
    before = listed(workflow.store), ledger(workflow.store)
    report = run_import(
        workflow,
        tmp_path,
        "email,name\nnew@example.com,New\ngone@EXAMPLE.com,After\npending@example.com,After\n"
        "bounced@example.com,After\n",
    )
    assert (report.added, report.already, report.problems) == (1, 3, [])
    after = listed(workflow.store)
    assert after.pop("new@example.com") == ("active", "New")
    assert after == before[0]
    assert ledger(workflow.store)[: len(before[1])] == before[1]
    assert len(ledger(workflow.store)) == len(before[1]) + 2


@pytest.mark.postgres
def test_an_erased_address_is_refused_with_its_line(workflow: Workflow, tmp_path: Path) -> None:
    with workflow.store.session() as s:
        repo.erase(s, repo.add(s, "erased@example.com", at=T0, source="cli"), at=T0)
    events_before = len(ledger(workflow.store))
    report = run_import(
        workflow,
        tmp_path,
        "email,name\na@example.com,A\nb@example.com,B\nERASED@example.com,E\nc@example.com,C\n",
    )
    assert report.added == 3
    [problem] = report.problems
    assert problem.line == 4 and "erased at the person's request" in problem.reason
    assert "erased@example.com" not in listed(workflow.store)
    assert len(ledger(workflow.store)) == events_before + 6
    again = run_import(workflow, tmp_path, "email\nerased@example.com\n")
    assert again.added == 0 and [p.line for p in again.problems] == [2]


@pytest.mark.postgres
def test_a_bad_row_in_the_middle_of_a_chunk(workflow: Workflow, tmp_path: Path) -> None:
    report = run_import(
        workflow,
        tmp_path,
        "email,name\na@example.com,A\nnot-an-address,X\nb@example.com,B\n,Empty\nc@example.com,C\n",
        batch_size=5,
    )
    assert report.added == 3
    assert [(p.line, p.reason.split(":")[0]) for p in report.problems] == [
        (3, "'not-an-address' is not a valid email address"),
        (5, "the email is empty"),
    ]
    assert set(listed(workflow.store)) == {"a@example.com", "b@example.com", "c@example.com"}


@pytest.mark.postgres
def test_chunk_size_plus_one_rows_and_reimport(workflow: Workflow, tmp_path: Path) -> None:
    n = 7
    text = "email,name\n" + "".join(f"r{i}@example.com,R {i}\n" for i in range(n + 1))
    report = run_import(workflow, tmp_path, text, batch_size=n)
    assert (report.added, report.problems) == (n + 1, [])
    with workflow.store.session() as s:
        ids = list(s.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        linked = {
            (sid, kind)
            for sid, kind in s.execute(select(ConsentEvent.subscriber_id, ConsentEvent.kind))
        }
    assert len(ids) == n + 1
    assert linked == {(i, k) for i in ids for k in ("subscribed", "confirmed")}
    before = listed(workflow.store), ledger(workflow.store)
    again = run_import(workflow, tmp_path, text, batch_size=n)
    assert (again.added, again.already) == (0, n + 1)
    assert (listed(workflow.store), ledger(workflow.store)) == before


@pytest.mark.postgres
def test_without_confirmed_each_new_reader_is_pending_and_sent_one_email(
    workflow: Workflow, tmp_path: Path
) -> None:
    with workflow.store.session() as s:
        repo.add(s, "old@example.com", at=T0, source="cli")
    report = run_import(
        workflow,
        tmp_path,
        "email,name\na@example.com,A\nold@example.com,O\nb@example.com,B\nc@example.com,C\n",
        confirmed=False,
        batch_size=2,
    )
    assert (report.added, report.already, report.confirmations_sent) == (3, 1, 3)
    with workflow.store.session() as s:
        subs = {sub.email: sub for sub in s.scalars(select(Subscriber))}
        assert all(
            subs[e].status == "pending"
            and subs[e].confirm_nonce
            and subs[e].confirmation_sent_at is not None
            and subs[e].created_at == T0
            for e in ("a@example.com", "b@example.com", "c@example.com")
        )
    imported = [
        (who, kind, d) for who, kind, _, d in ledger(workflow.store) if who != "old@example.com"
    ]
    assert [(who, kind) for who, kind, _ in imported if kind != "confirmation_sent"] == [
        ("a@example.com", "subscribed"),
        ("b@example.com", "subscribed"),
        ("c@example.com", "subscribed"),
    ]
    assert {d for _, kind, d in imported if kind == "subscribed"} == {"imported from list.csv"}
    assert len(outbox_messages(tmp_path / "outbox")) == 3


def test_progress_is_reported_after_each_chunk(tmp_path: Path, sqlite_store: Store) -> None:
    workflow = Workflow(make_config(tmp_path), sqlite_store, secrets=secrets(), clock=FakeClock())
    path = tmp_path / "list.csv"
    path.write_text("email\n" + "".join(f"r{i}@example.com\n" for i in range(7)) + "bad\n")
    seen: list[tuple[int, int, int | None]] = []
    import_csv(
        path,
        workflow,
        confirmed=True,
        batch_size=3,
        on_progress=lambda p: seen.append((p.rows, p.bytes_read, p.total_bytes)),
    )
    size = path.stat().st_size
    assert [rows for rows, _, _ in seen] == [3, 6, 8]
    assert {total for *_, total in seen} == {size}
    assert seen[-1][1] == size


@pytest.mark.postgres
def test_names_with_backslashes_and_null_markers_are_stored_as_written(
    workflow: Workflow, tmp_path: Path
) -> None:
    """PostgreSQL is written with COPY, where ``\\`` and ``\\N`` have meanings of their own."""
    report = run_import(
        workflow, tmp_path, 'email,name\na@example.com,"Back\\slash \\N \\t end"\nb@example.com,\n'
    )
    assert report.added == 2
    assert listed(workflow.store) == {
        "a@example.com": ("active", "Back\\slash \\N \\t end"),
        "b@example.com": ("active", None),
    }
