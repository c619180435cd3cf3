"""Rendering an issue so that one bad story never stops it.

Feed text is made safe when it is read (``digest.feedtext.safe_article``), so no story
should make the email fail to render. Should one still do so (a character, a shape or a
user template nobody foresaw), ``render_sparing`` finds the stories that fail on their own,
selects the issue again without them (so the next story moves up) and renders that; each
story left out is named, with its source and link, in the issue's warnings and ``left_out``.
The issue fails only when fewer than ``selection.min_articles`` stories are left, or when
the template fails whatever the story (then the template's own error is raised).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from digest.config import Config
from digest.errors import RenderError
from digest.models import Article, Issue, Pick, RenderedIssue
from digest.render import render

LEFT_OUT = "the email cannot be rendered with it"


def render_sparing(
    issue: Issue, config: Config, reselect: Callable[[Collection[str]], Issue]
) -> tuple[Issue, RenderedIssue]:
    """``issue`` rendered, or else the issue ``reselect(urls of the bad stories)`` gives,
    rendered; returns the issue that was rendered with its render."""
    bad: dict[str, tuple[Article, str]] = {}
    while True:  # each round leaves out at least one more story, so it ends
        try:
            return issue, render(issue, config)
        except RenderError:
            culprits = _culprits(issue, config)
            if not culprits:
                raise  # no story is to blame: the template itself fails
        bad.update((art.url, (art, why)) for art, why in culprits)
        issue = reselect(frozenset(bad))
        notes = tuple(_note(art, why) for art, why in bad.values())
        if issue.skipped:
            raise RenderError(
                f"{issue.skip_reason or 'too few stories'} once the stories the "
                f"email cannot be rendered with are left out: {'; '.join(notes)}"
            )
        left_out = issue.left_out + tuple((art, LEFT_OUT) for art, _ in bad.values())
        newest_first = sorted(left_out, key=lambda p: (-p[0].published.timestamp(), p[0].url))
        issue = replace(issue, warnings=issue.warnings + notes, left_out=tuple(newest_first))


def _note(art: Article, why: str) -> str:
    return (
        f"{art.source}: entry {art.title!r} ({art.url}) was left out of the issue: "
        f"{LEFT_OUT} ({why})"
    )


def _culprits(issue: Issue, config: Config) -> list[tuple[Article, str]]:
    """The picks that fail to render beside a plain stand-in story, with the error; none
    when the stand-in alone fails too (the template is broken, not a story)."""
    stand_in = _stand_in(issue)
    if _error(replace(issue, lead=stand_in, latest=()), config) is not None:
        return []
    found = []
    for pick in issue.picks:
        if pick.role == "lead":
            alone = replace(issue, lead=pick, latest=(replace(stand_in, role="latest"),))
        else:
            alone = replace(issue, lead=stand_in, latest=(pick,))
        error = _error(alone, config)
        if error is not None:
            found.append((pick.article, error))
    return found


def _error(issue: Issue, config: Config) -> str | None:
    try:
        render(issue, config)
    except RenderError as exc:
        return str(exc)
    return None


def _stand_in(issue: Issue) -> Pick:
    """A story with nothing unusual in any field, to render a suspect beside."""
    article = Article(
        url="https://example.com/story",
        guid="stand-in",
        title="A story",
        dek="What happened.",
        excerpt="What happened, and why.",
        section=None,
        categories=(),
        authors=(),
        published=issue.as_of,
        updated=None,
        image=None,
        source="stand-in",
    )
    return Pick(article, "lead", "stand-in")
