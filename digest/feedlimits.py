"""Bounds on the work one feed can cause, applied before feedparser and nh3 see it.

Some shapes cost the parsers time that grows with the square of their size, so a
few megabytes stall a build for minutes (measured before these limits):

- HTML nested 100,000 levels deep in a description: nh3 (html5ever) checks the whole
  stack of open elements at each tag (1.1 MB: 20-40 s; 1M levels: over 300 s);
- 100,000 ``<category>`` elements on one item: feedparser compares each new tag with
  every earlier one (2.7 MB: over 300 s), and both its parsers treat repeated links,
  authors or enclosures alike;
- 40,000 attributes on one element: the SAX layer under feedparser looks each one up
  by a linear search (430 KB: 22 s);
- 19 MB of escaped markup in one element: feedparser works on it at the element's end,
  6 s at once that no deadline can interrupt.

``limit_xml`` is one linear pass over the feed's bytes that keeps the document as it is
except for what goes beyond a limit; ``limit_html`` does the same for an HTML fragment
before nh3, and ``MAX_TEXT``/``MAX_LINE`` bound how much of one field is read at all. No
real feed comes near the limits; each cut is reported (``digest.feeds``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_DEPTH = 64  # XML elements inside each other (a feed needs about 6; XHTML content a few more)
MAX_REPEATS = 100  # children of one element with the same name (categories, links, …); not entries
MAX_ATTRIBUTES = 64  # attributes of one element
MAX_HTML_DEPTH = 256  # HTML elements inside each other in one text
# Characters of one field that are read: a story is read for its first paragraphs and its
# length, a title or a name for one line; past these, 19 MB of markup in one entry took 11 s.
MAX_TEXT = 1_000_000
MAX_LINE = 10_000
# Bytes of text in one XML element: feedparser's work at an element's end grows with its text
# (19 MB of escaped markup in one title: 6 s at once, which no deadline can interrupt)
MAX_ELEMENT_TEXT = 2_000_000

# Entries are what a feed is made of: never capped here (the parse budget bounds them).
_ENTRIES = {b"item", b"entry"}
# Elements holding the story's text (maybe XHTML): repeats inside them are paragraphs, not lists
_TEXT = {b"title", b"description", b"summary", b"content", b"encoded", b"subtitle", b"rights",
         b"tagline", b"info", b"copyright"}  # fmt: skip
# A start or end tag; no alternative can cross a "<", so a failed match costs at most the
# distance to the next "<" and the pass stays linear whatever the bytes are.
_TAG = re.compile(rb"<(/?)([^\s/<>!?\"'=]+)((?:[^<>\"'/]|/(?!>)|\"[^\"<]*\"|'[^'<]*')*)(/?)>")
_ATTRIBUTE = re.compile(rb"\s*([^\s=<>\"'/]+)(?:\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'|[^\s<>\"']*))?")


@dataclass
class _Frame:
    name: bytes
    in_text: bool
    counts: dict[bytes, int] = field(default_factory=dict)
    text: int = 0  # bytes of text read in it so far


@dataclass
class XmlLimits:
    """What ``limit_xml`` cut, for the feed's warning."""

    too_deep: int = 0
    repeats: dict[bytes, int] = field(default_factory=dict)  # element name -> how many cut
    attributes: int = 0
    long_texts: int = 0  # elements whose text was cut at MAX_ELEMENT_TEXT
    out_of_time: bool = False  # the document was cut after its last entry read in time

    def notes(self) -> list[str]:
        out = []
        if self.too_deep:
            out.append(
                f"{self.too_deep:,} elements nested deeper than {MAX_DEPTH} levels were "
                "unwrapped (their text kept)"
            )
        for name, n in sorted(self.repeats.items()):
            out.append(
                f"{n:,} <{name.decode('ascii', 'replace')}> elements beyond {MAX_REPEATS} "
                "in one element were left out"
            )
        if self.long_texts:
            out.append(
                f"the text of {self.long_texts:,} element(s) was cut at {MAX_ELEMENT_TEXT:,} bytes"
            )
        if self.attributes:
            out.append(
                f"{self.attributes:,} attributes beyond {MAX_ATTRIBUTES} on one element "
                "were left out"
            )
        return out


def _local(name: bytes) -> bytes:
    return name.rpartition(b":")[2].lower()


