"""``python -m benchmarks.hostile_feeds [--limit SECONDS] [--only NAME,...]``: the feeds that
used to stall a build (issue 11), each read by ``digest.feeds.parse_feed`` in a child process.

Prints, per input, its size, the seconds it took (or "over LIMIT s" when the child was
stopped), the stories read and the warnings. Run it against an older checkout to compare:
``PYTHONPATH=/path/to/old/checkout python -m benchmarks.hostile_feeds``.

Example:
    python -m benchmarks.hostile_feeds --limit 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
    "<link>https://hostile.example/</link><description>d</description>"
)
GOOD = (
    "<item><title>Good</title><link>https://hostile.example/good</link>"
    "<pubDate>Thu, 19 Nov 2026 10:00:00 +0000</pubDate><description>Fine.</description></item>"
)


def _feed(body: str) -> bytes:
    bad = (
        "<item><title>Bad</title><link>https://hostile.example/bad</link>"
        f"<pubDate>Thu, 19 Nov 2026 11:00:00 +0000</pubDate>{body}</item>"
    )
    return (HEAD + bad + GOOD + "</channel></rss>").encode()


def _nested(n: int) -> bytes:
    return _feed(f"<description><![CDATA[{'<div>' * n}deep{'</div>' * n}]]></description>")


CASES = {
    "nested-100k": lambda: _nested(100_000),
    "nested-1M": lambda: _nested(1_000_000),
    "categories-100k": lambda: _feed("".join(f"<category>c{i}</category>" for i in range(100_000))),
}


def _child(name: str) -> None:
    from digest.feeds import parse_feed

    body = CASES[name]()
    started = time.perf_counter()
    parsed = parse_feed(body, source="Hostile", url="https://hostile.example/feed")
    took = time.perf_counter() - started
    print(
        json.dumps(
            {
                "bytes": len(body),
                "seconds": took,
                "stories": [a.title for a in parsed.articles],
                "warnings": parsed.warnings,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.hostile_feeds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--limit", type=float, default=300.0, help="seconds before a child is stopped")
    p.add_argument("--only", default=",".join(CASES), help="comma-separated subset of the inputs")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    for name in args.only.split(","):
        started = time.perf_counter()
        try:
            command = [sys.executable, "-m", "benchmarks.hostile_feeds", "--child", name]
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=args.limit, check=True
            )
        except subprocess.TimeoutExpired:
            print(f"{name}: over {args.limit:g} s (stopped)", flush=True)
            continue
        except subprocess.CalledProcessError as exc:
            print(
                f"{name}: failed after {time.perf_counter() - started:.1f} s: "
                f"{exc.stderr.strip().splitlines()[-1:]}",
                flush=True,
            )
            continue
        got = json.loads(out.stdout)
        print(
            f"{name}: {got['bytes']:,} bytes, {got['seconds']:.2f} s, stories {got['stories']}, "
            f"warnings {got['warnings']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
