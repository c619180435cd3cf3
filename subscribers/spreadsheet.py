"""CSV cells that a spreadsheet will not run as formulas.

Names and addresses come from the subscribe form and from imported files, so they
are untrusted: a name such as ``=HYPERLINK("http://…","click")``, or a valid
address such as ``=cmd|'/C calc'!A0@example.com`` (every one of those characters
may stand in an address), would be a live formula in an exported CSV once an
editor opens it in Excel, LibreOffice or Google Sheets (CSV injection, OWASP).
``to_cell`` puts an apostrophe before every cell that starts like a formula,
which spreadsheets show as plain text; ``from_cell`` takes exactly that
apostrophe off again, so an export imports back unchanged.

"Starts like a formula": ``= + - @``, tab or carriage return (OWASP's list), or
any character whose compatibility form (NFKC) is one of them or the minus sign
``−``: the full-width ``＝ ＋ － ＠``, the small ``﹦ ﹢ ﹣ ﹫``, the super- and
subscript forms. A spreadsheet's input handling, or a normalisation along the
way, may turn those into the ASCII ones; an apostrophe in front costs nothing.
"""

from __future__ import annotations

import unicodedata

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# and the minus sign (the super- and subscript minus normalise to it), read as a minus
# by some spreadsheets
_FORMULA_LIKE = (*FORMULA_START, "\u2212")


def _formula_like(text: str) -> bool:
    # apostrophes, then a formula's first character: such text gets (or loses) one more
    rest = text.lstrip("'")
    return unicodedata.normalize("NFKC", rest[:1]).startswith(_FORMULA_LIKE)


def to_cell(text: str) -> str:
    """``=1+1`` → ``'=1+1`` (and ``'=1`` → ``''=1``); anything else unchanged."""
    return "'" + text if _formula_like(text) else text


def from_cell(text: str) -> str:
    """The inverse of ``to_cell``: ``'=1+1`` → ``=1+1``; anything else unchanged."""
    return text[1:] if text.startswith("'") and _formula_like(text) else text
