"""``python -m benchmarks.fuzz --minutes N [--seed S] [--scale N] [--budget S]``: hostile feeds.

Each try takes a real feed document (tests/data/feeds, examples/feed.xml, a JSON Feed of the
benchmark publication), mutates it (random bytes; control characters, raw or as character
references, in text; HTML or XML nested deep; thousands of categories or attributes; dates out
of range) and builds the issue from it beside a healthy source, as ``digest preview`` does.
The property, which tests/digest/test_feed_fuzz.py checks on a few examples in every test run:

- the build never raises;
- it never takes longer than the sources' parse budgets allow (plus a margin for the rest);
- it renders whenever the healthy source alone has ``min_articles`` stories, and nothing
  XML cannot carry reaches the email.

Prints what it tried (tries per mutation, the slowest build) and every failure with the
seed that replays it (``--seed S --minutes 0`` runs that one try).

Example:
    python -m benchmarks.fuzz --minutes 10
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.publication import entry_fields, rss

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # the sample's: Friday 09:00 in New York
MIN_ARTICLES = 3
MARGIN = 10.0  # seconds beyond the parse budgets for fetching, selecting and rendering
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Mutation = Callable[[bytes, random.Random, int], bytes]


def seed_documents() -> list[tuple[str, bytes]]:
    """The real documents every try starts from."""
    folder = ROOT / "tests" / "data" / "feeds"
    docs = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    docs.append(("examples/feed.xml", (ROOT / "examples" / "feed.xml").read_bytes()))
    items = []
    for i in range(5):
        f = entry_fields(500 + i, as_of=AS_OF)
        items.append(
            {
                "id": f"j{i}",
                "url": f["url"],
                "title": f["title"],
                "summary": f["dek"],
                "content_html": f["body"],
                "image": f["image"],
                "tags": list(f["categories"]),
                "authors": [{"name": f["author"]}],
                "date_published": f["published"].isoformat(),
            }
        )
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON", "items": items}
    docs.append(("feed.json", json.dumps(doc).encode()))
    return docs


# --- mutations: (document, random, scale) -> document; scale bounds the big ones -----------

_CONTROL = [
    b"\x00",
    b"\x1b",
    b"\x08",
    b"\x0c",
    b"\x1f",
    b"\xc2\x9b",
    b"\xef\xbf\xbe",
    b"&#27;",
    b"&#x1b;",
    b"&#0;",
    b"&#xFFFE;",
    b"&#xffff;",
    b"&#xD800;",
    b"&#55296;",
    b"&#x1B;[2J",
]
_JSON_CONTROL = [b"\\u001b", b"\\u0000", b"\\ud800", b"\\udfff", b"\\ufffe", b"\\u009b"]


def _text_spots(doc: bytes) -> list[int]:
    """Positions inside text: after a tag's ">" (XML) or after a string's opening quote (JSON)."""
    pattern = rb'": "' if doc.lstrip().startswith(b"{") else rb">[^<\s]"
    return [m.start() + (4 if pattern == rb'": "' else 1) for m in re.finditer(pattern, doc)]


def _insert(doc: bytes, rnd: random.Random, what: bytes) -> bytes:
    spots = _text_spots(doc) or [len(doc) // 2]
    at = rnd.choice(spots)
    return doc[:at] + what + doc[at:]


def control_chars(doc: bytes, rnd: random.Random, scale: int) -> bytes:
    pool = _JSON_CONTROL if doc.lstrip().startswith(b"{") else _CONTROL
    for _ in range(rnd.randint(1, 4)):
        doc = _insert(doc, rnd, rnd.choice(pool))
    return doc


def random_bytes(doc: bytes, rnd: random.Random, scale: int) -> bytes:
    out = bytearray(doc)
    for _ in range(rnd.randint(1, 8)):
        at = rnd.randrange(len(out) + 1)
        op = rnd.random()
        if op < 0.3 and at < len(out):
            del out[at]
        elif op < 0.6 and at < len(out):
            out[at] = rnd.randrange(256)
        else:
            out[at:at] = rnd.choice(
                [
                    bytes([rnd.randrange(256)]),
                    b"<",
                    b"&",
                    b"]]>",
                    b"<![CDATA[",
                    b"</item>",
                    b"<item>",
                    b'"',
                    b"}",
                    b"\x00",
                ]
            )
    return bytes(out)


def deep_nesting(doc: bytes, rnd: random.Random, scale: int) -> bytes:
    n = rnd.choice([100, 1_000, scale])
    if doc.lstrip().startswith(b"{"):
        return _insert(doc, rnd, b"<div>" * n + b"deep" + b"</div>" * n)
    kind = rnd.choice([(b"<div>", b"</div>"), (b"&lt;b&gt;", b"&lt;/b&gt;"), (b"<x>", b"</x>")])
    inner = kind[0] * n + b"deep" + kind[1] * n
    if rnd.random() < 0.3:
        inner = b"<![CDATA[" + b"<i>" * n + b"]]>"
    return _insert(doc, rnd, inner)


def many_elements(doc: bytes, rnd: random.Random, scale: int) -> bytes:
    n = rnd.choice([200, scale])
    if doc.lstrip().startswith(b"{"):
        tags = json.dumps([f"t{i}" for i in range(n)]).encode()
        return doc.replace(b'"tags": [', b'"tags": ' + tags[:-1] + b", ", 1)
    name = rnd.choice([b"category", b"link", b"enclosure", b"dc:creator", b"author"])
    repeated = b"".join(b"<%s>v%d</%s>" % (name, i, name) for i in range(n))
    at = doc.find(b"</item>") if b"</item>" in doc else doc.find(b"</entry>")
    if rnd.random() < 0.3:  # many attributes instead
        repeated = b"<category " + b" ".join(b'a%d="v"' % i for i in range(n)) + b">x</category>"
    return doc[:at] + repeated + doc[at:] if at >= 0 else _insert(doc, rnd, repeated)


_DATES = [
    b"0001-01-01T00:00:00+01:00",
    b"9999-12-31T23:59:59-01:00",
    b"Mon, 01 Jan 0001 00:00:00 +0100",
    b"Fri, 31 Dec 9999 23:59:59 -0100",
    b"2026-02-30T25:61:00Z",
    b"not a date",
    b"",
]
_DATE_SPOT = re.compile(
    rb"(<pubDate>|<updated>|<published>|<dc:date>|\"date_published\": \")"
    rb"([^<\"]*)"
)


def bad_dates(doc: bytes, rnd: random.Random, scale: int) -> bytes:
    spots = list(_DATE_SPOT.finditer(doc))
    for m in rnd.sample(spots, min(len(spots), rnd.randint(1, 3))):
        doc = doc.replace(m.group(0), m.group(1) + rnd.choice(_DATES), 1)
    return doc


MUTATIONS: dict[str, Mutation] = {
    "random_bytes": random_bytes,
    "control_chars": control_chars,
    "deep_nesting": deep_nesting,
    "many_elements": many_elements,
    "bad_dates": bad_dates,
}


# --- the property -------------------------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    error: str | None = None  # what broke the property, if anything


def build_with(fuzzed: bytes, *, budget: float = 10.0) -> Outcome:
    """Build the issue from ``fuzzed`` and a healthy source; check the property. Room for
    40 stories: every story of the window is rendered, the fuzzed ones too."""
    from digest.config import load_config
    from digest.pipeline import build_issue

    with tempfile.TemporaryDirectory(prefix="digest-fuzz-") as tmp:
        folder = Path(tmp)
        (folder / "fuzzed.feed").write_bytes(fuzzed)
        (folder / "healthy.xml").write_text(rss(8, feed=9, as_of=AS_OF), encoding="utf-8")
        (folder / "digest.toml").write_text(_config(budget), encoding="utf-8")
        cfg = load_config(folder / "digest.toml")
        started = time.monotonic()
        try:
            built = build_issue(cfg, store=None, as_of=AS_OF)
        except Exception:  # noqa: BLE001 -- any exception is what the fuzzer reports
            return Outcome(time.monotonic() - started, traceback.format_exc(limit=8))
        took = time.monotonic() - started
    if took > 2 * budget + MARGIN:
        return Outcome(took, f"took {took:.1f} s: over 2 budgets of {budget:g} s + {MARGIN:g} s")
    if built.rendered is None:
        return Outcome(took, f"not rendered: {built.issue.skip_reason}")
    for part in (built.rendered.html, built.rendered.text, built.rendered.subject):
        found = NOT_XML.search(part)
        if found:
            return Outcome(took, f"{found.group()!r} reached the email")
    return Outcome(took)


def _config(budget: float) -> str:
    return f"""[newsletter]
