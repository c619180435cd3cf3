"""The SendGrid backend: ``POST /v3/mail/send`` with up to 1000 personalizations.

One request per batch carries the issue's HTML and text once; each recipient
is a personalization with their own ``substitutions`` (the unsubscribe link)
and ``headers`` (List-Unsubscribe, List-Unsubscribe-Post). The body is a
``SendGridPayload`` (``digest.backends.sendgrid_payload``); ``send_batch`` is the base
class's template method (build the payload → post it → parse the response), and the send
loop's batches go through ``personalized_sender``, which builds the same payload from the
readers' rows without a ``Recipient`` per reader.

Retries 429 (after Retry-After or X-RateLimit-Reset), 5xx and connections that could not
be made, with bounded exponential backoff and jitter; any other 4xx raises
``PermanentDeliveryError`` carrying SendGrid's own error message(s). A timeout or a
dropped connection once the request may have gone out raises ``DeliveryInDoubtError``
and is never retried: SendGrid may have accepted the batch (``digest.in_doubt``).

Several batches may be in flight at once (``delivery.concurrency``, the send loop's
threads posting on the one ``httpx.Client``, whose pool is sized to it). Every attempt
takes a slot of ``InFlightLimit`` first: a 429 halves the slots (never below 1), a run of
successes gives one back, up to ``delivery.concurrency`` (additive increase,
multiplicative decrease); a throttled batch waits in its own thread without a slot.

Why httpx and not the ``sendgrid`` library's HTTP client (python_http_client under
``sendgrid.SendGridAPIClient``: a new urllib connection per request, no injectable client
or transport, its own JSON encoding of a dict): docs/sending.md, with the figures.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from digest.backends.base import Backend, BatchResult, Message, Recipient, undeliverable
from digest.backends.sendgrid_payload import (
    MAX_PERSONALIZATIONS,
    SendGridPayload,
    build_payload,
    validate_payload,
)
from digest.clock import Clock, system_clock
from digest.config import Config, Secrets
from digest.errors import (
    DeliveryConfigError,
    DeliveryInDoubtError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["SendGridBackend", "build_payload", "error_message", "validate_payload"]

DEFAULT_HOST = "https://api.sendgrid.com"
SEND_PATH = "/v3/mail/send"
MAX_BACKOFF_SECONDS = 60.0
MAX_RATE_LIMIT_WAIT_SECONDS = 300.0
# Raised before a connection exists (httpcore maps socket errors of connect and the TLS
# handshake to these; ProxyError is a refused CONNECT): no byte of the request left. Every
# other transport error may come after the request went out, so it leaves the batch in doubt.
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


class InFlightLimit:
    """How many requests may be on the wire at once: ``ceiling`` at first, halved by a 429
    (never below 1), one more after a window's worth of successes in a row (as many as the
    limit: one more per round trip, TCP's additive increase; ``grow_after`` fixes the run
    instead), never above ``ceiling``. Thread-safe. A 429 halves it only if it answered a request that started
    under the current limit: the others of the same burst were sent under the old one, and
    halving again for each of them would punish one congestion event many times over."""

    def __init__(self, ceiling: int, grow_after: int | None = None):
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.grow_after = grow_after
        self.active = 0
        self._successes = 0
        self._cuts = 0  # how many times the limit was halved (a request's "epoch")
        self._changed = threading.Condition()

    def acquire(self) -> int:
        """Wait for a slot; returns the epoch to give back to ``release``."""
        with self._changed:
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1
            return self._cuts

    def release(self, epoch: int, *, throttled: bool = False, succeeded: bool = False) -> None:
        with self._changed:
            self.active -= 1
            if throttled:
                self._successes = 0
                if epoch == self._cuts:
                    self.limit = max(1, self.limit // 2)
                    self._cuts += 1
            elif succeeded:
                self._successes += 1
                run = self.grow_after or self.limit
                if self._successes >= run and self.limit < self.ceiling:
                    self.limit += 1
                    self._successes = 0
            self._changed.notify_all()


def error_message(response: httpx.Response) -> str:
    """SendGrid's own words from an error response (``{"errors": [{"message", "field"}]}``)."""
    messages: list[str] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        for err in body["errors"]:
            if isinstance(err, dict) and err.get("message"):
                field = err.get("field")
                messages.append(
                    f"{err['message']} (field: {field})" if field else str(err["message"])
                )
    violations = response.headers.get("sl-violations")  # the Prism contract mock
    if violations:
        messages.append(f"spec violations: {violations}")
    if not messages:
        text = response.text.strip()
        messages.append(text[:300] if text else response.reason_phrase)
    return "; ".join(messages)


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (epoch).

    None (so the caller backs off exponentially) when neither header says anything usable:
    missing, garbage, or a time already past (a skewed clock must not turn every retry
    into an immediate one and burn them all in a few milliseconds)."""
    wait: float | None = None
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = email.utils.parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("x-ratelimit-reset")
    if wait is None and reset:
        try:
            wait = float(reset) - now
        except ValueError:
            pass
    if wait is None or not wait > 0:  # also NaN
        return None
    return wait


class SendGridBackend(Backend):
    """Options: ``client`` (an httpx.Client, e.g. with a test transport), ``sleep``
    (how to wait between retries), ``rng`` (jitter), ``clock`` (for X-RateLimit-Reset),
    ``on_retry`` (called with a one-line reason before each wait)."""

    name = "sendgrid"
    max_batch_size = MAX_PERSONALIZATIONS

    def __init__(self, config: Config, secrets: Secrets, **options: Any):
        super().__init__(config, secrets, **options)
        if not secrets.sendgrid_api_key:
            raise DeliveryConfigError(
                "SENDGRID_API_KEY is not set: export your SendGrid API key in the environment "
                "(or choose another [delivery] backend)"
            )
        self.api_key = secrets.sendgrid_api_key
        host = (config.delivery.api_host or secrets.sendgrid_api_host or DEFAULT_HOST).rstrip("/")
        if not host.startswith(("http://", "https://")):
            where = "[delivery.api_host]" if config.delivery.api_host else "SENDGRID_API_HOST"
            raise DeliveryConfigError(f"{where} must be an http(s) URL, got {host!r}")
        self.url = host + SEND_PATH
        self.timeout = httpx.Timeout(config.delivery.timeout_seconds)
        self.max_retries = config.delivery.max_retries
        self.sandbox_mode = config.delivery.sandbox_mode
        # batches the send loop may have in flight at once (digest.sending.batches)
        self.concurrency = config.delivery.concurrency
        self.in_flight_limit = InFlightLimit(self.concurrency)
        self._own_client = options.get("client") is None
        self.client: httpx.Client = options.get("client") or httpx.Client(
            timeout=self.timeout,
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
        )
        sleep = options.get("sleep")
        self.sleep: Callable[[float], None] = sleep if sleep is not None else time.sleep
        self.rng: random.Random = options.get("rng") or random.Random()
        self.clock: Clock = options.get("clock") or system_clock
        self.on_retry: Callable[[str], None] | None = options.get("on_retry")
        self._headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "User-Agent": "digest (sendgrid v3 mail send)",
        }

    def describe(self) -> str:
        mode = " (sandbox mode: SendGrid accepts but delivers nothing)" if self.sandbox_mode else ""
        return f"sendgrid backend: {self.url}{mode}"

    def send_batch(self, message: Message, recipients: Sequence[Recipient]) -> BatchResult:
        refused = tuple(r.email for r in recipients if undeliverable(r.email))
        if not refused:
            return super().send_batch(message, recipients)
        # one such address would make SendGrid refuse the whole batch: leave it out, refused
        sendable = [r for r in recipients if not undeliverable(r.email)]
        if not sendable:
            return BatchResult(accepted=0, rejected=refused)
        result = super().send_batch(message, sendable)
        return BatchResult(accepted=result.accepted, provider_id=result.provider_id,
                           rejected=refused, attempts=result.attempts)  # fmt: skip

    def new_payload(self, message: Message) -> SendGridPayload:
        return SendGridPayload(message, sandbox_mode=self.sandbox_mode)

    def build_payload(self, message: Message, recipients: Sequence[Recipient]) -> bytes:
        payload = self.new_payload(message)
        for recipient in recipients:
            payload.add_recipient(recipient)
        return payload.serialize()

    def personalized_payload(
        self, message: Message, readers: Sequence[tuple[str, str | None, str]]
    ) -> tuple[bytes | None, tuple[str, ...]]:
        """The request for a batch of readers given as (email, name, unsubscribe URL): the
        same bytes ``build_payload`` makes from ``Recipient(email, name,
        {UNSUBSCRIBE_PLACEHOLDER: url}, unsubscribe_headers(url))`` (the tests compare
        them), built without a Recipient per reader. Addresses no backend can carry are
        left out and returned as refused, as ``send_batch`` does; the body is None when
        nobody is left."""
        payload = self.new_payload(message)
        refused: list[str] = []
        for email_addr, name, url in readers:
            if email_addr.isascii() or not undeliverable(email_addr):
                payload.add_reader(email_addr, name, url)
            else:
                refused.append(email_addr)
        if not payload.personalizations:
            return None, tuple(refused)
        return payload.serialize(), tuple(refused)

    def personalized_sender(
        self, message: Message, readers: Sequence[tuple[str, str | None, str]]
    ) -> Callable[[], BatchResult]:
        """Build the batch's request now, in the calling thread (a refused document raises
        here), and return what posts it: the request thread then only waits on the network."""
        body, refused = self.personalized_payload(message, readers)
        if body is None:
            return lambda: BatchResult(accepted=0, rejected=refused)
        accepted = len(readers) - len(refused)

        def send() -> BatchResult:
            response = self.post(body)
            return BatchResult(
                accepted=accepted,
                provider_id=response.headers.get("x-message-id"),
                rejected=refused,
                attempts=int(response.extensions.get("digest_attempts", 1)),
            )

        return send

    def check_batch(self, message: Message, recipients: Sequence[Recipient]) -> None:
        self.build_payload(message, recipients)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: ~1 s, 2 s, 4 s … capped at a minute."""
        base = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))
        return base * (0.5 + self.rng.random() / 2)

    def post(self, payload: bytes) -> httpx.Response:
        """POST the body, retrying what cannot have been delivered (see the module's
        docstring); the response carries the attempts it took in ``digest_attempts``."""
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(payload, attempt)
            if isinstance(outcome, httpx.Response):
                outcome.extensions["digest_attempts"] = attempt
                return outcome
            self._wait_to_retry(outcome, attempt)

    def _attempt(self, payload: bytes, attempt: int) -> httpx.Response | TransientDeliveryError:
        """One request: a 2xx response, or the problem worth retrying. Raises
        ``DeliveryInDoubtError`` when the answer was lost and ``PermanentDeliveryError``
        when SendGrid refused the request."""
        epoch = self.in_flight_limit.acquire()
        throttled = succeeded = False
        try:
            response = self.client.post(
                self.url, content=payload, headers=self._headers, timeout=self.timeout
            )
            throttled = response.status_code == 429
            succeeded = 200 <= response.status_code < 300
        except _NOTHING_SENT as exc:  # no connection, so no request: a retry is safe
            return TransientDeliveryError(
                f"cannot connect to SendGrid ({self.url}): {exc or type(exc).__name__}"
            )
        except httpx.TransportError as exc:
            # the request went out (or may have) and no answer came back: SendGrid may
            # have accepted it, so a retry could send everyone in the batch a second copy
            lost = (f"SendGrid did not answer within {self.timeout.read:g} s"
                    if isinstance(exc, httpx.TimeoutException) else
                    f"the connection to SendGrid was lost ({exc or type(exc).__name__})")  # fmt: skip
            raise DeliveryInDoubtError(
                f"{lost} after the request was sent to {self.url}"
                + (f" (attempt {attempt})" if attempt > 1 else "")
            ) from exc
        finally:
            self.in_flight_limit.release(epoch, throttled=throttled, succeeded=succeeded)
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 429 or status >= 500:
            return TransientDeliveryError(
                f"SendGrid answered HTTP {status}: {error_message(response)}",
                status=status,
                retry_after=_retry_after(response, self.clock().timestamp()),
            )
        hint = " (check SENDGRID_API_KEY)" if status in (401, 403) else ""
        raise PermanentDeliveryError(
            f"SendGrid refused the request (HTTP {status}){hint}: {error_message(response)}",
            status=status,
            body=response.text[:2000],
        )

    def _wait_to_retry(self, problem: TransientDeliveryError, attempt: int) -> None:
        """Sleep before the next attempt, or give up when the retries are spent."""
        if attempt > self.max_retries:
            raise TransientDeliveryError(
                f"gave up after {attempt} attempts: {problem}",
                status=problem.status,
            ) from problem
        if problem.retry_after is not None:
            wait = min(problem.retry_after, MAX_RATE_LIMIT_WAIT_SECONDS)
        else:
            wait = self.backoff(attempt)
        if self.on_retry:
            self.on_retry(f"{problem}; retrying in {wait:.1f} s (attempt {attempt + 1})")
        self.sleep(wait)

    def parse_response(
        self, response: httpx.Response, recipients: Sequence[Recipient]
    ) -> BatchResult:
        return BatchResult(
            accepted=len(recipients),
            provider_id=response.headers.get("x-message-id"),
            attempts=int(response.extensions.get("digest_attempts", 1)),
        )

    def close(self) -> None:
        if self._own_client:
            self.client.close()
