"""subscribers/spreadsheet.py: CSV cells that never start a formula, and come back unchanged."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers.spreadsheet import FORMULA_START, from_cell, to_cell

# what a spreadsheet may take for = + - @: full-width, small and super/subscript forms
VARIANTS = [
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
    "\ufe66",
    "\ufe62",
    "\ufe63",
    "\ufe6b",
    "\u207c",
    "\u208a",
    "\u207b",
    "\u208b",
]


@given(
    st.text(alphabet=st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "a", " ", *VARIANTS]))
    | st.text()
)
def test_a_cell_never_starts_a_formula_and_reads_back(text: str) -> None:
    cell = to_cell(text)
    assert not unicodedata.normalize("NFKC", cell[:1]).startswith(FORMULA_START)
    assert from_cell(cell) == text


@pytest.mark.parametrize("start", VARIANTS)
def test_full_width_and_other_forms_of_a_formula_start_are_neutralised(start: str) -> None:
    """Issue 11, item 10: a full-width ＝ (and its kin) went out as it was."""
    for text in (start + "1+1", start + "cmd@example.com"):
        assert to_cell(text) == "'" + text
        assert from_cell(to_cell(text)) == text


def test_addresses_that_start_like_a_formula_are_neutralised() -> None:
    for address in ("=cmd@example.com", "+x@example.com", "-x@example.com"):
        assert to_cell(address) == "'" + address and from_cell("'" + address) == address
    assert to_cell("x@example.com") == "x@example.com"


def test_text_that_already_starts_with_an_apostrophe_reads_back() -> None:
    assert to_cell("'=x") == "''=x" and from_cell("''=x") == "'=x"


def test_an_apostrophe_before_ordinary_text_is_kept() -> None:
    assert from_cell("'tis") == "'tis"
    assert to_cell("O'Brien") == "O'Brien"
