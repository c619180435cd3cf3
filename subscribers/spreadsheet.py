"""CSV cells that a spreadsheet will not run as formulas.

Names come from the subscribe form and from imported files, so they are
untrusted: a name such as ``=HYPERLINK("http://…","click")`` in an exported
CSV would be a live formula once an editor opens the file in Excel, LibreOffice
or Google Sheets (CSV injection, OWASP). ``to_cell`` puts an apostrophe before
text that starts like a formula, which spreadsheets show as plain text;
``from_cell`` takes exactly that apostrophe off again, so an export imports back
unchanged. Addresses are left as they are: a valid address cannot hold the
parentheses a harmful formula needs, and the column must stay usable by other
tools.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    # apostrophes, then a formula's first character: such text gets (or loses) one more
    return text.lstrip("'").startswith(FORMULA_START)


def to_cell(text: str) -> str:
    """``=1+1`` → ``'=1+1`` (and ``'=1`` → ``''=1``); anything else unchanged."""
    return "'" + text if _formula_like(text) else text


def from_cell(text: str) -> str:
    """The inverse of ``to_cell``: ``'=1+1`` → ``=1+1``; anything else unchanged."""
    return text[1:] if text.startswith("'") and _formula_like(text) else text