def _skip_special(body: bytes, p: int) -> int:
    """The end of the comment, CDATA section, processing instruction or declaration at ``p``
    (-1 when it never ends: the rest of the document is inside it)."""
    for opener, closer in ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>")):
        if body.startswith(opener, p):
            end = body.find(closer, p + len(opener))
            return -1 if end < 0 else end + len(closer)
    end = body.find(b">", p)  # <!DOCTYPE …>, <!ENTITY …>: only ever copied, never changed
    return -1 if end < 0 else end + 1


class _XmlPass:
    """The state of one pass: the open elements and the pieces of the output.

    The document may not be well-formed (feedparser reads what it can of a broken one), so
    every rule is keyed by element name and an ancestor's end tag closes what is still open
    inside it: a stray tag never makes the pass cut a well-formed part of the document."""

    def __init__(self, body: bytes):
        self.body = body
        self.stack: list[_Frame] = [_Frame(b"", in_text=False)]
        self.open: dict[bytes, int] = {}  # how many elements of each name are open
        self.excess: dict[bytes, int] = {}  # open tags unwrapped for depth, by name
        # inside a dropped repeat: its name, how deep in elements of that name, where it began
        self.skip: tuple[bytes, int, int] | None = None
        self.cut = XmlLimits()
        self.text_from = 0  # where the text before the next tag begins
        self.kept: list[bytes] = []
        self.last = 0  # body[last:p] is still to be copied
        self.changed = False
        # after the last complete entry: how many pieces were kept, and the open elements' ends
        self.safe: tuple[int, bytes] = (0, b"")

    def drop(self, start: int, end: int) -> None:
        self.kept.append(self.body[self.last : start])
        self.last = end
        self.changed = True

    def entry_read(self, end: int) -> None:
        self.kept.append(self.body[self.last : end])
        self.last = end
        ends = b"".join(b"</" + f.name + b">" for f in reversed(self.stack[1:]))
        self.safe = (len(self.kept), ends)

    def cut_short(self) -> bytes:
        """The document up to its last complete entry, its open elements closed."""
        pieces, ends = self.safe
        self.cut.out_of_time = True
        return b"".join(self.kept[:pieces]) + ends

    def text(self, end: int) -> None:
        """Count the text from ``text_from`` to ``end`` in the open element; cut what goes past
        ``MAX_ELEMENT_TEXT`` (never inside a character or a reference: the rest stays XML)."""
        frame, start = self.stack[-1], self.text_from
        if self.skip is not None or frame.text + (end - start) <= MAX_ELEMENT_TEXT:
            frame.text += end - start
            return
        cut = start + MAX_ELEMENT_TEXT - frame.text
        while cut > start and 0x80 <= self.body[cut] < 0xC0:  # inside a UTF-8 character
            cut -= 1
        amp = self.body.rfind(b"&", max(start, cut - 16), cut)
        if amp >= 0 and self.body.find(b";", amp, cut) < 0:  # inside "&lt;"
            cut = amp
        if frame.text < MAX_ELEMENT_TEXT:  # the first cut in this element
            self.cut.long_texts += 1
        self.drop(cut, end)
        frame.text = MAX_ELEMENT_TEXT

    def tag(self, m: re.Match[bytes]) -> None:
        self.text(m.start())
        self.text_from = m.end()
        closing, name, attrs, empty = m.group(1, 2, 3, 4)
        if self.skip is not None and not self.skipped(m, name, bool(closing), bool(empty)):
            return
        if closing:
            self.end_tag(m, name)
            return
        if len(self.stack) > MAX_DEPTH:  # the tag goes, its text stays
            self.cut.too_deep += 1
            if not empty:
                self.excess[name] = self.excess.get(name, 0) + 1
            self.drop(m.start(), m.end())
            return
        parent = self.stack[-1]
        local = _local(name)
        if not parent.in_text and local not in _ENTRIES:
            seen = parent.counts[name] = parent.counts.get(name, 0) + 1
            if seen > MAX_REPEATS:  # the element goes, with all it holds
                self.cut.repeats[local] = self.cut.repeats.get(local, 0) + 1
                if empty:
                    self.drop(m.start(), m.end())
                else:
                    self.skip = (name, 1, m.start())
                return
        if attrs.count(b"=") > MAX_ATTRIBUTES:
            self.drop(m.start(3), m.end(3))
            self.kept.append(self.fewer_attributes(attrs))
        if not empty:
            self.stack.append(_Frame(name, in_text=parent.in_text or local in _TEXT))
            self.open[name] = self.open.get(name, 0) + 1

    def skipped(self, m: re.Match[bytes], name: bytes, closing: bool, empty: bool) -> bool:
        """Whether the tag ``m`` is read on its own (it ends an ancestor of the dropped
        repeat, which was never closed); else it goes with the repeat."""
        assert self.skip is not None
        skip_name, depth, began = self.skip
        if closing and self.open.get(name):
            self.skip = None
            self.drop(began, m.start())
            return True
        if name == skip_name and not empty:
            depth += -1 if closing else 1
        self.skip = (skip_name, depth, began) if depth else None
        if not depth:
            self.drop(began, m.end())
        return False

    def finish(self) -> None:
        """At the end of the document: a repeat never closed goes to the end."""
        if self.skip is not None:
            self.drop(self.skip[2], len(self.body))
            self.skip = None

    def end_tag(self, m: re.Match[bytes], name: bytes) -> None:
        if self.excess.get(name):
            self.excess[name] -= 1
            self.drop(m.start(), m.end())
        elif self.open.get(name):  # the innermost, or (not well-formed) one further out
            while True:
                closed = self.stack.pop().name
                self.open[closed] -= 1
                if closed == name:
                    break
            if _local(name) in _ENTRIES:
                self.entry_read(m.end())

    def fewer_attributes(self, attrs: bytes) -> bytes:
        found = [a.group() for a in _ATTRIBUTE.finditer(attrs) if a.group().strip()]
        self.cut.attributes += max(0, len(found) - MAX_ATTRIBUTES)
        return b"".join(found[:MAX_ATTRIBUTES])


