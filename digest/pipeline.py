"""The one code path from feeds to a rendered issue.

``build_issue`` is what ``digest preview``, ``digest send`` and the scheduler
all call, so a preview is exactly the issue a send would deliver:

    collect (every source) → the editor's controls and the already-sent URLs
    from the store → select → render (skipped issues are not rendered).

``preview_json`` turns the result into the JSON object that
``digest preview --json`` prints (see INTERFACE.md).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from digest.clock import Clock, issue_key, system_clock
from digest.config import Config
from digest.editor import EditorControls, get_controls, sent_articles
from digest.models import Collection, Issue, Pick, RenderedIssue
from digest.select import select
from digest.store.database import Store


@dataclass(frozen=True)
class BuiltIssue:
    """A collection, the selection made from it, and its render (None when skipped)."""

    collection: Collection
    issue: Issue
    rendered: RenderedIssue | None
    controls: EditorControls = field(default_factory=EditorControls)

    @property
    def warnings(self) -> list[str]:
        """Everything an editor should read: skipped sources first, then entry and selection notes."""
        out = [f"source {p.source!r} skipped: {p.reason}" for p in self.collection.problems]
        out += list(self.collection.warnings)
        out += list(self.issue.warnings)
        return out


def build_issue(
    config: Config,
    *,
    store: Store | None,
    as_of: datetime,
    client: httpx.Client | None = None,
    clock: Clock = system_clock,
) -> BuiltIssue:
    """Collect, select and render the issue of ``as_of``.

    With a ``store``, the editor's controls for the issue key apply and
    articles of earlier *sent* issues are left out (the issue's own key is
    ignored, so resuming or re-previewing a send keeps its articles).
    Raises ``CollectError`` when every source failed, ``RenderError`` when a
    template fails (a story that alone makes the email fail is left out instead:
    ``digest.renderguard``).
    """
    from digest.collect import collect  # collect pulls in feedparser and httpx
    from digest.renderguard import render_sparing

    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    collection = collect(config, store=store, client=client, clock=clock)
    key = issue_key(as_of, config.newsletter.tz)
    controls = get_controls(store, key) if store is not None else EditorControls()
    already_sent = sent_articles(store, except_key=key) if store is not None else {}

    def select_without(bad: Container[str]) -> Issue:
        articles = [a for a in collection.articles if a.url not in bad]
        return select(articles, config, as_of=as_of, controls=controls, already_sent=already_sent)

    issue = select_without(())
    rendered = None
    if not issue.skipped:
        issue, rendered = render_sparing(issue, config, select_without)
    return BuiltIssue(collection=collection, issue=issue, rendered=rendered, controls=controls)


def preview_json(built: BuiltIssue) -> dict[str, Any]:
    """The ``digest preview --json`` object of INTERFACE.md.

    Beyond the contract's keys it adds ``note`` (the editor's note) and
    ``left_out`` (articles of the window not picked, with the reason).
    A skipped issue has ``lead`` null, ``latest`` empty and ``subject`` "".
    Times are ISO 8601 in the newsletter's zone.
    """
    issue = built.issue
    tz = issue.window_end.tzinfo  # select puts the window in the newsletter's zone

    def story(pick: Pick) -> dict[str, Any]:
        art = pick.article
        return {
            "title": art.title,
            "url": art.url,
            "section": art.section,
            "published": art.published.astimezone(tz).isoformat(),
            "reason": pick.reason,
        }

    in_window = [
        {"title": a.title, "url": a.url, "reason": r}
        for a, r in issue.left_out
        if not r.startswith(("outside the window", "dated in the future"))
    ]
    return {
        "issue": issue.key,
        "subject": built.rendered.subject if built.rendered is not None else "",
        "as_of": issue.as_of.astimezone(tz).isoformat(),
        "lead": story(issue.lead) if issue.lead is not None else None,
        "latest": [story(p) for p in issue.latest],
        "skipped": issue.skipped,
        "skip_reason": issue.skip_reason,
        "warnings": built.warnings,
        "note": issue.note,
        "left_out": in_window,
    }
