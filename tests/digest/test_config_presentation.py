"""Locale, logo, accent colour, thumbnails and embed origins are checked at load, each
error naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_config
from digest.config_presentation import contrast_with_white
from digest.errors import ConfigError

BASE = """\
[newsletter]
name = "Statecraft Weekly"
from_email = "newsletter@statecraft.example"
postal_address = "1 Example Street"
site_url = "https://statecraft.example"
{newsletter}

[[sources]]
name = "Main"
url = "feed.xml"

[web]
{web}
"""


def _load(tmp_path: Path, newsletter: str = "", web: str = "") -> object:
    path = tmp_path / "digest.toml"
    path.write_text(BASE.format(newsletter=newsletter, web=web), encoding="utf-8")
    return load_config(path)


def test_the_defaults_and_a_full_brand_load(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        'locale = "fr_FR"\nlogo_url = "https://statecraft.example/logo.png"\n'
        'logo_alt = "Statecraft"\nlogo_width = 180\naccent_color = "#1a4d8f"\nthumbnails = "none"',
        'embed_origins = ["https://statecraft.example", "http://localhost:4000"]',
    )
    nl = cfg.newsletter  # type: ignore[attr-defined]
    assert (nl.locale, nl.logo_width, nl.accent_color, nl.thumbnails) == (
        "fr_FR", 180, "#1a4d8f", "none"
    )  # fmt: skip
    assert cfg.web.embed_origins == ["https://statecraft.example", "http://localhost:4000"]  # type: ignore[attr-defined]


def test_contrast_follows_wcag() -> None:
    assert contrast_with_white("#000000") == pytest.approx(21.0)
    assert contrast_with_white("#fff") == pytest.approx(1.0)
    assert contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)  # the AA grey


@pytest.mark.parametrize(
    ("newsletter", "web", "key", "words"),
    [
        ('accent_color = "#ffcc00"', "", "newsletter.accent_color", "contrast 1.51:1"),
        ('accent_color = "#e63946"', "", "newsletter.accent_color", "WCAG AA needs 4.5:1"),
        ('accent_color = "red"', "", "newsletter.accent_color", "not a colour"),
        ('locale = "xx_YY"', "", "newsletter.locale", "unknown locale"),
        ('logo_url = "javascript:alert(1)"', "", "newsletter.logo_url", "http(s) URL"),
        ("logo_width = 5000", "", "newsletter.logo_width", "between 16 and 600"),
        ('thumbnails = "huge"', "", "newsletter.thumbnails", "small, none"),
        (
            "",
            'embed_origins = ["https://statecraft.example/"]',
            "web.embed_origins[0]",
            "not an origin",
        ),
        ("", 'embed_origins = ["statecraft.example"]', "web.embed_origins[0]", "not an origin"),
        ("", 'embed_thanks_url = "ftp://x"', "web.embed_thanks_url", "http(s) URL"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(
    tmp_path: Path, newsletter: str, web: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, newsletter, web)
    assert key in str(info.value) and words in str(info.value), str(info.value)
