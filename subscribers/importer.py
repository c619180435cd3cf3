"""Importing a CSV of addresses: streamed, every bad row reported, re-runnable.

The file needs a header row with an ``email`` column (``name`` optional; other
columns are ignored). Rows are read with the csv module one at a time and
written in batches, so a file of any size uses little memory. Every row that
cannot be imported is reported with its line number and the reason; every
valid row is imported; addresses already on the list are left exactly as
they are, so importing the same file again changes nothing. Erased
(tombstoned) addresses are refused: only the person can bring them back,
through the subscribe page. A quote left open costs only its own row (see
"quotes that do not close" below).
"""

from __future__ import annotations

import csv
import io
import logging
import secrets as pysecrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from digest.errors import DigestError, UsageError
from digest.store.tables import ConsentEvent, Subscriber, Tombstone
from subscribers import repository as repo
from subscribers.spreadsheet import from_cell
from subscribers.workflow import Workflow

log = logging.getLogger(__name__)

VOUCHED = "consent vouched for by the importer"
BATCH = 500


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


def read_rows(path: Path, problems: list[Problem]) -> Iterator[Row]:
    """The rows of ``path`` (streamed). Rows that cannot even be read go to ``problems``.

    Raises ``UsageError`` naming the file when it is missing or has no ``email`` column.
    """
    with _open(path) as handle:
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
    batch_size: int = BATCH,
) -> ImportReport:
    """Import ``path`` into the list (see the module doc). Without ``confirmed`` the
    new addresses are pending and each is sent a confirmation email."""
    report = ImportReport()
    unread: list[Problem] = []

    def problem(p: Problem) -> None:
        report.problems.append(p)
        if on_problem:
            on_problem(p)

    seen: dict[str, int] = {}  # address key -> first line (to spot duplicates)
    batch: list[tuple[Row, repo.Address]] = []
    to_confirm: list[int] = []
    for row in read_rows(path, unread):
        while unread:
            problem(unread.pop(0))
        if not row.email:
            problem(Problem(row.line, "the email is empty"))
            continue
        try:
            address = repo.check_address(row.email)
        except repo.InvalidAddress as exc:
            problem(Problem(row.line, f"{row.email!r} is not a valid email address: {exc.reason}"))
            continue
        if address.key in seen:
            report.duplicates += 1
            continue
        seen[address.key] = row.line
        batch.append((row, address))
        if len(batch) >= batch_size:
            to_confirm += _write_batch(batch, workflow, confirmed, report, problem, path)
            batch = []
    while unread:
        problem(unread.pop(0))
    if batch:
        to_confirm += _write_batch(batch, workflow, confirmed, report, problem, path)
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


def _write_batch(
    batch: list[tuple[Row, repo.Address]],
    workflow: Workflow,
    confirmed: bool,
    report: ImportReport,
    problem: Callable[[Problem], None],
    path: Path,
) -> list[int]:
    now = workflow.now()
    keys = [a.key for _, a in batch]
    hashes = {a.hash for _, a in batch}
    new_ids: list[int] = []
    detail = VOUCHED if confirmed else f"imported from {path.name}"
    with workflow.store.session() as s:
        existing = set(
            s.scalars(select(Subscriber.email_key).where(Subscriber.email_key.in_(keys)))
        )
        erased = set(
            s.scalars(select(Tombstone.email_hash).where(Tombstone.email_hash.in_(hashes)))
        )
        added: list[tuple[Subscriber, str]] = []
        for row, address in batch:
            if address.key in existing:
                report.already += 1
                continue
            if address.hash in erased:
                problem(
                    Problem(
                        row.line,
                        f"{address.email} was erased at the person's request; "
                        "not imported (they can subscribe again on the "
                        "subscribe page)",
                    )
                )
                continue
            sub = Subscriber(
                email=address.email,
                email_key=address.key,
                name=repo.clean_name(row.name),
                status="active" if confirmed else "pending",
                source="import",
                created_at=now,
                confirmed_at=now if confirmed else None,
                soft_bounces=0,
                confirm_nonce=None if confirmed else pysecrets.token_urlsafe(18),
                confirmation_sent_at=None if confirmed else now,
            )
            added.append((sub, address.hash))
        s.add_all([sub for sub, _ in added])
        s.flush()  # one round trip for the batch; assigns the ids
        kinds = ("subscribed", "confirmed") if confirmed else ("subscribed",)
        s.add_all(
            [
                ConsentEvent(
                    subscriber_id=sub.id,
                    email_hash=hashed,
                    kind=kind,
                    at=now,
                    source="import",
                    detail=detail,
                )
                for sub, hashed in added
                for kind in kinds
            ]
        )
        report.added += len(added)
        if not confirmed:
            new_ids = [sub.id for sub, _ in added]
    return new_ids
