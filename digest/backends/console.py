"""The console backend: prints each message (headers and text part) to the terminal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from digest.backends.base import (
    Backend,
    BatchResult,
    Message,
    Recipient,
    to_email_message,
    undeliverable,
)


class ConsoleBackend(Backend):
    """Options: ``stream`` (default stdout). Sends nothing anywhere."""

    name = "console"

    def __init__(self, config: Any, secrets: Any, **options: Any):
        super().__init__(config, secrets, **options)
        self.stream: TextIO = options.get("stream") or sys.stdout

    def describe(self) -> str:
        return "console backend: messages are printed, nothing is sent"

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        out = self.stream
        rejected = tuple(r.email for r in recipients if undeliverable(r.email))
        for r in recipients:
            if undeliverable(r.email):
                continue
            msg = to_email_message(message, r)
            out.write("-" * 72 + "\n")
            for name, value in msg.items():
                if name.lower() not in (
                    "content-type",
                    "mime-version",
                    "content-transfer-encoding",
                ):
                    out.write(f"{name}: {value}\n")
            text_part = msg.get_body(preferencelist=("plain",))
            html_part = msg.get_body(preferencelist=("html",))
            out.write("\n")
            out.write(text_part.get_content() if text_part is not None else "")
            html_len = len(html_part.get_content()) if html_part is not None else 0
            out.write(f"\n[HTML part: {html_len:,} characters]\n")
        out.flush()
        return BatchResult(accepted=len(recipients) - len(rejected), rejected=rejected)
