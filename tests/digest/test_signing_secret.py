"""Which secret signs the links in emails, and the check that a new key never breaks the
links already sent."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.config import Secrets, parse_config
from digest.errors import DeliveryConfigError, KeyChangedError
from digest.signing_secret import (
    check_key,
    fingerprint,
    key_status,
    signing_keys,
    signing_secret,
)
from digest.store.database import Store
from digest.store.keys import record_key_use, recorded_keys


def _config(
    tmp_path: Path,
    public_url: str = "http://127.0.0.1:8000",
    db: str = "sqlite:///d.db",
    *,
    sample: bool = True,
):
    return parse_config(
        {
            "newsletter": {
                "name": "N",
                "from_email": "n@example.com",
                "postal_address": "1 Street",
                "site_url": "https://example.com",
                "public_url": public_url,
            },
            "sources": [{"name": "s", "url": "feed.xml"}],
            "storage": {"url": db},
            "web": {"development_secret": sample},
        },
        path=tmp_path / "digest.toml",
    )


def _secrets(key: str | None) -> Secrets:
    return Secrets(
        secret_key=key, sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None
    )


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


# --- only the bundled sample gets a development secret ----------------------------------------


def test_a_local_config_that_is_not_the_sample_needs_the_key(tmp_path: Path) -> None:
    """`digest init`'s starter is SQLite on 127.0.0.1 too: without web.development_secret
    (the sample's) it is a real newsletter, and a missing key is named with its command."""
    cfg = _config(tmp_path, sample=False)
    with pytest.raises(DeliveryConfigError) as caught:
        signing_secret(cfg, _secrets(None))
    assert "export DIGEST_SECRET_KEY=$(python -c" in str(caught.value)
    assert str(tmp_path / "digest.toml") in str(caught.value)
    assert not (tmp_path / "d.db.dev-secret").exists()


def test_the_sample_flag_does_not_reach_a_public_site(tmp_path: Path) -> None:
    cfg = _config(tmp_path, public_url="https://news.example.com")
    with pytest.raises(DeliveryConfigError, match="development_secret is for the bundled sample"):
        signing_secret(cfg, _secrets(None))


# --- fingerprints and the key check -------------------------------------------------------------

OLD = "the-old-key-that-signed-issue-one"
NEW = "a-brand-new-key-nobody-has-used"
T1 = datetime(2026, 11, 20, 14, tzinfo=UTC)


def _env(key: str | None, previous: str = "") -> Secrets:
    return Secrets.from_env(
        {"DIGEST_SECRET_KEY": key or "", "DIGEST_SECRET_KEY_PREVIOUS": previous}
    )


def test_a_fingerprint_names_a_key_without_revealing_it() -> None:
    fp = fingerprint(OLD)
    assert fp == fingerprint(OLD) != fingerprint(NEW)
    assert len(fp) == 16 and OLD not in fp
    # keyed: not a plain hash of the key that a list of guesses could be checked against
    assert fp != hashlib.sha256(OLD.encode()).hexdigest()[:16]


def test_previous_keys_are_read_comma_separated_and_must_be_long_enough(tmp_path: Path) -> None:
    keys = signing_keys(_config(tmp_path), _env(NEW, f" {OLD} ,,{'x' * 20},"))
    assert keys.current == NEW and keys.previous == (OLD, "x" * 20)
    assert keys.verifies(fingerprint(OLD)) and not keys.verifies(fingerprint("y" * 20))
    with pytest.raises(DeliveryConfigError, match="DIGEST_SECRET_KEY_PREVIOUS: key 2 is only 7"):
        signing_keys(_config(tmp_path), _env(NEW, f"{OLD},hunter2"))


def test_a_changed_key_is_refused_unless_the_old_one_is_kept(tmp_path: Path, store: Store) -> None:
    cfg = _config(tmp_path)
    check_key(cfg, store, signing_keys(cfg, _env(NEW)))  # nothing recorded yet: any key
    record_key_use(store, fingerprint(OLD), at=T1, issue="2026-W47")
    check_key(cfg, store, signing_keys(cfg, _env(OLD)))
    with pytest.raises(KeyChangedError) as caught:
        check_key(cfg, store, signing_keys(cfg, _env(NEW)))
    message = str(caught.value)
    assert caught.value.exit_code == 1
    assert fingerprint(NEW) in message and fingerprint(OLD) in message and "2026-W47" in message
    assert "export DIGEST_SECRET_KEY_PREVIOUS=" in message and "digest keys rotate" in message
    assert OLD not in message and NEW not in message
    check_key(cfg, store, signing_keys(cfg, _env(NEW, OLD)))
    # once the new key has signed, it is the one in use: the old one can be retired
    record_key_use(
        store, fingerprint(NEW), at=T1, issue="2026-W48"
    )  # same instant: order still known
    check_key(cfg, store, signing_keys(cfg, _env(NEW)))
    with pytest.raises(KeyChangedError):
        check_key(cfg, store, signing_keys(cfg, _env(OLD)))
    assert [u.fingerprint for u in recorded_keys(store)] == [fingerprint(NEW), fingerprint(OLD)]


def test_recording_remembers_the_issues_each_key_signed(store: Store) -> None:
    record_key_use(store, "aaaa", at=T1, issue="2026-W45")
    record_key_use(store, "aaaa", at=T1, issue="2026-W47")
    record_key_use(store, "aaaa", at=T1)  # a confirmation link
    [use] = recorded_keys(store)
    assert (use.first_issue, use.last_issue) == ("2026-W45", "2026-W47")
    assert "issues 2026-W45 to 2026-W47" in use.describe()


def test_key_status_explains_each_case(tmp_path: Path, store: Store) -> None:
    cfg = _config(tmp_path, sample=False)
    missing = key_status(cfg, store, _env(None))
    assert (missing.ok, missing.exit_code) == (False, 2)
    assert any("export DIGEST_SECRET_KEY=" in line for line in missing.lines)
    fresh = key_status(cfg, store, _env(OLD))
    assert (fresh.ok, fresh.exit_code, fresh.fingerprint) == (True, 0, fingerprint(OLD))
    record_key_use(store, fingerprint(OLD), at=T1, issue="2026-W47")
    changed = key_status(cfg, store, _env(NEW))
    assert (changed.ok, changed.exit_code, changed.last_fingerprint) == (False, 1, fingerprint(OLD))
    assert any(line.startswith("NOT consistent") for line in changed.lines)
    rotated = key_status(cfg, store, _env(NEW, OLD))
    assert rotated.ok and rotated.previous_fingerprints == (fingerprint(OLD),)
    assert any("is in DIGEST_SECRET_KEY_PREVIOUS" in line for line in rotated.lines)
    assert not any(OLD in line or NEW in line for line in rotated.lines)


def test_key_status_does_not_generate_the_development_secret(tmp_path: Path, store: Store) -> None:
    status = key_status(_config(tmp_path), store, _env(None))
    assert status.ok and status.fingerprint is None
    assert not (tmp_path / "d.db.dev-secret").exists()


def test_key_status_reads_a_database_from_before_fingerprints(
    tmp_path: Path, sqlite_url: str
) -> None:
    """`digest check` looks without migrating: no signing_keys table is "nothing recorded"."""
    from digest.store.database import Store, make_engine

    store = Store(make_engine(sqlite_url))
    try:
        status = key_status(_config(tmp_path, sample=False), store, _env(OLD))
    finally:
        store.dispose()
    assert status.ok and status.last_fingerprint is None
