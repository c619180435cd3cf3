"""Importing a CSV of addresses: streamed, every bad row reported, re-runnable.

The file needs a header row with an ``email`` column (``name`` optional; other
columns are ignored). Rows are read with the csv module one at a time and
written in chunks of ``CHUNK`` rows, each in one transaction with set-based
statements (no ORM object per row), so a file of any size uses little memory.
Every row that cannot be imported is reported with its line number and the
reason; every valid row is imported; addresses already on the list are left exactly as
they are, so importing the same file again changes nothing. Erased
(tombstoned) addresses are refused: only the person can bring them back,
through the subscribe page. A quote left open costs only its own row (see
"quotes that do not close" below).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets as pysecrets
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sqlalchemy import (
    ARRAY,
    Connection,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from digest.errors import DigestError, UsageError
from digest.store.tables import ConsentEvent, Subscriber, Tombstone
from subscribers import repository as repo
from subscribers.spreadsheet import from_cell
from subscribers.workflow import Workflow

log = logging.getLogger(__name__)

VOUCHED = "consent vouched for by the importer"
CHUNK = 5000  # rows read, checked and written per transaction


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str | None


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


@dataclass
class Progress:
    """How far an import has got: rows read, and bytes of the file (for the ETA)."""

    rows: int = 0
    bytes_read: int = 0
    total_bytes: int | None = None  # None: a pipe, whose size is not known


class ReadPosition:
    """Where ``read_rows`` is in the file, in bytes (0 when that cannot be told, e.g. a pipe)."""

    def __init__(self) -> None:
        self._tell: Callable[[], int] | None = None
        self._last = 0

    def follow(self, handle: io.TextIOWrapper) -> None:
        self._tell = cast(io.BufferedReader, handle.buffer).tell

    def tell(self) -> int:
        if self._tell is not None:
            try:
                self._last = self._tell()
            except (OSError, ValueError):  # a pipe; the file closed
                self._tell = None
        return self._last

    @staticmethod
    def size(path: Path) -> int | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0  # on the list before: left as they were
    duplicates: int = 0  # the same address earlier in the file
    problems: list[Problem] = field(default_factory=list)  # invalid or refused rows
    confirmations_sent: int = 0
    confirmations_failed: int = 0
    send_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.confirmations_failed


def read_rows(
    path: Path, problems: list[Problem], *, position: ReadPosition | None = None
) -> Iterator[Row]:
    """The rows of ``path`` (streamed). Rows that cannot even be read go to ``problems``.
    ``position``, when given, follows how many bytes of the file have been read.

    Raises ``UsageError`` naming the file when it is missing or has no ``email`` column.
    """
    with _open(path) as handle:
        if position is not None:
            position.follow(handle)
        first = handle.readline()  # read, not peeked: the file may be a pipe
        delimiter = _delimiter(first)
        email_at, name_at = _columns(path, first, delimiter)
        lines = _Lines(handle, lambda line: _reads_as_row(line, delimiter, email_at))
        for line, values in _records(lines, delimiter, email_at, problems):
            if not any(v.strip() for v in values):
                continue  # a blank line
            if any("\ufffd" in v for v in values):
                problems.append(Problem(line, "not UTF-8 text (save the file as UTF-8)"))
                continue
            if email_at >= len(values):
                problems.append(Problem(line, "the row has no email column"))
                continue
            name = values[name_at].strip() if name_at is not None and name_at < len(values) else ""
            yield Row(line, from_cell(values[email_at].strip()), from_cell(name) or None)
        if position is not None:
            position.tell()  # the end, before the file closes


def _open(path: Path) -> io.TextIOWrapper:
    try:
        raw = path.open("rb")
        # Excel's "Unicode Text" is UTF-16 (with a byte order mark); everything else UTF-8
        encoding = "utf-16" if raw.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None


def _columns(path: Path, first: str, delimiter: str) -> tuple[int, int | None]:
    """Where the ``email`` and ``name`` columns are, from the header line."""
    if not first:
        raise UsageError(
            f"{path}: the file is empty (it needs a header row with an 'email' column)"
        )
    try:
        # the header alone: a quote left open in it must not swallow the rows
        header = next(csv.reader([first], delimiter=delimiter), [])
    except csv.Error as exc:
        raise UsageError(f"{path}, line 1: not a CSV header: {exc}") from None
    columns = [h.strip().lower() for h in header]
    known = [_HEADER_ALIASES.get(c, c) for c in columns]
    if "email" not in known:
        found = ", ".join(repr(c) for c in columns if c) or "nothing"
        raise UsageError(
            f"{path}, line 1: the header has no 'email' column (found {found}); "
            f"the first row must name the columns, e.g. email,name"
        )
    return known.index("email"), known.index("name") if "name" in known else None


# column names other tools export (Mailchimp: "Email Address"; Excel: "E-mail")
_HEADER_ALIASES = {
    "e-mail": "email",
    "email address": "email",
    "e-mail address": "email",
    "email_address": "email",
    "full name": "name",
}


def _delimiter(first: str) -> str:
    """ "," unless the header line plainly uses ";" (Excel in many locales) or a tab."""
    if "," not in first:
        for other in (";", "\t"):
            if other in first:
                return other
    return ","


# --- quotes that do not close ------------------------------------------------------------
#
# A quoted field may hold line breaks, so the csv module reads on past the end of a line
# until the quote closes: a quote opened by mistake ("Bo instead of Bo) swallowed every
# row after it into one name, silently. The rule here: a record that spans several lines
# is taken only when it is plausible. It is refused, reported at the line where it began,
# and its other lines are read again as rows of their own, when
#   * one of those lines would on its own be a row with a valid address in the email
#     column: a name or a note may span lines, but a line that is a row of the file
#     was not meant to be part of the field above it (the record is cut off there);
#   * the file ends inside the quote (it was never closed);
#   * the email cell itself spans lines (no address does);
#   * the csv module gives up on it (e.g. a field past its size limit).
# So a bad quote costs its own row, reported, and nothing after it; a quoted name over
# several lines ("Ann<newline>Smith") still imports (docs/subscribers.md).


class _RanInto(Exception):
    """The record being read reached ``line``, which reads as a row of its own."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Lines:
    """The file's lines, numbered, as the csv reader pulls them (it never reads ahead of
    the record it is on); the lines a refused record took can be given back to be read
    again."""

    def __init__(self, handle: Iterable[str], reads_as_row: Callable[[str], bool]) -> None:
        self._handle = iter(handle)
        self._reads_as_row = reads_as_row
        self._number = 1  # the header is line 1
        self._again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []  # the lines of the record being read
        self.ran_out = False  # the file ended inside the record (a quote left open)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, line = self._again.popleft()
        else:
            try:
                line = next(self._handle)
            except StopIteration:
                self.ran_out = bool(self.taken)
                raise
            self._number += 1
            number = self._number
        if self.taken and self._reads_as_row(line):
            self._again.appendleft((number, line))
            raise _RanInto(number)
        self.taken.append((number, line))
        return line

    def start_record(self) -> None:
        self.taken = []
        self.ran_out = False

    def give_back(self) -> None:
        """Read the current record's lines after its first one again."""
        self._again.extendleft(reversed(self.taken[1:]))


