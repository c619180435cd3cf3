"""A hand-built issue for the render tests: fixed content, fixed as-of
(Friday 2026-11-20 09:00 America/New_York), realistic text from the sample
publication. Built by hand (not collected) so the golden files only change
when the templates do."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from digest.config import Config, parse_config
from digest.models import Article, Image, Issue, Pick

NY = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=NY)

LEAD_EXCERPT = (
    "Aid agencies working across Burkina Faso, Mali and Niger say three million people "
    "face emergency levels of hunger this winter, the highest figure since the regional "
    "crisis began. Markets in the central Sahel are still open, but prices for millet "
    "and sorghum have doubled since the spring.\n\n"
    "The money to respond exists on paper. At a pledging conference in Geneva last week, "
    "donors promised just over half of the $2.1 billion appeal, and most of that is "
    "earmarked for programmes already running. Officials from three agencies described "
    "the same standoff: each large donor is waiting for another to move first."
)

# (title, path, section, published (NY wall time), dek, image, credit)
_ROWS: list[tuple[str, str, str, tuple[int, int, int, int], str, str | None, str | None]] = [
    ("As Famine Spreads in the Sahel, Donors Argue Over Who Pays",
     "global-crises/2026/11/20/sahel-famine-donors", "Global Crises", (20, 6, 30, 0),
     ("Aid agencies say three million people in the central Sahel face emergency hunger "
      "this winter. The governments that fund them are still fighting over the bill."),
     "sahel-market.jpg", "Issa Ouédraogo for Statecraft"),
    ("Brussels & Beijing Strike a Fragile Truce on Electric Vehicles",
     "europe/2026/11/19/eu-china-ev-truce", "Europe", (19, 17, 45, 0),
     ("A minimum-price deal replaces tariffs on Chinese-made cars, for now. Carmakers in "
      "Germany are relieved; those in France are not."), "ev-port-antwerp.jpg",
     "Pieter Claes for Statecraft"),
    ("Inside Manila's Quiet Bet on Coast Guard Diplomacy",
     "asia/2026/11/19/manila-coast-guard-diplomacy", "Asia", (19, 11, 20, 0),
     ("The Philippines is sending white hulls, not grey ones, to contested waters — and "
      "inviting reporters along. The strategy is working better than its critics expected."),
     "coast-guard-patrol.jpg", "Jun Reyes for Statecraft"),
    ("Why Sanctions Fatigue Is Setting In", "analysis/2026/11/18/sanctions-fatigue",
     "Analysis", (18, 19, 5, 0),
     ("Western capitals keep adding names to their lists. The evidence that more "
      "designations change behaviour is getting thinner, and the people enforcing them know it."),
     None, None),
    ("Brazil's Amazon Summit Ends With Money but No Map",
     "latin-america/2026/11/18/amazon-summit-belem", "Latin America", (18, 8, 40, 0),
     ("Eight countries pledged a new forest fund in Belém. They could not agree on where the "
      "forest they are protecting begins."), "belem-summit.jpg", "Beatriz Lima for Statecraft"),
    ("The Gulf's New Mediators", "middle-east/2026/11/17/gulf-mediators", "Middle East",
     (17, 16, 15, 0),
     ("From prisoner swaps to ceasefire talks, small Gulf states have made brokering other "
      "people's wars a pillar of their foreign policy. What do they get in return?"),
     "gulf-mediation-hotel.jpg", "Omar Khalil for Statecraft"),
    ("Ottawa and Washington Reopen the Arctic Waters File",
     "north-america/2026/11/17/northwest-passage-talks", "North America", (17, 7, 50, 0),
     ("Melting ice and more traffic have turned a decades-old legal disagreement over the "
      "Northwest Passage into a practical one."), "arctic-icebreaker.jpg",
     "Tom Arnaquq for Statecraft"),
    ("Brief: Moldova Secures Gas Deal for the Winter",
     "briefs/2026/11/16/moldova-gas-winter", "Reporting | Brief", (16, 13, 30, 0),
     ("A Romanian supply contract and EU-backed storage cover Chisinau's needs through "
      "March, officials say."), None, None),
    ("Poland's Border Towns Brace for a Second Winter of Closures",
     "europe/2026/11/15/poland-border-towns", "Europe", (15, 10, 0, 0),
     ("Shuttered crossings have emptied the shops and bus stations of eastern Poland. "
      "Residents support the policy — and want someone to pay for its costs."),
     "terespol-bus-station.jpg", "Agnieszka Zielińska for Statecraft"),
    ("Seoul's Nuclear Debate Goes Mainstream", "asia/2026/11/14/seoul-nuclear-debate", "Asia",
     (14, 18, 20, 0),
     ("Once confined to think tanks and fringe parties, the idea of a South Korean bomb is "
      "now debated on prime-time television. Allies are paying attention."),
     "seoul-tv-debate.jpg", "Min-seo Kang for Statecraft"),
    ("Water, Not Oil: The Tigris Talks Nobody Is Watching",
     "middle-east/2026/11/14/tigris-water-talks", "Middle East", (14, 9, 10, 0),
     ("Iraq, Turkey and Syria are negotiating over a shrinking river. The outcome will matter "
      "more to farmers in Basra than any oil contract signed this year."),
     "tigris-low-water.jpg", "Hussein Ali for Statecraft"),
    ("Mexico's Judicial Overhaul Reaches the Trade Table",
     "latin-america/2026/11/13/mexico-judiciary-trade", "Latin America", (13, 20, 45, 0),
     ("Investors want to know who will judge their disputes. That question is now part of "
      "the North American trade review."), "mexico-supreme-court.jpg",
     "Andrés Castillo for Statecraft"),
    ("The Return of the Nonaligned Summit", "analysis/2026/11/13/nonaligned-summit-return",
     "Analysis", (13, 15, 30, 0),
     ("Middle powers are rediscovering the value of refusing to pick a side. Their new "
      "coalitions are looser, richer and harder to ignore than the old ones."),
     "summit-family-photo.jpg", "Wanjiru Kamau for Statecraft"),
]  # fmt: skip


def articles() -> list[Article]:
    out = []
    for title, path, section, (day, hh, mm, _), dek, image, credit in _ROWS:
        published = datetime(2026, 11, day, hh, mm, tzinfo=NY)
        img = (
            Image(
                url=f"https://statecraft.example/media/2026/11/{image}",
                alt=f"Photo for: {title}",
                credit=credit,
            )
            if image
            else None
        )
        out.append(
            Article(
                url=f"https://statecraft.example/{path}",
                guid=f"statecraft-{path.replace('/', '-')}",
                title=title,
                dek=dek,
                excerpt=dek,
                section=section,
                categories=(section,),
                authors=("Statecraft staff",),
                published=published,
                updated=None,
                image=img,
                source="Main feed",
                word_count=900,
            )
        )
    lead = out[0]
    out[0] = replace(
        lead,
        excerpt=LEAD_EXCERPT,
        categories=("Global Crises", "Featured"),
        image=Image(
            url="https://statecraft.example/media/2026/11/sahel-market.jpg",
            alt="A grain seller waits for customers at a market in Kaya, Burkina Faso",
            credit="Issa Ouédraogo for Statecraft",
        ),
    )
    return out


def make_issue(
    latest: int = 6,
    *,
    note: str | None = None,
    lead: Article | None = None,
    stories: list[Article] | None = None,
) -> Issue:
    arts = articles()
    lead_article = lead or arts[0]
    rest = stories if stories is not None else arts[1:]
    if latest > len(rest):  # reuse stories (with distinct URLs) for size tests
        rest = [
            replace(a, url=f"{a.url}-{i}", guid=f"{a.guid}-{i}")
            for i in range(latest // len(rest) + 1)
            for a in rest
        ]
    return Issue(
        key="2026-W47",
        as_of=AS_OF,
        window_start=AS_OF - timedelta(days=7),
        window_end=AS_OF,
        lead=Pick(lead_article, "lead", "newest in Featured"),
        latest=tuple(Pick(a, "latest", "newest") for a in rest[:latest]),
        note=note,
    )


def make_config(templates_dir: Path | None = None, **newsletter: Any) -> Config:
    nl: dict[str, Any] = {
        "name": "Statecraft Weekly",
        "tagline": "The week in foreign policy, from Statecraft",
        "from_email": "newsletter@statecraft.example",
        "postal_address": "1 Example Street, Washington, DC 20001",
        "site_url": "https://statecraft.example",
        "public_url": "https://news.statecraft.example",
        "timezone": "America/New_York",
        "subject": "{lead_title} | {name}",
    }
    if templates_dir is not None:
        nl["templates_dir"] = str(templates_dir)
    nl.update(newsletter)
    nl = {k: v for k, v in nl.items() if v is not None}
    return parse_config(
        {
            "newsletter": nl,
            "sources": [{"name": "Main feed", "url": "https://statecraft.example/feed"}],
        }
    )
