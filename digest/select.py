"""SELECT: which collected articles make this week's issue, and why.

The rules, in order:

1. **Window.** ``selection.window_days`` calendar days of wall time in the
   newsletter's zone, ending at the as-of (``digest.clock.window_for``, so a
   week that crosses a DST change is still "Friday 09:00 to Friday 09:00").
   An article published exactly at the start is out, exactly at the as-of is
   in; anything dated after the as-of is out ("dated in the future").
2. **Out before anything else:** articles that went out in an earlier issue
   (``already_sent``), the editor's drops, and articles whose section or
   categories miss ``include_categories`` / hit ``exclude_categories``
   (compared case-insensitively). What is left "qualifies".
3. **Too few:** fewer than ``min_articles`` qualifying articles (and never
   zero) skips the issue with a reason; there is no empty newsletter.
4. **Lead:** the editor's pin when the pinned URL qualifies (otherwise a
   warning says why the pin was ignored); else the newest article whose
   section or categories include one of ``lead_categories``; else the best
   score::

       score = 0.4 * (has an image)
             + 0.3 * min(word_count, 1500) / 1500
             + 0.3 * recency     # 0 at the window's start, 1 at the as-of

   Ties (same score, or same time among lead-category articles) go to the
   newest, then to the smallest URL, so the same inputs always give the
   same lead.
5. **Latest:** the next ``latest_count`` newest qualifying articles (ties:
   smallest URL first), at most ``max_per_section`` per section (0 = no
   cap). The lead counts toward its section's cap, so a capped section
   never fills more than ``max_per_section`` places in the whole issue.
   Articles without a section are not capped.

Every pick carries a reason an editor can read, and every article not picked
is recorded in ``Issue.left_out`` with the reason it was left out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from digest.clock import issue_key, window_for
from digest.config import Config
from digest.editor import EditorControls, canonical_url
from digest.models import Article, Issue, Pick

IMAGE_WEIGHT = 0.4
LENGTH_WEIGHT = 0.3
RECENCY_WEIGHT = 0.3
FULL_LENGTH_WORDS = 1500


def select(
    articles: Sequence[Article],
    config: Config,
    *,
    as_of: datetime,
    controls: EditorControls | None = None,
    already_sent: Collection[str] = frozenset(),
) -> Issue:
    """Choose the lead and the latest stories for the issue of ``as_of``.

    ``already_sent`` holds the URLs of articles earlier issues carried; when
    it is a mapping (URL → issue key) the left-out reason names the issue.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    sel = config.selection
    tz = config.newsletter.tz
    key = issue_key(as_of, tz)
    window = window_for(as_of, sel.window_days, tz)
    # Compare in UTC: same-tzinfo comparisons ignore `fold` (the repeated
    # hour of a DST change) and would misplace articles published then.
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    controls = controls or EditorControls()
    known = {a.url for a in articles}
    drops = {_as_in_feed(canonical_url(u), known) for u in controls.drops}
    pin = _as_in_feed(canonical_url(controls.pin), known) if controls.pin else None
    include = {c.casefold() for c in sel.include_categories}
    exclude = {c.casefold() for c in sel.exclude_categories}

    qualifying: list[Article] = []
    left_out: list[tuple[Article, str]] = []
    seen: set[str] = set()
    for art in sorted(articles, key=_newest_first):
        if art.url in seen:
            continue
        seen.add(art.url)
        reason = _exclusion(art, start, end, tz, already_sent, drops, include, exclude)
        if reason:
            left_out.append((art, reason))
        else:
            qualifying.append(art)

    warnings: list[str] = [
        f"the dropped article {url} is not in any source's feed (check the link)"
        for url in sorted(drops - seen)
    ]
    lead: Pick | None = None
    if pin:
        lead_art = next((a for a in qualifying if a.url == pin), None)
        if lead_art is not None:
            lead = Pick(lead_art, "lead", "pinned by the editor")
        else:
            why = next((r for a, r in left_out if a.url == pin), "not in any source's feed")
            warnings.append(
                f"the pinned article {pin} cannot lead {key}: {why}; "
                "the lead was chosen without the pin"
            )

    needed = max(sel.min_articles, 1)
    if len(qualifying) < needed:
        return Issue(
            key=key,
            as_of=as_of,
            window_start=window.start,
            window_end=window.end,
            lead=None,
            latest=(),
            note=controls.note,
            skipped=True,
            skip_reason=_skip_reason(len(qualifying), sel.min_articles, window.start, left_out),
            warnings=tuple(warnings),
            left_out=tuple(left_out),
        )

    if lead is None:
        lead = _lead_by_category(qualifying, sel.lead_categories)
    if lead is None:
        lead = _lead_by_score(qualifying, start, end, as_of)

    latest, rest = _latest(qualifying, lead, sel.latest_count, sel.max_per_section, sel.window_days)
    left_out.extend(rest)
    left_out.sort(key=lambda pair: _newest_first(pair[0]))
    return Issue(
        key=key,
        as_of=as_of,
        window_start=window.start,
        window_end=window.end,
        lead=_marked(lead),
        latest=tuple(_marked(p) for p in latest),
        note=controls.note,
        warnings=tuple(warnings),
        left_out=tuple(left_out),
    )


def score(article: Article, start: datetime, end: datetime) -> float:
    """The documented lead score, between 0 and 1 (see the module docstring)."""
    span = (end - start).total_seconds()
    recency = (article.published - start).total_seconds() / span if span > 0 else 1.0
    recency = min(max(recency, 0.0), 1.0)
    length = min(max(article.word_count, 0), FULL_LENGTH_WORDS) / FULL_LENGTH_WORDS
    image = 1.0 if article.image is not None else 0.0
    return IMAGE_WEIGHT * image + LENGTH_WEIGHT * length + RECENCY_WEIGHT * recency