name = "Fuzz Weekly"
from_email = "fuzz@statecraft.example"
postal_address = "1 Example Street"
site_url = "https://statecraft.example"
timezone = "America/New_York"

[[sources]]
name = "Fuzzed"
url = "fuzzed.feed"

[[sources]]
name = "Healthy"
url = "healthy.xml"

[selection]
min_articles = {MIN_ARTICLES}
latest_count = 40
parse_budget_seconds = {budget}
"""


def one_try(
    seed: int, docs: list[tuple[str, bytes]], scale: int, budget: float
) -> tuple[str, list[str], Outcome]:
    rnd = random.Random(seed)
    name, doc = rnd.choice(docs)
    names = rnd.sample(sorted(MUTATIONS), rnd.randint(1, 3))
    for mutation in names:
        doc = MUTATIONS[mutation](doc, rnd, scale)
    return name, names, build_with(doc, budget=budget)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--minutes", type=float, default=1.0, help="how long to run (0: one try)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: from the clock)")
    p.add_argument(
        "--scale",
        type=int,
        default=1_000_000,
        help="the largest nesting depth or element count tried (default 1,000,000)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="selection.parse_budget_seconds of the built issue (default 10)",
    )
    args = p.parse_args(argv)
    docs = seed_documents()
    seed = args.seed if args.seed is not None else int(time.time())
    end = time.monotonic() + args.minutes * 60
    tried: Counter[str] = Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    n = 0
    while n == 0 or time.monotonic() < end:
        name, names, outcome = one_try(seed + n, docs, args.scale, args.budget)
        label = f"seed {seed + n}: {name} + {', '.join(names)}"
        tried.update(names)
        slowest = max(slowest, (outcome.seconds, label))
        if outcome.error:
            failures.append(f"{label}\n{outcome.error}")
            print(f"FAILED {label}\n{outcome.error}", flush=True)
        n += 1
    print(
        f"{n} tries from seed {seed} in {args.minutes:g} min; mutations: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tried.items()))
    )
    print(f"slowest build: {slowest[0]:.2f} s ({slowest[1]})")
    print(f"{len(failures)} failure(s)" + ("" if failures else ": the property held"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
