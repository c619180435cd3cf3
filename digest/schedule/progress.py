"""``LogProgress``: follows a scheduled ``run_send`` (digest.send.SendProgress)
and logs one line per stage: collected, selected, sending, notes. Batches are
logged at debug level (a million recipients are a thousand batches)."""

from __future__ import annotations

import logging
from typing import Any

from digest.schedule.logs import event


class LogProgress:
    def __init__(self, key: str):
        self.key = key

    def built(self, built: Any) -> None:
        """Called with the BuiltIssue once the issue is built (collect → select → render)."""
        collection, issue = built.collection, built.issue
        problems = len(collection.problems)
        text = (
            f"collected {len(collection.articles)} articles from {collection.sources_ok} source(s)"
        )
        if problems:
            text += f"; {problems} source(s) skipped: " + "; ".join(
                f"{p.source}: {p.reason}" for p in collection.problems
            )
        event(
            "collected",
            text,
            issue=self.key,
            articles=len(collection.articles),
            level=logging.WARNING if problems else logging.INFO,
        )
        if issue.skipped:
            return  # run_send logs the skip and its reason
        lead = issue.lead.article.title if issue.lead else None
        event(
            "selected",
            (f"lead {lead!r}" if lead else "no lead") + f" and {len(issue.latest)} more",
            issue=self.key,
            lead=lead,
            latest=len(issue.latest),
        )

    def start(
        self, *, key: str, recipients: int, batches: int, done_recipients: int, done_batches: int
    ) -> None:
        text = f"sending to {recipients} recipients in {batches} batch(es)"
        if done_batches:
            text += f"; resuming after {done_batches} batch(es), {done_recipients} recipients done"
        event("sending", text, issue=key, recipients=recipients, batches=batches)

    def batch_done(self, *, batch: int, recipients: int, skipped: int) -> None:
        event(
            "batch",
            f"batch {batch}: {recipients} recipients, {skipped} skipped",
            issue=self.key,
            level=logging.DEBUG,
            batch=batch,
        )

    def note(self, text: str) -> None:
        event("note", text, issue=self.key)