# --- helpers -------------------------------------------------------------------


def _marked(pick: Pick) -> Pick:
    """A story recovered from XML that is not well-formed may have lost words or fields
    on the way: its reason says where it came from, so the editor looks before sending."""
    if not pick.article.from_malformed_feed:
        return pick
    return replace(pick, reason=f"{pick.reason}; from a malformed feed")


def _newest_first(article: Article) -> tuple[float, str]:
    return (-article.published.timestamp(), article.url)


def _labels(article: Article) -> list[str]:
    labels = [article.section] if article.section else []
    return labels + list(article.categories)


def _as_in_feed(url: str, known: set[str]) -> str:
    """The feed's spelling of an editor's pasted link that differs only by a trailing
    slash or http/https (``…/why-rates`` for ``…/why-rates/``); else ``url`` itself."""
    if url in known:
        return url
    parts = urlsplit(url)
    paths = {parts.path, parts.path.rstrip("/") + "/", parts.path.rstrip("/") or "/"}
    schemes = {parts.scheme, {"http": "https", "https": "http"}.get(parts.scheme, parts.scheme)}
    hits = {urlunsplit(parts._replace(scheme=sc, path=p)) for sc in schemes for p in paths}
    hits &= known
    return hits.pop() if len(hits) == 1 else url


def _exclusion(
    art: Article,
    start: datetime,
    end: datetime,
    tz: object,
    already_sent: Collection[str],
    drops: set[str],
    include: set[str],
    exclude: set[str],
) -> str | None:
    published = art.published.astimezone(UTC)
    if published > end:
        return f"dated in the future ({_when(art.published, end)})"
    if published <= start:
        return f"outside the window (published {_when(art.published, end)})"
    if art.url in already_sent:
        if isinstance(already_sent, Mapping):
            return f"already sent in {already_sent[art.url]}"
        return "already sent in an earlier issue"
    if art.url in drops:
        return "dropped by the editor"
    labels = _labels(art)
    hit = [lab for lab in labels if lab.casefold() in exclude]
    if hit:
        return f"excluded category {hit[0]!r}"
    if include and not any(lab.casefold() in include for lab in labels):
        return "not in an included category"
    return None


def _when(moment: datetime, end: datetime) -> str:
    local = moment.astimezone(end.tzinfo)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def _skip_reason(
    count: int, min_articles: int, start: datetime, left_out: list[tuple[Article, str]]
) -> str:
    since = f"{start:%a} {start.day} {start:%b %H:%M}"
    if count == 0:
        head = f"no new articles since {since}"
    else:
        head = f"only {count} new article{'s' if count != 1 else ''} since {since}"
    reasons: dict[str, int] = {}
    for _, reason in left_out:
        if reason.startswith(("outside the window", "dated in the future")):
            continue
        label = reason.split(" (")[0]
        reasons[label] = reasons.get(label, 0) + 1
    detail = ", ".join(f"{n} {label}" for label, n in reasons.items())
    tail = f"; min_articles is {min_articles}" if min_articles > 1 else ""
    return head + (f" ({detail})" if detail else "") + tail


def _lead_by_category(qualifying: list[Article], lead_categories: Sequence[str]) -> Pick | None:
    wanted = {c.casefold(): c for c in lead_categories}
    for art in qualifying:  # newest first, ties by URL
        for label in _labels(art):
            if label.casefold() in wanted:
                return Pick(art, "lead", f"newest in {wanted[label.casefold()]}")
    return None


def _lead_by_score(
    qualifying: list[Article], start: datetime, end: datetime, as_of: datetime
) -> Pick:
    best = min(qualifying, key=lambda a: (-round(score(a, start, end), 9),) + _newest_first(a))
    parts = ["image" if best.image is not None else "no image"]
    parts.append(f"{best.word_count:,} words" if best.word_count > 0 else "length unknown")
    parts.append(_age(as_of - best.published))
    return Pick(best, "lead", f"score {score(best, start, end):.2f}: {', '.join(parts)}")


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour old"
    if hours < 24:
        return f"{hours} hour{'s' if hours != 1 else ''} old"
    days = hours // 24
    return f"{days} day{'s' if days != 1 else ''} old"


def _ordinal(n: int) -> str:
    if n == 1:
        return "newest"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} newest"


def _latest(
    qualifying: list[Article],
    lead: Pick,
    count: int,
    cap: int,
    window_days: int,
) -> tuple[list[Pick], list[tuple[Article, str]]]:
    period = "the week" if window_days == 7 else f"the last {window_days} days"
    total = len(qualifying)
    per_section: dict[str, int] = {}
    if lead.article.section:
        per_section[lead.article.section.casefold()] = 1
    picks: list[Pick] = []
    rest: list[tuple[Article, str]] = []
    for rank, art in enumerate(qualifying, start=1):
        if art.url == lead.article.url:
            continue
        section = art.section.casefold() if art.section else None
        if len(picks) >= count:
            rest.append((art, f"beyond the {count} latest stories (latest_count)"))
            continue
        if cap and section is not None and per_section.get(section, 0) >= cap:
            rest.append((art, f"over the {art.section} cap (max_per_section is {cap})"))
            continue
        if section is not None:
            per_section[section] = per_section.get(section, 0) + 1
        picks.append(Pick(art, "latest", f"{_ordinal(rank)} of {total} in {period}"))
    return picks, rest
