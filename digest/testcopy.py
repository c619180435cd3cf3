"""Test copies: the issue as readers will get it, sent to the editors before the send."""

from __future__ import annotations

from dataclasses import replace

from digest.archive import subscribe_url
from digest.backends import get_backend
from digest.backends.base import Backend, Recipient
from digest.config import Config
from digest.models import UNSUBSCRIBE_PLACEHOLDER, RenderedIssue
from digest.sending.message import issue_message

TEST_PREFIX = "[TEST] "


def send_test_copy(
    config: Config,
    rendered: RenderedIssue,
    recipients: list[str],
    *,
    backend: Backend | None = None,
) -> int:
    """Send a "[TEST] " copy of ``rendered`` to ``recipients`` (editors); records nothing.
    The unsubscribe link points to the subscribe page. Returns how many were accepted."""
    if not recipients:
        return 0
    own = backend is None
    backend = backend or get_backend(config)
    try:
        message = issue_message(
            config,
            key=rendered.key,
            subject=TEST_PREFIX + rendered.subject,
            html=rendered.html,
            text=rendered.text,
        )
        message = replace(message, custom_args={"kind": "test", "test_issue": rendered.key})
        url = subscribe_url(config)
        batch = [
            Recipient(email=r, substitutions={UNSUBSCRIBE_PLACEHOLDER: url}) for r in recipients
        ]
        result = backend.send_batch(message, batch)
        if result.stopped_by is not None:  # gave up part-way (SMTP): fail as a whole batch would
            raise result.stopped_by
        return result.accepted
    finally:
        if own:
            backend.close()
