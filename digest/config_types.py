"""What a loaded ``digest.toml`` holds: one frozen dataclass per section, and the secrets
read from the environment.

Each field is a key of its section, its annotation the type ``digest.config_parse``
checks and its default the value of a key the file leaves out. Import them from
``digest.config``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class NewsletterConfig:
    name: str
    from_email: str
    postal_address: str
    site_url: str
    from_name: str | None = None
    reply_to: str | None = None
    editors: list[str] = field(default_factory=list)
    public_url: str = "http://127.0.0.1:8000"
    timezone: str = "UTC"
    subject: str = "{lead_title} | {name}"
    tagline: str | None = None  # a line under the name in the masthead
    templates_dir: str | None = None  # user templates, searched before the bundled ones
    # dates (Babel's CLDR data) and the fixed strings of emails and pages (gettext catalogs)
    locale: str = "en_US"
    logo_url: str | None = None  # an image shown in the masthead instead of the name
    logo_alt: str | None = None  # its alt text (default: the newsletter's name)
    logo_width: int = 200  # its width in CSS pixels (the height follows the image)
    accent_color: str = "#b3202a"  # masthead rule, section labels, buttons, links on pages
    thumbnails: str = "small"  # latest stories on a phone: small | none
    welcome: bool = True  # a welcome email when a reader confirms
    welcome_latest_lead: bool = True  # the welcome shows the latest sent issue's lead

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str  # http(s) URL, file:// URL or an absolute path (made absolute on load)
    section: str | None = None  # default section for entries that give none


@dataclass(frozen=True)
class SelectionConfig:
    window_days: int = 7
    latest_count: int = 6
    lead_categories: list[str] = field(default_factory=lambda: ["Featured"])
    include_categories: list[str] = field(default_factory=list)
    exclude_categories: list[str] = field(default_factory=list)
    max_per_section: int = 0
    min_articles: int = 1
    as_of: str | None = None  # a fixed as-of (ISO 8601) for demos; normally absent = now
    parse_budget_seconds: float = 10.0  # reading one source stops after this (digest.feeds)


@dataclass(frozen=True)
class DeliveryConfig:
    backend: str = "file"
    outbox: str = "outbox"
    batch_size: int = 1000
    api_host: str | None = None
    sandbox_mode: bool = False
    categories: list[str] = field(default_factory=lambda: ["digest"])
    timeout_seconds: float = 30.0
    max_retries: int = 6
    resend_in_flight: bool = False  # after a crash, resend the batch that was in flight
    concurrency: int = 4  # sendgrid: batches in flight at once (1-16)
    host: str | None = None  # smtp
    port: int | None = None  # smtp
    starttls: bool = True  # smtp
    ssl: bool = False  # smtp
    username: str | None = None  # smtp


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///digest.db"
    # send-ledger rows of sent issues older than this are compacted (counts kept; `digest db compact`)
    keep_recipients_weeks: int = 13


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "0 9 * * fri"
    misfire_grace_hours: float = 6
    preview_hours_before: float = 0  # 0 = no scheduled preview to the editors
    # a run that failed for a passing reason (every feed down, the provider or the database
    # unreachable) is tried again this often while inside misfire_grace_hours; 0 = never
    retry_minutes: float = 30
    # how often a running scheduler looks for an issue left sending whose sender is gone (its
    # per-issue lock free: the process died) and takes the send over (digest.schedule.takeover)
    takeover_seconds: float = 60


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    sendgrid_webhook_public_key: str | None = None
    webhook_tolerance_seconds: int = 300
    confirm_token_days: int = 7
    resend_confirmation_minutes: int = 15
    rate_limit_per_ip: int = 10  # subscribe posts per IP per window
    rate_limit_per_address: int = 3  # subscribe posts per address per window
    rate_limit_window_seconds: int = 600
    soft_bounce_limit: int = 3
    form_version: str = "2026-11-subscribe-v1"
    # sites whose pages may post the embedded subscribe form (GET /embed): exact origins
    embed_origins: list[str] = field(default_factory=list)
    # where the embedded form sends the reader afterwards (default: a small hosted page)
    embed_thanks_url: str | None = None
    # The bundled sample only: without $DIGEST_SECRET_KEY, sign links with a development
    # secret generated beside a SQLite database (digest.signing_secret); a real list sets the key
    development_secret: bool = False


@dataclass(frozen=True)
class Config:
    newsletter: NewsletterConfig
    sources: list[SourceConfig]
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    path: Path | None = None  # the file it came from

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def database_url(self) -> str:
        return os.environ.get("DIGEST_DATABASE_URL") or self.storage.url

    @property
    def outbox_dir(self) -> Path:
        return resolve_path(self.base_dir, self.delivery.outbox)

    @property
    def templates_dirs(self) -> list[Path]:
        """User templates first, then the bundled ones."""
        from digest.templates import bundled_templates_dir

        dirs = []
        if self.newsletter.templates_dir:
            dirs.append(resolve_path(self.base_dir, self.newsletter.templates_dir))
        dirs.append(bundled_templates_dir())
        return dirs

    def fixed_as_of(self) -> datetime | None:
        if not self.selection.as_of:
            return None
        from digest.clock import parse_as_of

        return parse_as_of(self.selection.as_of, self.newsletter.tz)


def resolve_path(base: Path, value: str) -> Path:
    """A path the file gives, ``~`` expanded; a relative one is relative to ``base``."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


@dataclass(frozen=True)
class Secrets:
    """Secrets come only from the environment."""

    secret_key: str | None
    sendgrid_api_key: str | None
    sendgrid_api_host: str | None
    smtp_password: str | None
    # $DIGEST_SECRET_KEY_PREVIOUS: older keys that still verify links already sent (never sign)
    previous_secret_keys: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        return cls(
            secret_key=env.get("DIGEST_SECRET_KEY") or None,
            sendgrid_api_key=env.get("SENDGRID_API_KEY") or None,
            sendgrid_api_host=env.get("SENDGRID_API_HOST") or None,
            smtp_password=env.get("DIGEST_SMTP_PASSWORD") or None,
            previous_secret_keys=tuple(
                k.strip() for k in env.get("DIGEST_SECRET_KEY_PREVIOUS", "").split(",") if k.strip()
            ),
        )
