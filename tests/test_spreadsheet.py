"""subscribers/spreadsheet.py: CSV cells that never start a formula, and come back unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from subscribers.spreadsheet import FORMULA_START, from_cell, to_cell


@given(st.text(alphabet=st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "a", " "]))
       | st.text())
def test_a_cell_never_starts_a_formula_and_reads_back(text: str) -> None:
    cell = to_cell(text)
    assert not cell.startswith(FORMULA_START)
    assert from_cell(cell) == text


def test_text_that_already_starts_with_an_apostrophe_reads_back() -> None:
    assert to_cell("'=x") == "''=x" and from_cell("''=x") == "'=x"


def test_an_apostrophe_before_ordinary_text_is_kept() -> None:
    assert from_cell("'tis") == "'tis"
    assert to_cell("O'Brien") == "O'Brien"
