"""Plain-text shaping for the email: the view models use it, templates use it as filters."""

from __future__ import annotations

import re

_BLANK_LINE = re.compile(r"\n\s*\n")
# no-break spaces (French "Lire la suite\u00a0: …" in a catalog) join words: wrap keeps them
_NO_BREAK = ("\u00a0", "\u2007", "\u202f")
_BREAKABLE = re.compile(r"[^\S\u00a0\u2007\u202f]+")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters with "…"."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-–— ")
    return cut + "…"


def paragraphs(text: str) -> list[str]:
    """Plain text split on blank lines, each paragraph on one line."""
    return [p for p in (one_line(chunk) for chunk in _BLANK_LINE.split(text)) if p]


def wrap(text: str, width: int = 72) -> str:
    """Plain text wrapped at ``width`` on spaces; long words (URLs) are never broken.

    A plain greedy wrap: several times faster than ``textwrap`` (Jinja's
    ``wordwrap``), which matters when every issue wraps ~40 paragraphs. A no-break
    space stays, and never ends a line.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        if any(c in paragraph for c in _NO_BREAK):
            words = [w for w in _BREAKABLE.split(paragraph) if w]
        else:
            words = paragraph.split()
        for word in words:
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= width:
                line = f"{line} {word}"
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return "\n".join(lines)
