"""Which secret signs the links in emails."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import Secrets, parse_config
from digest.errors import DeliveryConfigError
from digest.signing_secret import signing_secret


def _config(tmp_path: Path, public_url: str = "http://127.0.0.1:8000", db: str = "sqlite:///d.db"):
    return parse_config(
        {
            "newsletter": {
                "name": "N", "from_email": "n@example.com", "postal_address": "1 Street",
                "site_url": "https://example.com", "public_url": public_url,
            },
            "sources": [{"name": "s", "url": "feed.xml"}],
            "storage": {"url": db},
        },
        path=tmp_path / "digest.toml",
    )


def _secrets(key: str | None) -> Secrets:
    return Secrets(secret_key=key, sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None)


def test_the_environment_secret_wins(tmp_path: Path) -> None:
    key = "a-long-enough-secret-value"
    assert signing_secret(_config(tmp_path), _secrets(key)) == (key, False)


def test_a_short_secret_is_refused_for_sends(tmp_path: Path) -> None:
    with pytest.raises(DeliveryConfigError, match="DIGEST_SECRET_KEY is only 7 characters"):
        signing_secret(_config(tmp_path), _secrets("hunter2"))


def test_a_local_sample_gets_one_stable_development_secret(tmp_path: Path) -> None:
    first, dev = signing_secret(_config(tmp_path), _secrets(None))
    again, _ = signing_secret(_config(tmp_path), _secrets(None))
    assert dev and first == again and len(first) >= 32
    assert (tmp_path / "d.db.dev-secret").stat().st_mode & 0o777 == 0o600


def test_a_public_site_without_a_secret_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    cfg = _config(tmp_path, public_url="https://news.example.com")
    with pytest.raises(DeliveryConfigError, match="DIGEST_SECRET_KEY is not set"):
        signing_secret(cfg, _secrets(None))
