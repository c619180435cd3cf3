"""Selection rules with hand-made articles (no feeds, no store)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digest.config import Config, parse_config
from digest.editor import EditorControls
from digest.models import Article, Image
from digest.select import score, select

NY = ZoneInfo("America/New_York")


def make_config(**selection: Any) -> Config:
    return parse_config(
        {
            "newsletter": {
                "name": "Statecraft Weekly",
                "from_email": "newsletter@statecraft.example",
                "postal_address": "1 Example Street",
                "site_url": "https://statecraft.example",
                "timezone": "America/New_York",
            },
            "sources": [{"name": "feed", "url": "https://statecraft.example/feed"}],
            "selection": {"min_articles": 1, "lead_categories": ["Featured"], **selection},
        }
    )


def art(
    slug: str,
    published: datetime,
    *,
    section: str | None = "World",
    categories: tuple[str, ...] = (),
    image: bool = False,
    words: int = 500,
) -> Article:
    return Article(
        url=f"https://statecraft.example/{slug}",
        guid=slug,
        title=slug.replace("-", " ").title(),
        dek="",
        excerpt="",
        section=section,
        categories=categories,
        authors=(),
        published=published,
        updated=None,
        image=Image(url=f"https://statecraft.example/{slug}.jpg") if image else None,
        source="feed",
        word_count=words,
    )


AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=NY)  # a Friday, 2026-W47


def days_ago(d: float) -> datetime:
    return AS_OF - timedelta(days=d)


def urls(picks: Any) -> list[str]:
    return [p.article.url.rsplit("/", 1)[1] for p in picks]


def reason_for(issue: Any, slug: str) -> str:
    return next(r for a, r in issue.left_out if a.url.endswith("/" + slug))


# --- the window across DST changes ------------------------------------------------


def test_window_edges_after_spring_forward() -> None:
    # DST began Sun 8 Mar 2026: the week Fri 6 Mar 09:00 EST → Fri 13 Mar 09:00 EDT
    # is 167 hours long. A naive "as_of - 7×24h" would start at 08:00 EST.
    as_of = datetime(2026, 3, 13, 9, 0, tzinfo=NY)
    articles = [
        art("just-inside", datetime(2026, 3, 6, 9, 30, tzinfo=NY)),
        art("just-outside", datetime(2026, 3, 6, 8, 30, tzinfo=NY)),
        art("at-the-start", datetime(2026, 3, 6, 14, 0, tzinfo=UTC)),  # 09:00 EST exactly
        art("at-as-of", as_of.astimezone(UTC)),
        art("one-second-late", as_of + timedelta(seconds=1)),
    ]
    issue = select(articles, make_config(), as_of=as_of)
    picked = set(urls(issue.picks))
    assert picked == {"just-inside", "at-as-of"}
    assert issue.key == "2026-W11"
    assert reason_for(issue, "just-outside").startswith("outside the window")
    assert reason_for(issue, "at-the-start").startswith("outside the window")
    assert reason_for(issue, "one-second-late").startswith("dated in the future")
    assert issue.window_start == datetime(2026, 3, 6, 9, 0, tzinfo=NY)


def test_window_edges_after_fall_back() -> None:
    # DST ended Sun 1 Nov 2026: Fri 30 Oct 09:00 EDT → Fri 6 Nov 09:00 EST is 169 hours;
    # a naive window would begin at 10:00 EDT and miss the 09:30 EDT story.
    as_of = datetime(2026, 11, 6, 9, 0, tzinfo=NY)
    articles = [
        art("half-past-nine-edt", datetime(2026, 10, 30, 13, 30, tzinfo=UTC)),
        art("half-past-eight-edt", datetime(2026, 10, 30, 12, 30, tzinfo=UTC)),
        # 01:30 happens twice on 1 Nov; both are inside the window
        art("first-one-thirty", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        art("second-one-thirty", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ]
    issue = select(articles, make_config(), as_of=as_of)
    assert set(urls(issue.picks)) == {"half-past-nine-edt", "first-one-thirty", "second-one-thirty"}
    assert reason_for(issue, "half-past-eight-edt").startswith("outside the window")
    # the repeated hour still sorts by real time: second 01:30 is newer
    assert urls(issue.picks)[1:] == ["first-one-thirty", "half-past-nine-edt"]


def test_window_days_is_configurable() -> None:
    articles = [art("two-days", days_ago(2)), art("four-days", days_ago(4))]
    issue = select(articles, make_config(window_days=3), as_of=AS_OF)
    assert urls(issue.picks) == ["two-days"]


# --- the lead ---------------------------------------------------------------------


def test_pin_leads_even_when_older() -> None:
    articles = [
        art("featured", days_ago(1), categories=("Featured",)),
        art("old-but-pinned", days_ago(6)),
        art("newest", days_ago(0.5)),
    ]
    controls = EditorControls(pin="https://statecraft.example/old-but-pinned?utm_source=x#top")
    issue = select(articles, make_config(), as_of=AS_OF, controls=controls)
    assert issue.lead is not None
    assert urls([issue.lead]) == ["old-but-pinned"]
    assert issue.lead.reason == "pinned by the editor"
    assert "old-but-pinned" not in urls(issue.latest)
    assert issue.warnings == ()


def test_pin_outside_window_warns_and_falls_back() -> None:
    articles = [
        art("featured", days_ago(1), categories=("Featured",)),
        art("too-old", days_ago(9)),
    ]
    controls = EditorControls(pin="https://statecraft.example/too-old")
    issue = select(articles, make_config(), as_of=AS_OF, controls=controls)
    assert issue.lead is not None and urls([issue.lead]) == ["featured"]
    assert len(issue.warnings) == 1
    warning = issue.warnings[0]
    assert "https://statecraft.example/too-old" in warning and "outside the window" in warning


def test_pin_of_unknown_url_warns() -> None:
    articles = [art("a", days_ago(1)), art("b", days_ago(2))]
    controls = EditorControls(pin="https://statecraft.example/nowhere")
    issue = select(articles, make_config(), as_of=AS_OF, controls=controls)
    assert "not in any source's feed" in issue.warnings[0]


def test_newest_featured_leads_case_insensitively() -> None:
    articles = [
        art("newest-plain", days_ago(0.2), image=True, words=1500),
        art("older-featured", days_ago(3), categories=("featured",)),
        art("oldest-featured", days_ago(5), section="Featured"),
    ]
    issue = select(articles, make_config(), as_of=AS_OF)
    assert issue.lead is not None
    assert urls([issue.lead]) == ["older-featured"]
    assert issue.lead.reason == "newest in Featured"


def test_score_fallback_reason_and_weights() -> None:
    articles = [
        art("long-with-image", days_ago(2), image=True, words=1240),
        art("newest-short", days_ago(0.1), words=100),
        art("no-image-long", days_ago(1), words=3000),
    ]
    issue = select(articles, make_config(lead_categories=[]), as_of=AS_OF)
    assert issue.lead is not None
    assert urls([issue.lead]) == ["long-with-image"]
    # 0.4 image + 0.3 × 1240/1500 + 0.3 × 5/7 = 0.862
    assert issue.lead.reason == "score 0.86: image, 1,240 words, 2 days old"
    w = issue.window_start.astimezone(UTC), issue.window_end.astimezone(UTC)
    assert score(articles[0], *w) == pytest.approx(0.4 + 0.3 * 1240 / 1500 + 0.3 * 5 / 7)


def test_score_ties_are_deterministic_newest_then_url() -> None:
    same_time = days_ago(1)
    twins = [art("b-twin", same_time), art("a-twin", same_time), art("older", days_ago(3))]
    cfg = make_config(lead_categories=[])
    leads = {
        urls([select(order, cfg, as_of=AS_OF).lead])[0]  # type: ignore[list-item]
        for order in (twins, twins[::-1], [twins[2], twins[0], twins[1]])
    }
    assert leads == {"a-twin"}


# --- latest, caps, categories -------------------------------------------------------


def test_latest_is_newest_first_with_reasons_and_count() -> None:
    articles = [art(f"story-{i}", days_ago(i * 0.5 + 0.1)) for i in range(8)]
    issue = select(articles, make_config(latest_count=3, lead_categories=[]), as_of=AS_OF)
    assert issue.lead is not None
    assert len(issue.latest) == 3
    stamps = [p.article.published for p in issue.latest]
    assert stamps == sorted(stamps, reverse=True)
    assert all(p.reason for p in issue.picks)
    assert issue.latest[0].reason.endswith("of 8 in the week")
    not_picked = [r for _, r in issue.left_out]
    assert len(not_picked) == 4
    assert all(r == "beyond the 3 latest stories (latest_count)" for r in not_picked)


def test_max_per_section_counts_the_lead() -> None:
    articles = [
        art("na-featured", days_ago(0.1), section="North America", categories=("Featured",)),
        art("na-2", days_ago(0.2), section="North America"),
        art("na-3", days_ago(0.3), section="north america"),
        art("eu-1", days_ago(0.4), section="Europe"),
        art("no-section", days_ago(0.5), section=None),
    ]
    issue = select(articles, make_config(max_per_section=2), as_of=AS_OF)
    assert urls([issue.lead]) == ["na-featured"]  # type: ignore[list-item]
    assert urls(issue.latest) == ["na-2", "eu-1", "no-section"]
    assert reason_for(issue, "na-3") == "over the north america cap (max_per_section is 2)"


def test_no_cap_when_zero() -> None:
    articles = [art(f"na-{i}", days_ago(i + 0.1), section="North America") for i in range(5)]
    issue = select(articles, make_config(max_per_section=0), as_of=AS_OF)
    assert len(issue.picks) == 5


def test_include_and_exclude_categories() -> None:
    articles = [
        art("europe", days_ago(1), section="Europe"),
        art("opinion-europe", days_ago(2), section="Europe", categories=("Opinion",)),
        art("asia", days_ago(3), section="Asia"),
        art("tagged-europe", days_ago(4), section="Analysis", categories=("EUROPE",)),
    ]
    cfg = make_config(include_categories=["europe"], exclude_categories=["opinion"])
    issue = select(articles, cfg, as_of=AS_OF)
    assert sorted(urls(issue.picks)) == ["europe", "tagged-europe"]
    assert reason_for(issue, "opinion-europe") == "excluded category 'Opinion'"
    assert reason_for(issue, "asia") == "not in an included category"


def test_editor_drops_and_already_sent_are_left_out() -> None:
    articles = [
        art("dropped", days_ago(1)),
        art("sent-before", days_ago(2)),
        art("kept", days_ago(3)),
    ]
    controls = EditorControls(
        drops=frozenset({"https://statecraft.example/dropped?utm_medium=email"})
    )
    issue = select(
        articles,
        make_config(),
        as_of=AS_OF,
        controls=controls,
        already_sent={"https://statecraft.example/sent-before": "2026-W46"},
    )
    assert urls(issue.picks) == ["kept"]
    assert reason_for(issue, "dropped") == "dropped by the editor"
    assert reason_for(issue, "sent-before") == "already sent in 2026-W46"
    assert issue.warnings == ()
    typo = EditorControls(drops=frozenset({"https://statecraft.example/dropt"}))
    warned = select(articles, make_config(), as_of=AS_OF, controls=typo)
    assert warned.warnings == (
        "the dropped article https://statecraft.example/dropt is not in any source's feed (check the link)",
    )
    plain = select(
        articles, make_config(), as_of=AS_OF, already_sent={"https://statecraft.example/kept"}
    )
    assert "kept" not in urls(plain.picks)


def test_pin_and_drop_match_a_link_pasted_without_trailing_slash_or_as_http() -> None:
    articles = [
        art("featured", days_ago(1), categories=("Featured",)),
        replace(art("why-rates", days_ago(3)), url="https://statecraft.example/why-rates/"),
        art("dropped", days_ago(2)),
    ]
    controls = EditorControls(
        pin="https://statecraft.example/why-rates",  # the feed says …/why-rates/
        drops=frozenset({"http://statecraft.example/dropped/"}),
    )
    issue = select(articles, make_config(), as_of=AS_OF, controls=controls)
    assert issue.lead is not None
    assert issue.lead.article.url == "https://statecraft.example/why-rates/"
    assert issue.lead.reason == "pinned by the editor"
    assert reason_for(issue, "dropped") == "dropped by the editor"
    assert issue.warnings == ()


def test_note_is_carried() -> None:
    issue = select(
        [art("a", days_ago(1))], make_config(), as_of=AS_OF, controls=EditorControls(note="Hi")
    )
    assert issue.note == "Hi"


# --- skipping ------------------------------------------------------------------------


def test_too_few_articles_skips_with_reason() -> None:
    articles = [
        art("only-one", days_ago(1)),
        art("sent", days_ago(2)),
        art("ancient", days_ago(30)),
    ]
    issue = select(
        articles,
        make_config(min_articles=3),
        as_of=AS_OF,
        already_sent={"https://statecraft.example/sent": "2026-W46"},
    )
    assert issue.skipped and issue.lead is None and issue.latest == ()
    assert issue.skip_reason == (
        "only 1 new article since Fri 13 Nov 09:00 (1 already sent in 2026-W46); min_articles is 3"
    )


def test_no_articles_never_builds_an_empty_issue() -> None:
    issue = select([], make_config(min_articles=0), as_of=AS_OF)
    assert issue.skipped
    assert issue.skip_reason == "no new articles since Fri 13 Nov 09:00"


def test_exactly_min_articles_is_enough() -> None:
    articles = [art(f"s{i}", days_ago(i + 1)) for i in range(3)]
    issue = select(articles, make_config(min_articles=3), as_of=AS_OF)
    assert not issue.skipped and len(issue.picks) == 3


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError):
        select([], make_config(), as_of=datetime(2026, 11, 20, 9, 0))
