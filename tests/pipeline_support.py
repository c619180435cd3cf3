"""Small RSS feeds and configs for the pipeline and preview tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=NY)  # Friday; issue 2026-W47
SITE = "https://statecraft.example"


@dataclass
class Item:
    slug: str
    hours_ago: float
    section: str = "World"
    featured: bool = False
    title: str | None = None

    @property
    def url(self) -> str:
        return f"{SITE}/{self.slug}"


def rss(items: list[Item]) -> str:
    parts = []
    for it in items:
        cats = f"<category>{escape(it.section)}</category>"
        if it.featured:
            cats += "<category>Featured</category>"
        title = it.title or it.slug.replace("-", " ").title()
        published = format_datetime(AS_OF - timedelta(hours=it.hours_ago))
        parts.append(
            f"""<item><title>{escape(title)}</title><link>{it.url}?utm_source=rss</link>
<guid isPermaLink="false">{it.slug}</guid><pubDate>{published}</pubDate>{cats}
<description>{escape(title)}: what happened and why it matters.</description></item>"""
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Statecraft</title><link>{SITE}</link><description>d</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def standard_items() -> list[Item]:
    return [
        Item("featured-story", 30, section="Europe", featured=True),
        Item("newest-story", 2, section="Asia"),
        Item("middle-story", 50, section="Africa"),
        Item("older-story", 100, section="Europe"),
        Item("oldest-in-week", 160, section="Americas"),
        Item("last-month", 24 * 30, section="Asia"),
    ]


def write_config(
    tmp_path: Path,
    items: list[Item] | None = None,
    *,
    extra_sources: str = "",
    selection: str = "",
    fixed_as_of: bool = True,
) -> Path:
    feed = tmp_path / "feed.xml"
    feed.write_text(rss(standard_items() if items is None else items), encoding="utf-8")
    as_of_line = f'as_of = "{AS_OF.replace(tzinfo=None).isoformat()}"' if fixed_as_of else ""
    text = f"""
[newsletter]
name = "Statecraft Weekly"
from_email = "newsletter@statecraft.example"
editors = ["editor@statecraft.example"]
postal_address = "1 Example Street, Washington, DC 20001"
site_url = "{SITE}"
timezone = "America/New_York"

[[sources]]
name = "Main feed"
url = "feed.xml"
{extra_sources}

[selection]
latest_count = 6
min_articles = 3
{as_of_line}
{selection}

[delivery]
backend = "file"
outbox = "outbox"

[storage]
url = "sqlite:///digest.db"
"""
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path
