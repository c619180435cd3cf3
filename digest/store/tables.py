"""The database tables (SQLAlchemy 2). One database holds the list, the issues
and the send ledger; the Alembic migrations in ``digest/store/migrations``
create exactly these tables (tests/digest/store/test_migrations.py checks they agree).

Times are stored timezone-aware (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware (UTC) datetimes out, on SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


# --- the list ----------------------------------------------------------------

SUBSCRIBER_STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Ids are never reused (SQLite would hand an erased last row's id to the next
    # subscriber, and an old unsubscribe link names the id).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # normalized by email-validator
    email_key: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased, for uniqueness
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(20))  # form, import, cli
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirm_nonce: Mapped[str | None] = mapped_column(String(64))  # makes a confirm link work once
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)


CONSENT_KINDS = (
    "subscribed",
    "confirmation_sent",
    "confirmed",
    "unsubscribed",
    "bounced",
    "complained",
    "erased",
)


class ConsentEvent(Base):
    """Append-only: rows are inserted, never updated (erase nulls the link only)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(30))  # form, import, cli, webhook, email
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    form_version: Mapped[str | None] = mapped_column(String(60))
    event_id: Mapped[str | None] = mapped_column(String(100))  # e.g. SendGrid's sg_event_id
    detail: Mapped[str | None] = mapped_column(Text)


class Tombstone(Base):
    """An erased address, kept only as a hash so an import cannot bring it back silently."""

    __tablename__ = "tombstones"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- issues ----------------------------------------------------------------------


class IssueRecord(Base):
    __tablename__ = "issues"

    key: Mapped[str] = mapped_column(String(10), primary_key=True)  # 2026-W02
    status: Mapped[str] = mapped_column(String(10))  # draft | sending | sent | skipped | failed
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    subject: Mapped[str | None] = mapped_column(Text)
    preheader: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # the rendered issue, with placeholders
    text: Mapped[str | None] = mapped_column(Text)
    archive_html: Mapped[str | None] = mapped_column(
        Text
    )  # no personal data: served at /issues/KEY
    skip_reason: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped_recipients: Mapped[int] = mapped_column(Integer, default=0)
    failed_recipients: Mapped[int] = mapped_column(Integer, default=0)
    # event webhook counts
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    unknown_events: Mapped[int] = mapped_column(Integer, default=0)


class IssueArticle(Base):
    """The articles an issue carried: sent ones are never picked again."""

    __tablename__ = "issue_articles"

    issue_key: Mapped[str] = mapped_column(
        ForeignKey("issues.key", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # lead | latest
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    # the story's picture (a vetted absolute http(s) URL): the archive shows the lead's
    image_url: Mapped[str | None] = mapped_column(String(2000), nullable=True, default=None)

    __table_args__ = (Index("ix_issue_articles_url", "url"),)


class EditorControl(Base):
    """The editor's pin, drops and note for one issue key (before the issue exists)."""

    __tablename__ = "editor_controls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # pin | drop | note
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedCacheEntry(Base):
    """Conditional GET state per source URL, and the last body so a 304 can be parsed."""

    __tablename__ = "feed_cache"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the send ledger -------------------------------------------------------------


class SendBatch(Base):
    __tablename__ = "send_batches"

    issue_key: Mapped[str] = mapped_column(
        ForeignKey("issues.key", ondelete="CASCADE"), primary_key=True
    )
    batch: Mapped[int] = mapped_column(Integer, primary_key=True)
    # queued | in_flight | accepted | failed | abandoned
    state: Mapped[str] = mapped_column(String(10), index=True)
    size: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class SendRecipient(Base):
    """The recipients frozen when a send starts: one row per (issue, subscriber).

    No foreign keys, on purpose: the rows are only ever written by the freeze, which
    selects existing subscribers into the issue it has just created, so a per-row
    check proves nothing, and on PostgreSQL those checks were 13 of the 18 seconds of
    freezing a million recipients (docs/performance.md). ``repository.erase`` deletes
    a person's rows itself (what ON DELETE CASCADE did)."""

    __tablename__ = "send_recipients"

    issue_key: Mapped[str] = mapped_column(String(10), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch: Mapped[int] = mapped_column(Integer)
    # queued | in_flight | accepted | skipped | failed
    state: Mapped[str] = mapped_column(String(10))

    # PostgreSQL pages half free: each row is updated once (queued → accepted) and the
    # update then stays on its page without touching the indexes (migration 0004).
    # subscriber_id in the batch index: a batch is read in subscriber order, and without it
    # SQLite walked the whole issue by its primary key to honour that order (migration 0006)
    __table_args__ = (
        Index("ix_send_recipients_batch", "issue_key", "batch", "subscriber_id"),
        {"postgresql_with": {"fillfactor": 50}},
    )


# --- signing keys ------------------------------------------------------------------


class SigningKey(Base):
    """A key that has signed links, by fingerprint (never the key itself): `digest send` and
    `digest serve` refuse a new key while the links signed by the last one would stop
    working (``digest.signing_secret``). ``sequence`` orders the keys by last use (the
    highest is the key in use); clocks can repeat or go back, a counter cannot."""

    __tablename__ = "signing_keys"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_issue: Mapped[str | None] = mapped_column(String(10))  # the first issue it signed
    last_issue: Mapped[str | None] = mapped_column(String(10))  # the last issue it signed


# --- webhooks ----------------------------------------------------------------------


class WebhookEvent(Base):
    """Seen SendGrid event ids: the same POST twice changes nothing."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    issue_key: Mapped[str | None] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the web app's rate limits -------------------------------------------------------


class RateLimit(Base):
    """One counter per rate-limited key (``digest.store.ratelimits``): every ``digest
    serve`` replica on the database shares it, and a restart keeps it. The key is kept
    only as a hash (it is an IP or an address). Times are Unix seconds: the counter is
    compared with "now" inside one SQL statement, the same on SQLite and PostgreSQL."""

    __tablename__ = "rate_limits"

    scope: Mapped[str] = mapped_column(String(20), primary_key=True)  # "ip", "address"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256, hex
    hits: Mapped[int] = mapped_column(Integer)  # attempts in this window, refused included
    expires_at: Mapped[float] = mapped_column(Float)  # when the window ends

    # the sweep deletes by expires_at (migration 0007)
    __table_args__ = (Index("ix_rate_limits_expires_at", "expires_at"),)


# --- the editors' desk ------------------------------------------------------------------


class DeskSignIn(Base):
    """An emailed sign-in link (its id): usable once, until ``expires_at``."""

    __tablename__ = "desk_sign_ins"

    link_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeskSession(Base):
    """A signed-in editor. The cookie carries the signed id; signing out ends the row, so a
    copied cookie stops working too (and every replica agrees)."""

    __tablename__ = "desk_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeskAudit(Base):
    """Every change made on the desk: who, what, when."""

    __tablename__ = "desk_audit"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    editor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    issue_key: Mapped[str | None] = mapped_column(String(10), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class IssueClick(Base):
    """Clicks per link of an issue, from the Event Webhook's click events (their ``url``)."""

    __tablename__ = "issue_clicks"

    issue_key: Mapped[str] = mapped_column(String(10), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)


__all__ = [
    "Base",
    "ConsentEvent",
    "DeskAudit",
    "DeskSession",
    "DeskSignIn",
    "EditorControl",
    "FeedCacheEntry",
    "IssueArticle",
    "IssueClick",
    "IssueRecord",
    "RateLimit",
    "SendBatch",
    "SendRecipient",
    "SigningKey",
    "Subscriber",
    "Tombstone",
    "WebhookEvent",
]
