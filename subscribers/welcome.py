"""The welcome email: one, to a reader who has just confirmed (``[newsletter] welcome``).

Only the call that made the reader active (``Workflow.confirm`` returned "ready") sends it,
so a second confirm never sends a second welcome. It carries the reader's own unsubscribe
link and the RFC 8058 one-click headers, and, when ``welcome_latest_lead`` is on and an
issue has been sent, the latest issue's lead. A failed welcome is logged, never raised:
the reader is subscribed whatever happens to this email.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from digest.backends.base import Message, Recipient, unsubscribe_headers
from digest.config import Config
from digest.tokens import unsubscribe_url
from subscribers import repository as repo
from subscribers.issues import SentIssue, latest_sent

if TYPE_CHECKING:  # the workflow calls these functions: no import of it at run time
    from subscribers.workflow import ConfirmState, LinkTarget, Visitor, Workflow

# the logger's name from before the welcome left subscribers.workflow: logging configs
# (and the tests) name it
log = logging.getLogger("subscribers.workflow")


def confirm_and_welcome(
    workflow: Workflow, token: str, *, visitor: Visitor
) -> tuple[LinkTarget, ConfirmState]:
    """``workflow.confirm``, then the welcome email when this call confirmed (synchronously;
    a failed welcome is logged and the confirmation stands)."""
    target, state = workflow.confirm(token, visitor=visitor)
    if state == "ready":
        welcome_after_confirm(workflow, target.subscriber_id)
    return target, state


def welcome_after_confirm(workflow: Workflow, subscriber_id: int) -> bool:
    """``send_welcome`` for a reader who has just confirmed; a failure is logged, never
    raised: the reader is subscribed whatever happens to this email."""
    try:
        return send_welcome(workflow, subscriber_id)
    except Exception:
        log.exception("could not send the welcome email to subscriber %s", subscriber_id)
        return False


def send_welcome(workflow: Workflow, subscriber_id: int) -> bool:
    """Send the welcome email (``[newsletter] welcome``, on by default) to an active
    subscriber, with their own unsubscribe link and the RFC 8058 one-click headers.
    Call it once, after the confirm that made them active (``confirm`` returned
    "ready"). Returns False when nothing was sent (turned off, or no longer active);
    render and delivery errors propagate."""
    if not workflow.config.newsletter.welcome:
        return False
    with workflow.store.session() as s:
        sub = repo.get(s, subscriber_id)
        if sub is None or sub.status != "active":
            return False
        email, name = sub.email, sub.name
    link = unsubscribe_url(
        workflow.config.newsletter.public_url, workflow.tokens.unsubscribe(subscriber_id, email)
    )
    workflow.record_key()
    message = welcome_message(workflow.config, link, name=name, latest=_latest_lead(workflow))
    workflow.backend.send_batch(
        message, [Recipient(email=email, name=name, headers=unsubscribe_headers(link))]
    )
    log.info("welcome email sent to subscriber %s", subscriber_id)
    return True


def _latest_lead(workflow: Workflow) -> SentIssue | None:
    if not workflow.config.newsletter.welcome_latest_lead:
        return None
    return latest_sent(workflow.store, name=workflow.config.newsletter.name)


def welcome_message(
    config: Config, unsubscribe_link: str, *, name: str | None, latest: SentIssue | None
) -> Message:
    """The welcome email: ``welcome.mjml.j2`` and ``welcome.txt.j2`` (a copy in
    ``<templates_dir>/email/`` replaces them)."""
    from digest.i18n import gettext_for
    from digest.render import render_email

    nl = config.newsletter
    _ = gettext_for(config)
    base = nl.public_url.rstrip("/")
    html, text = render_email(
        config,
        "welcome",
        {
            "subscriber_name": name,
            "unsubscribe_url": unsubscribe_link,
            "archive_url": f"{base}/issues",
            "latest": (
                {
                    "title": latest.title,
                    "url": latest.lead_url,
                    "issue_url": f"{base}/issues/{latest.key}",
                }
                if latest is not None
                else None
            ),
        },
    )
    return Message(
        subject=_("Welcome to %(name)s", name=nl.name),
        html=html,
        text=text,
        from_email=nl.from_email,
        from_name=nl.from_name or nl.name,
        reply_to=nl.reply_to,
        categories=("welcome",),
        custom_args={"kind": "welcome"},
    )


__all__ = ["confirm_and_welcome", "send_welcome", "welcome_after_confirm", "welcome_message"]
