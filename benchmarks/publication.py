"""The benchmark publication: a config, feeds and an issue like the real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SECTIONS = ("Diplomacy", "Defense", "Trade", "Climate", "Technology", "Security")

PARAGRAPH = (
    "Negotiators met again this week as officials on both sides weighed what a settlement "
    "would cost at home. Analysts say the talks turn on sequencing: who moves first, and "
    "what verification each side will accept before sanctions relief begins. "
)


def entry_fields(i: int, *, as_of: datetime = AS_OF) -> dict[str, Any]:
    published = as_of - timedelta(minutes=30 + (i % 1000) * 9)  # within the 7-day window
    return {
        "title": f"Story {i}: what the summit means for the alliance's next decade",
        "url": f"https://statecraft.example/articles/story-{i}",
        "section": SECTIONS[i % len(SECTIONS)],
        "categories": ("Featured",) if i % 10 == 0 else (SECTIONS[i % len(SECTIONS)],),
        "author": f"Correspondent {i % 7}",
        "published": published,
        "dek": "Officials weighed the cost of a settlement at home as the talks reached their fourth week.",
        "body": "".join(f"<p>{PARAGRAPH}</p>" for _ in range(3)),
        "image": f"https://statecraft.example/images/story-{i}.jpg",
    }


def rss(entries: int, *, feed: int = 0, as_of: datetime = AS_OF) -> str:
    items = []
    for i in range(entries):
        f = entry_fields(feed * 1000 + i, as_of=as_of)
        cats = "".join(f"<category>{escape(c)}</category>" for c in f["categories"])
        items.append(
            "<item>"
            f"<title>{escape(f['title'])}</title>"
            f"<link>{f['url']}?utm_source=rss</link>"
            f'<guid isPermaLink="false">story-{feed}-{i}</guid>'
            f"<pubDate>{format_datetime(f['published'])}</pubDate>"
            f"<dc:creator>{escape(f['author'])}</dc:creator>"
            f"{cats}"
            f"<description>{escape(f['dek'])}</description>"
            f"<content:encoded><![CDATA[{f['body']}]]></content:encoded>"
            f'<media:content url="{f["image"]}" medium="image"/>'
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>Statecraft feed {feed}</title><link>https://statecraft.example/</link>"
        f"<description>Benchmark feed {feed}</description>{''.join(items)}</channel></rss>\n"
    )


def config_text(
    *,
    sources: list[tuple[str, str]],
    db_url: str,
    backend: str = "sendgrid",
    public_url: str = "http://127.0.0.1:8000",
    outbox: str = "outbox",
    web: dict[str, int] | None = None,
) -> str:
    lines = [
        "[newsletter]",
        'name = "Statecraft Weekly"',
        'from_email = "newsletter@statecraft.example"',
        'from_name = "Statecraft Weekly"',
        'postal_address = "1 Example Street, Washington, DC 20001"',
        'site_url = "https://statecraft.example"',
        f'public_url = "{public_url}"',
        'timezone = "America/New_York"',
        "",
    ]
    for name, url in sources:
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"', ""]
    lines += [
        "[selection]",
        "window_days = 7",
        "latest_count = 12",
        'lead_categories = ["Featured"]',
        "min_articles = 1",
        "",
        "[delivery]",
        f'backend = "{backend}"',
        f'outbox = "{outbox}"',
        "batch_size = 1000",
        "",
        "[storage]",
        f'url = "{db_url}"',
        "",
    ]
    if web:
        lines.append("[web]")
        lines += [f"{k} = {v}" for k, v in web.items()]
        lines.append("")
    return "\n".join(lines)


def write_publication(
    folder: Path,
    *,
    db_url: str,
    backend: str = "sendgrid",
    public_url: str = "http://127.0.0.1:8000",
    web: dict[str, int] | None = None,
    entries: int = 30,
) -> Path:
    """A digest.toml with one local feed (a file) of ``entries`` recent stories."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feed.xml").write_text(rss(entries), encoding="utf-8")
    path = folder / "digest.toml"
    path.write_text(
        config_text(
            sources=[("Statecraft", str(folder / "feed.xml"))],
            db_url=db_url,
            backend=backend,
            public_url=public_url,
            web=web,
        ),
        encoding="utf-8",
    )
    return path


def sample_issue(stories: int = 12, *, as_of: datetime = AS_OF) -> Any:
    """An ``Issue`` of one lead and ``stories`` latest picks, built by hand."""
    from digest.models import Article, Image, Issue, Pick

    def article(i: int) -> Article:
        f = entry_fields(i, as_of=as_of)
        return Article(
            url=f["url"],
            guid=f"story-{i}",
            title=f["title"],
            dek=f["dek"],
            excerpt=PARAGRAPH * 2,
            section=f["section"],
            categories=f["categories"],
            authors=(f["author"],),
            published=f["published"],
            updated=None,
            image=Image(url=f["image"], alt=f"Photo for story {i}", credit="Statecraft"),
            source="Statecraft",
            word_count=1200,
        )

    lead = Pick(article(0), "lead", "newest story in Featured")
    latest = tuple(
        Pick(article(i), "latest", "newest in its section") for i in range(1, stories + 1)
    )
    return Issue(
        key="2026-W47",
        as_of=as_of,
        window_start=as_of - timedelta(days=7),
        window_end=as_of,
        lead=lead,
        latest=latest,
        note="A note from the editors: thank you for reading.",
    )
