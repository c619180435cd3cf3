"""Counts in messages, as English reads them: "1 entry", "2 entries"."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 entry`` / ``3 entries`` (``plural_form`` defaults to ``singular + "s"``);
    thousands get separators, as the rest of the output prints them."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"
