"""Text from feeds and subscribers, made harmless where it leaves digest.

Feed titles, source names and subscriber names are data someone else wrote. Two
places would read control characters in them as commands:

- a terminal: ESC starts a sequence that can retitle the window, clear the screen or
  rewrite what was printed (C1 controls such as U+009B do the same on many terminals);
  ``visible_controls`` shows each one (the line feed aside) as a visible escape
  (``\\x1b``) instead;
- a mail header: a NUL, ESC or line break in a display name or subject is, at best, a
  message some providers refuse and, at worst, a header of its own; ``header_value``
  removes them.

Printable text (accents, emoji, right-to-left scripts) passes through both unchanged.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls: what terminals and mail headers treat as commands
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# on a terminal a line feed only ends the line (messages have several); CR can overwrite it
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# line and paragraph separators end a header line for some parsers, like CR and LF
_HEADER_SPACE = re.compile(r"[\t\n\r\v\f\u2028\u2029]+")


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    return "\\t" if ch == "\t" else f"\\x{ord(ch):02x}"


def visible_controls(text: str) -> str:
    """``text`` with every control character but the line feed shown as an escape: ESC is
    ``\\x1b``, a tab ``\\t``. Nothing else changes, so the text stays readable and
    searchable."""
    return _TERMINAL_CONTROLS.sub(_visible, text)


def header_value(text: str) -> str:
    """A display name or subject fit for a mail header: a run of line breaks and tabs
    becomes one space, other control characters are removed."""
    if text.isprintable():  # the common case, checked in C: nothing to do
        return text
    return _CONTROLS.sub("", _HEADER_SPACE.sub(" ", text)).strip()
