"""The file backend: one RFC 5322 .eml per recipient in ``delivery.outbox``."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from digest.backends.base import (
    Backend,
    BatchResult,
    Message,
    Recipient,
    to_email_message,
    undeliverable,
)
from digest.config import Config, Secrets
from digest.errors import PermanentDeliveryError


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value)[:60]


class FileBackend(Backend):
    name = "file"

    def __init__(self, config: Config, secrets: Secrets, **options: Any):
        super().__init__(config, secrets, **options)
        self.outbox = Path(options.get("outbox") or config.outbox_dir)

    def describe(self) -> str:
        return f"file backend: .eml files in {self.outbox}"

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        try:
            return self._write(message, recipients)
        except OSError as exc:
            # a refusal, so the send stops as failed and the batch is written again on the
            # next run (the same file names: nobody gets two) rather than left "in flight"
            raise PermanentDeliveryError(
                f"cannot write the .eml files to [delivery.outbox] {self.outbox}: "
                f"{exc.strerror or exc}"
            ) from exc

    def _write(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        self.outbox.mkdir(parents=True, exist_ok=True)
        tag = _slug(
            message.custom_args.get("issue") or message.custom_args.get("kind") or "message"
        )
        rejected = []
        for r in recipients:
            if undeliverable(r.email):
                rejected.append(r.email)
                continue
            msg = to_email_message(message, r)
            seed = f"{tag}\0{r.email}\0{message.subject}".encode()
            digest_ = hashlib.sha256(seed).hexdigest()[:10]
            path = self.outbox / f"{tag}-{_slug(r.email)}-{digest_}.eml"
            tmp = path.with_suffix(".eml.tmp")
            tmp.write_bytes(bytes(msg))
            os.replace(tmp, path)  # a crash never leaves half a message
        return BatchResult(accepted=len(recipients) - len(rejected), rejected=tuple(rejected))
