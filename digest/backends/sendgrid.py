"""The SendGrid backend: ``POST /v3/mail/send`` with up to 1000 personalizations.

One request per batch carries the issue's HTML and text once; each recipient
is a personalization with their own ``substitutions`` (the unsubscribe link)
and ``headers`` (List-Unsubscribe, List-Unsubscribe-Post). Retries 429 (after
Retry-After or X-RateLimit-Reset), 5xx and connections that could not be made, with
bounded exponential backoff and jitter; any other 4xx raises
``PermanentDeliveryError`` carrying SendGrid's own error message(s). A timeout or a
dropped connection once the request may have gone out raises ``DeliveryInDoubtError``
and is never retried: SendGrid may have accepted the batch (``digest.in_doubt``).

Why httpx and not the ``sendgrid`` library's HTTP client: python_http_client
(under ``sendgrid.SendGridAPIClient``) opens a new urllib connection per
request, takes no injectable client or transport, and JSON-encodes a dict
itself; we need an injectable client (tests, connection reuse) and orjson
bodies for million-recipient sends. The payload is the same document the
library's ``Mail.get()`` produces, checked against SendGrid's published spec
in the contract tests.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import chain, repeat
from operator import contains, is_not, methodcaller
from typing import Any

import httpx
import orjson

from digest.backends.base import (
    Backend,
    BatchResult,
    Message,
    Recipient,
    ascii_address,
    undeliverable,
)
from digest.clock import Clock, system_clock
from digest.config import Config, Secrets
from digest.errors import (
    DeliveryConfigError,
    DeliveryInDoubtError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.safetext import header_value

DEFAULT_HOST = "https://api.sendgrid.com"
SEND_PATH = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
MAX_BACKOFF_SECONDS = 60.0
MAX_RATE_LIMIT_WAIT_SECONDS = 300.0
# SendGrid documents a 10,000-byte limit on the substitutions of one personalization.
MAX_SUBSTITUTION_BYTES = 10_000
_ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058
# Raised before a connection exists (httpcore maps socket errors of connect and the TLS
# handshake to these; ProxyError is a refused CONNECT): no byte of the request left. Every
# other transport error may come after the request went out, so it leaves the batch in doubt.
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


def _address(email_addr: str, name: str | None) -> dict[str, str]:
    email_addr = ascii_address(email_addr)  # SendGrid refuses a non-ASCII domain
    return {"email": email_addr, "name": name} if name else {"email": email_addr}


def build_payload(
    message: Message, recipients: Sequence[Recipient], *, sandbox_mode: bool = False
) -> dict[str, Any]:
    """The /v3/mail/send document for one batch (valid under SendGrid's spec)."""
    personalizations = []
    # custom_args go in each personalization: SendGrid's spec types the top-level field as a
    # string, and the Event Webhook reports them on every event either way
    custom_args = message.custom_args or None
    for r in recipients:
        p: dict[str, Any] = {"to": [_address(r.email, r.name)]}
        if r.substitutions:
            p["substitutions"] = r.substitutions
        if r.headers:
            p["headers"] = r.headers
        if custom_args:
            p["custom_args"] = custom_args
        personalizations.append(p)
    payload: dict[str, Any] = {
        "personalizations": personalizations,
        "from": _address(message.from_email, message.from_name),
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
    }
    if message.reply_to:
        payload["reply_to"] = {"email": message.reply_to}
    if message.headers:
        payload["headers"] = message.headers
    if message.categories:
        payload["categories"] = list(message.categories)
    if sandbox_mode:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return payload


def _check_strings(where: str, mapping: Any) -> None:
    if not isinstance(mapping, dict):
        raise PermanentDeliveryError(f"invalid SendGrid request: {where} must be an object")
    for k, v in mapping.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise PermanentDeliveryError(
                f"invalid SendGrid request: {where}[{k!r}] must be a string, got {v!r}"
            )


def validate_payload(payload: Mapping[str, Any]) -> None:
    """Check what SendGrid's spec does not but its API does (see the mock's README):
    no empty personalizations or ``to``, string header/substitution/custom_args
    values, a top-level subject, at most 1000 personalizations, no unknown fields."""
    allowed = {
        "personalizations", "from", "reply_to", "reply_to_list", "subject", "content",
        "attachments", "template_id", "headers", "categories", "custom_args", "send_at",
        "batch_id", "asm", "ip_pool_name", "mail_settings", "tracking_settings",
    }  # fmt: skip
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise PermanentDeliveryError(f"invalid SendGrid request: unknown field(s) {unknown}")
    pers = payload.get("personalizations")
    if not isinstance(pers, list) or not pers:
        raise PermanentDeliveryError("invalid SendGrid request: personalizations is empty")
    if len(pers) > MAX_PERSONALIZATIONS:
        raise PermanentDeliveryError(
            f"invalid SendGrid request: {len(pers)} personalizations (at most 1000)"
        )
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise PermanentDeliveryError("invalid SendGrid request: the subject is empty")
    if "headers" in payload:
        _check_strings("headers", payload["headers"])
    if "custom_args" in payload and not isinstance(payload["custom_args"], str):
        raise PermanentDeliveryError(
            "invalid SendGrid request: top-level custom_args must be a string (put them in each personalization)"
        )
    # whole-batch checks in C loops; the per-item walk in _find_problem runs only to name a problem
    if not _batch_is_sound(pers):
        _find_problem(pers)
    subs = [m for m in map(_get_subs, pers) if m]
    if subs:
        longest = max(map(len, chain.from_iterable(map(dict.values, subs))))
        most = max(map(len, subs))
        if (longest + 200) * most > MAX_SUBSTITUTION_BYTES:  # only then measure exactly
            for i, p in enumerate(pers):
                one = p.get("substitutions") or {}
                if sum(map(len, one.values())) + sum(map(len, one)) > MAX_SUBSTITUTION_BYTES:
                    raise PermanentDeliveryError(
                        f"invalid SendGrid request: personalizations[{i}].substitutions exceed 10,000 bytes"
                    )


_get_subs = methodcaller("get", "substitutions")
_not_none = partial(is_not, None)


def _batch_is_sound(pers: list[Any]) -> bool:
    if set(map(type, pers)) != {dict}:
        return False
    tos = list(map(methodcaller("get", "to"), pers))
    if set(map(type, tos)) != {list} or not all(tos):
        return False
    addrs = list(chain.from_iterable(tos))
    if set(map(type, addrs)) != {dict}:
        return False
    emails = list(map(methodcaller("get", "email"), addrs))
    if set(map(type, emails)) != {str} or not all(map(contains, emails, repeat("@"))):
        return False
    for key in ("headers", "substitutions", "custom_args"):
        maps = list(filter(_not_none, map(methodcaller("get", key), pers)))
        if not maps:
            continue
        if set(map(type, maps)) != {dict}:
            return False
        if not set(map(type, chain.from_iterable(map(dict.values, maps)))) <= {str}:
            return False
    return True


def _find_problem(pers: list[Any]) -> None:
    for i, p in enumerate(pers):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            raise PermanentDeliveryError(
                f"invalid SendGrid request: personalizations[{i}].to is empty"
            )
        for addr in to:
            if not isinstance(addr, dict) or not isinstance(addr.get("email"), str) or "@" not in addr["email"]:
                raise PermanentDeliveryError(
                    f"invalid SendGrid request: personalizations[{i}].to has a bad address {addr!r}"
                )
        for key in ("headers", "substitutions", "custom_args"):
            if key in p:
                _check_strings(f"personalizations[{i}].{key}", p[key])


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
                messages.append(f"{err['message']} (field: {field})" if field else str(err["message"]))
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
        self._own_client = options.get("client") is None
        self.client: httpx.Client = options.get("client") or httpx.Client(timeout=self.timeout)
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

    def build_payload(self, message: Message, recipients: Sequence[Recipient]) -> bytes:
        payload = build_payload(message, recipients, sandbox_mode=self.sandbox_mode)
        validate_payload(payload)
        return orjson.dumps(payload)

    def personalized_payload(
        self, message: Message, readers: Sequence[tuple[str, str | None, str]]
    ) -> tuple[bytes | None, tuple[str, ...]]:
        """The request for a batch of readers given as (email, name, unsubscribe URL): the
        same bytes ``build_payload`` makes from ``Recipient(email, name,
        {UNSUBSCRIBE_PLACEHOLDER: url}, unsubscribe_headers(url))`` (the tests compare
        them), built straight from the strings, without a Recipient per reader. What digest
        builds itself is not walked again: the document is validated whole with its first
        personalization (the others differ only in the address and the URL), and each
        address is checked for its "@". Addresses no backend can carry are left out and
        returned as refused, as ``send_batch`` does; the body is None when nobody is left."""
        refused: list[str] = []
        custom_args = message.custom_args or None
        pers: list[dict[str, Any]] = []
        for email_addr, name, url in readers:
            if not email_addr.isascii():
                if undeliverable(email_addr):
                    refused.append(email_addr)
                    continue
                email_addr = ascii_address(email_addr)
            if "@" not in email_addr:
                raise PermanentDeliveryError(
                    f"invalid SendGrid request: personalizations[{len(pers)}].to has a bad address "
                    f"{_address(email_addr, name)!r}"
                )
            p: dict[str, Any] = {
                # built without a Recipient, so cleaned here as Recipient cleans it
                "to": [{"email": email_addr, "name": header_value(name)} if name
                       else {"email": email_addr}],
                "substitutions": {UNSUBSCRIBE_PLACEHOLDER: url},
                "headers": {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": _ONE_CLICK},
            }
            if custom_args:
                p["custom_args"] = custom_args
            pers.append(p)
        if not pers:
            return None, tuple(refused)
        if len(pers) > MAX_PERSONALIZATIONS:
            raise PermanentDeliveryError(
                f"invalid SendGrid request: {len(pers)} personalizations (at most 1000)"
            )
        payload = build_payload(message, (), sandbox_mode=self.sandbox_mode)
        payload["personalizations"] = pers[:1]
        validate_payload(payload)
        payload["personalizations"] = pers
        return orjson.dumps(payload), tuple(refused)

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
        attempt = 0
        while True:
            attempt += 1
            problem: TransientDeliveryError
            try:
                response = self.client.post(
                    self.url, content=payload, headers=self._headers, timeout=self.timeout
                )
            except _NOTHING_SENT as exc:  # no connection, so no request: a retry is safe
                problem = TransientDeliveryError(
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
            else:
                status = response.status_code
                if 200 <= status < 300:
                    response.extensions["digest_attempts"] = attempt
                    return response
                if status == 429 or status >= 500:
                    wait = _retry_after(response, self.clock().timestamp())
                    problem = TransientDeliveryError(
                        f"SendGrid answered HTTP {status}: {error_message(response)}",
                        status=status,
                        retry_after=wait,
                    )
                else:
                    hint = " (check SENDGRID_API_KEY)" if status in (401, 403) else ""
                    raise PermanentDeliveryError(
                        f"SendGrid refused the request (HTTP {status}){hint}: {error_message(response)}",
                        status=status,
                        body=response.text[:2000],
                    )
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

    def parse_response(self, response: httpx.Response, recipients: Sequence[Recipient]) -> BatchResult:
        return BatchResult(
            accepted=len(recipients),
            provider_id=response.headers.get("x-message-id"),
            attempts=int(response.extensions.get("digest_attempts", 1)),
        )

    def close(self) -> None:
        if self._own_client:
            self.client.close()

