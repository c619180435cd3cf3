"""subscribers/importer.py's reading of a CSV: quotes that never close, quoted fields that
legitimately span lines, and what a bad row may not take with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from subscribers import repository as repo
from subscribers.importer import Problem, Row, read_rows


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
