"""What a send tells its caller: the plan shown before it starts, the hooks a front end
follows while it runs, and the report it ends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal[
    "sent", "already_sent", "skipped", "resumed", "failed", "dry_run", "locked", "interrupted",
    "cancelled",
]  # fmt: skip


@dataclass
class SendReport:
    """What a send did, for the editor and the scheduler's log."""

    key: str
    outcome: Outcome
    recipients: int = 0  # frozen for this issue
    sent: int = 0  # accepted by the provider, in total for the issue
    skipped: int = 0  # left the list during the send
    failed: int = 0  # refused by the provider or in a failed batch
    in_flight_at_crash: int = 0  # recipients in batches interrupted mid-request
    in_flight_batches: tuple[int, ...] = ()
    in_doubt: int = 0  # recipients in batches this run left in doubt (digest.in_doubt)
    in_doubt_batches: tuple[int, ...] = ()
    batches: int = 0
    sent_now: int = 0  # accepted by this run
    elapsed: float = 0.0  # seconds, the whole run (build, prompt and all)
    sending_seconds: float = 0.0  # from the first batch to the last
    message: str = ""
    subject: str | None = None
    lead: str | None = None
    backend: str | None = None
    # a failed send whose cause may pass (the provider's 429/5xx/timeouts): worth a retry
    transient: bool = False

    @property
    def exit_code(self) -> int:
        # interrupted: readers are still waiting, so a cron job or script must notice
        return 1 if self.outcome in ("failed", "interrupted") else 0

    def to_json(self) -> dict[str, object]:
        return {
            "issue": self.key, "outcome": self.outcome, "recipients": self.recipients,
            "sent": self.sent, "skipped": self.skipped, "failed": self.failed,
            "in_flight_at_crash": self.in_flight_at_crash,
            "in_flight_batches": list(self.in_flight_batches), "batches": self.batches,
            "in_doubt": self.in_doubt, "in_doubt_batches": list(self.in_doubt_batches),
            "sent_now": self.sent_now, "elapsed": round(self.elapsed, 3),
            "sending_seconds": round(self.sending_seconds, 3),
            "message": self.message, "subject": self.subject,
        }  # fmt: skip


@dataclass(frozen=True)
class SendPlan:
    """What is about to be sent, shown to the editor before anything happens."""

    key: str
    subject: str
    lead: str | None
    recipients: int  # still to be sent
    resuming: bool
    backend: str


Confirm = Callable[[SendPlan], bool]


class SendProgress(Protocol):
    """Hooks a front end (the CLI's progress bar, the scheduler's log) can follow.
    Optional too: ``built(built_issue)``, called once a new issue is built."""

    def start(
        self, *, key: str, recipients: int, batches: int, done_recipients: int, done_batches: int
    ) -> None: ...

    def batch_done(self, *, batch: int, recipients: int, skipped: int) -> None: ...

    def note(self, text: str) -> None: ...
