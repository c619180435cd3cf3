"""The confirmation email of double opt-in: rendered, sent, recorded.

``Workflow.request_subscription`` reserves the send (``confirmation_sent_at``) inside its
own transaction, so two quick requests never send two emails; this module renders the
email with the reader's signed link, sends it through the configured backend and records
``confirmation_sent`` in the consent ledger. A render or delivery error un-reserves the
send (a retry works) and propagates.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING

from digest.backends.base import Message, Recipient
from digest.tokens import confirm_url
from subscribers import repository as repo

if TYPE_CHECKING:  # the workflow calls these functions: no import of it at run time
    from subscribers.workflow import Workflow


def send_confirmation(workflow: Workflow, subscriber_id: int) -> bool:
    """Render and send the confirmation email; record it in the ledger.

    Returns False when there is nothing to send (no longer pending). Delivery and render
    errors propagate, after un-reserving the send so a retry works.
    """
    with workflow.store.session() as s:
        sub = repo.get(s, subscriber_id)
        if sub is None or sub.status != "pending":
            return False
        if not sub.confirm_nonce:
            sub.confirm_nonce = pysecrets.token_urlsafe(18)
        token = workflow.tokens.confirm(sub.id, sub.confirm_nonce)
        email, name, source = sub.email, sub.name, sub.source
    workflow.record_key()
    try:
        url = confirm_url(workflow.config.newsletter.public_url, token)
        message = confirmation_message(workflow, url, name=name, source=source)
        workflow.backend.send_batch(message, [Recipient(email=email, name=name)])
    except Exception:
        with workflow.store.session() as s:
            sub = repo.get(s, subscriber_id)
            if sub is not None:
                sub.confirmation_sent_at = None
        raise
    with workflow.store.session() as s:
        sub = repo.get(s, subscriber_id)
        if sub is not None:
            repo.record_event(
                s,
                sub,
                "confirmation_sent",
                at=workflow.now(),
                source=source,
                detail=f"via the {workflow.config.delivery.backend} backend",
            )
    return True


def confirmation_message(workflow: Workflow, url: str, *, name: str | None, source: str) -> Message:
    """The email that asks the reader to confirm, in the newsletter's locale."""
    from digest.i18n import gettext_for
    from digest.render import render_email

    config = workflow.config
    nl = config.newsletter
    _ = gettext_for(config)
    html, text = render_email(
        config,
        "confirm",
        {
            "confirm_url": url,
            "expires_days": config.web.confirm_token_days,
            "subscriber_name": name,
            "source": source,
        },
    )
    return Message(
        subject=_("Please confirm your subscription to %(name)s", name=nl.name),
        html=html,
        text=text,
        from_email=nl.from_email,
        from_name=nl.from_name or nl.name,
        reply_to=nl.reply_to,
        categories=("confirm",),
        custom_args={"kind": "confirm"},
    )