def limit_xml(
    body: bytes, *, deadline: float | None = None, clock: Callable[[], float] = time.monotonic
) -> tuple[bytes, XmlLimits]:
    """``body`` with the elements and attributes beyond the limits above removed.

    Past ``deadline`` (``clock``'s time) the pass stops, and the document ends after the
    last entry it had read (its open elements closed, so it stays well-formed).

    Works on the bytes of any ASCII-compatible encoding (UTF-8, ISO-8859-*, windows-125*,
    the CJK multi-byte ones: "<" and ">" never occur inside their characters); a UTF-16 or
    UTF-32 document is returned unchanged (its parse budget still bounds it).
    """
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00<" in body[:64] or b"<\x00" in body[:64]:
        return body, XmlLimits()
    state = _XmlPass(body)
    p = body.find(b"<")
    tags = 0
    while p >= 0:
        tags += 1
        if deadline is not None and not tags % 4096 and clock() > deadline:
            return state.cut_short(), state.cut
        if body.startswith((b"<!", b"<?"), p):
            end = _skip_special(body, p)
            if end < 0:
                break
            state.text_from = end  # a CDATA section's text costs feedparser little
            p = body.find(b"<", end)
            continue
        m = _TAG.match(body, p)
        if m is None:  # a stray "<": text to the parsers
            p = body.find(b"<", p + 1)
            continue
        state.tag(m)
        p = body.find(b"<", m.end())
    state.finish()
    if not state.changed:
        return body, state.cut
    state.kept.append(body[state.last :])
    return b"".join(state.kept), state.cut


# --- HTML before nh3 ------------------------------------------------------------------------

_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/<>]*)[^<>]*?(/?)>")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}  # fmt: skip
# an open one of these is closed by the next of the same name (HTML's optional end tags)
_SELF_ENDING = {"p", "li", "dt", "dd", "tr", "td", "th", "option"}


def limit_html(html: str, max_depth: int = MAX_HTML_DEPTH) -> str:
    """``html`` with the tags nested deeper than ``max_depth`` removed (their text kept)."""
    if html.count("<") <= max_depth:  # too few tags to be that deep: the common case
        return html
    stack: list[str] = []
    excess: dict[str, int] = {}
    out: list[str] = []
    last = 0
    for m in _HTML_TAG.finditer(html):
        closing, name, empty = m.group(1), m.group(2).lower(), m.group(3)
        if empty or name in _VOID:
            continue
        if closing:
            if excess.get(name):
                excess[name] -= 1
                out.append(html[last : m.start()])
                last = m.end()
            elif name in stack[-max_depth:]:
                while stack.pop() != name:
                    pass
            continue
        if stack and stack[-1] == name and name in _SELF_ENDING:
            continue  # HTML closes the open one: the depth does not change
        if len(stack) >= max_depth:
            excess[name] = excess.get(name, 0) + 1
            out.append(html[last : m.start()])
            last = m.end()
            continue
        stack.append(name)
    if not out:
        return html
    out.append(html[last:])
    return "".join(out)