def _reads_as_row(line: str, delimiter: str, email_at: int) -> bool:
    try:
        values = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return False
    if email_at >= len(values):
        return False
    try:
        repo.check_address(from_cell(values[email_at].strip()))
    except repo.InvalidAddress:
        return False
    return True


def _records(
    lines: _Lines, delimiter: str, email_at: int, problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    """Each record and the number of its first line; refused ones go to ``problems``."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        lines.start_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except _RanInto as exc:
            reason = (
                f"a quote opened here is not closed (line {exc.line} reads as a row of its own)"
            )
        except csv.Error as exc:
            reason = f"not valid CSV: {exc}"
        else:
            if lines.ran_out:
                reason = "a quote opened here is not closed by the end of the file"
            elif (
                email_at < len(values)
                and len(lines.taken) > 1
                and any(c in values[email_at] for c in "\r\n")
            ):
                reason = (
                    f"a quote opened here is not closed until line "
                    f"{lines.taken[-1][0]}, and an address cannot span lines"
                )
            else:
                yield lines.taken[0][0], values
                continue
        problems.append(
            Problem(
                lines.taken[0][0],
                f"{reason}; this row is not imported, the lines after it are read as rows",
            )
        )
        lines.give_back()
        reader = csv.reader(lines, delimiter=delimiter)  # a fresh one: that one was mid-quote


def import_csv(
    path: Path,
    workflow: Workflow,
    *,
    confirmed: bool,
    on_problem: Callable[[Problem], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    batch_size: int = CHUNK,
) -> ImportReport:
    """Import ``path`` into the list (see the module doc). Without ``confirmed`` the
    new addresses are pending and each is sent a confirmation email.

    The file is read ``batch_size`` rows at a time; each chunk is written in one
    transaction with set-based statements (one SELECT of the chunk's addresses already
    on the list, one of its tombstones, one multi-row INSERT of the new subscribers and
    one of their consent events). ``on_progress`` is called after each chunk."""
    report = ImportReport()
    unread: list[Problem] = []
    position = ReadPosition()
    progress = Progress(total_bytes=position.size(path))

    def problem(p: Problem) -> None:
        report.problems.append(p)
        if on_problem:
            on_problem(p)

    seen: set[str] = set()  # the address keys met so far (to spot duplicates)
    chunk: list[tuple[Row, repo.Address]] = []
    to_confirm: list[int] = []

    def flush() -> None:
        nonlocal to_confirm
        if chunk:
            to_confirm += _write_chunk(chunk, workflow, confirmed, report, problem, path)
            chunk.clear()
        if on_progress:
            progress.bytes_read = position.tell()
            on_progress(progress)

    for row in read_rows(path, unread, position=position):
        while unread:
            problem(unread.pop(0))
        progress.rows += 1
        if not row.email:
            problem(Problem(row.line, "the email is empty"))
        else:
            try:
                address = repo.check_address(row.email)
            except repo.InvalidAddress as exc:
                problem(
                    Problem(row.line, f"{row.email!r} is not a valid email address: {exc.reason}")
                )
            else:
                if address.key in seen:
                    report.duplicates += 1
                else:
                    seen.add(address.key)
                    chunk.append((row, address))
        if progress.rows % batch_size == 0:
            flush()
    while unread:
        problem(unread.pop(0))
    flush()
    for subscriber_id in to_confirm:
        if report.send_error is not None:
            report.confirmations_failed += 1
            continue
        try:
            if workflow.send_confirmation(subscriber_id):
                report.confirmations_sent += 1
        except DigestError as exc:
            report.confirmations_failed += 1
            report.send_error = str(exc)
    return report


_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_CONSENT: Table = ConsentEvent.__table__  # type: ignore[assignment]
_TOMBSTONES: Table = Tombstone.__table__  # type: ignore[assignment]
_SUBSCRIBER_COLUMNS = (
    "email", "email_key", "name", "status", "source", "created_at", "confirmed_at",
    "unsubscribed_at", "confirmation_sent_at", "confirm_nonce", "soft_bounces",
)  # fmt: skip
_CONSENT_COLUMNS = ("subscriber_id", "email_hash", "kind", "at", "source", "detail")


def _write_chunk(
    chunk: list[tuple[Row, repo.Address]],
    workflow: Workflow,
    confirmed: bool,
    report: ImportReport,
    problem: Callable[[Problem], None],
    path: Path,
) -> list[int]:
    """Write one chunk in one transaction: one SELECT of its addresses already on the list,
    one of its tombstones, one bulk INSERT of the new subscribers, one SELECT of their ids
    and one bulk INSERT of their consent events. The ids of the new subscribers to confirm.
    """
    now = workflow.now()
    hashes = {a.key: a.hash for _, a in chunk}
    detail = VOUCHED if confirmed else f"imported from {path.name}"
    status = "active" if confirmed else "pending"
    with workflow.store.transaction() as conn:
        existing = set(
            conn.scalars(
                select(_SUBSCRIBERS.c.email_key).where(
                    _among(conn, _SUBSCRIBERS.c.email_key, list(hashes))
                )
            )
        )
        erased = set(
            conn.scalars(
                select(_TOMBSTONES.c.email_hash).where(
                    _among(conn, _TOMBSTONES.c.email_hash, list(hashes.values()))
                )
            )
        )
        new: list[tuple[object, ...]] = []
        new_keys: list[str] = []
        for row, address in chunk:
            if address.key in existing:
                report.already += 1
                continue
            if hashes[address.key] in erased:
                problem(
                    Problem(
                        row.line,
                        f"{address.email} was erased at the person's request; "
                        "not imported (they can subscribe again on the "
                        "subscribe page)",
                    )
                )
                continue
            new_keys.append(address.key)
            new.append(
                (
                    address.email,
                    address.key,
                    repo.clean_name(row.name),
                    status,
                    "import",
                    now,
                    now if confirmed else None,
                    None,
                    None if confirmed else now,
                    None if confirmed else pysecrets.token_urlsafe(18),
                    0,
                )
            )
        if not new:
            return []
        _bulk_insert(conn, _SUBSCRIBERS, _SUBSCRIBER_COLUMNS, new)
        found = conn.execute(
            select(_SUBSCRIBERS.c.email_key, _SUBSCRIBERS.c.id).where(
                _among(conn, _SUBSCRIBERS.c.email_key, new_keys)
            )
        )
        ids_by_key = {str(key): int(id_) for key, id_ in found}
        ids = [ids_by_key[key] for key in new_keys]
        kinds = ("subscribed", "confirmed") if confirmed else ("subscribed",)
        _bulk_insert(
            conn,
            _CONSENT,
            _CONSENT_COLUMNS,
            [
                (subscriber_id, hashes[key], kind, now, "import", detail)
                for subscriber_id, key in zip(ids, new_keys, strict=True)
                for kind in kinds
            ],
        )
    report.added += len(new)
    return [] if confirmed else ids


def _among(conn: Connection, column: ColumnElement[str], values: list[str]) -> ColumnElement[bool]:
    """``column IN (values)`` with one parameter however many values: on PostgreSQL
    ``= ANY(array)``, on SQLite ``IN (SELECT value FROM json_each(…))``."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String())))
    if conn.dialect.name == "sqlite":  # one JSON parameter, not one per value
        listed = func.json_each(bindparam(None, json.dumps(values), type_=String()))
        return column.in_(select(literal_column("value")).select_from(listed))
    return column.in_(values)


def _bulk_insert(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) in one statement: COPY on
    PostgreSQL, one DB-API executemany elsewhere. Values go through the columns' own
    types (aware datetimes stored as UTC), converted once per distinct value."""
    raw = conn.connection.driver_connection
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
        return
    dialect = conn.dialect
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    converting = [(at, p, dict[object, object]()) for at, p in enumerate(processors) if p]
    if converting:
        converted = []
        for values in rows:
            out = list(values)
            for at, process, seen in converting:
                value = out[at]
                if value is not None:
                    if value not in seen:
                        seen[value] = process(value)
                    out[at] = seen[value]
            converted.append(tuple(out))
        rows = converted
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
    finally:
        cursor.close()
