"""Everything printed is inert, header values carry no control characters, and counts
read as English (issue 11, item 8)."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from rich.text import Text

from digest.backends.base import Message, Recipient, to_email_message
from digest.backends.file import FileBackend
from digest.backends.sendgrid import SendGridBackend, build_payload
from digest.cli import cli
from digest.cli.common import inert
from digest.config import Secrets
from digest.wording import plural
from tests.delivery_support import sample_config
from tests.pipeline_support import Item, rss, standard_items, write_config

ESC_TITLE = "Evil\x1b]0;pwned\x07\x1b[2J title"
CSI_TITLE = "Evil\x9b2J title"
RAW = ("\x1b", "\x07", "\x9b", "\x00")
SECRET = "test-secret-0123456789abcdef"


def _run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {
        "DIGEST_DATABASE_URL": None,
        "DIGEST_CONFIG": None,
        "DIGEST_NOW": None,
    }
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})})


def _shown(output: str, title: str) -> bool:
    """``title`` is in ``output`` with its controls as visible escapes, or without them
    (collection may already have removed what XML cannot carry)."""
    escaped = "".join(f"\\x{ord(c):02x}" if c in "".join(RAW) else c for c in title)
    stripped = "".join(c for c in title if c not in "".join(RAW))
    return escaped in output or stripped in output


def _no_raw_controls(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"{ch!r} printed raw: {text!r}"


def test_inert_shows_controls_as_visible_escapes_and_never_reads_markup() -> None:
    shown = inert("[bold]a[/bold]\x1b[2J\x00b\x9bc\x7f\tend")
    assert isinstance(shown, Text)
    assert shown.plain == "[bold]a[/bold]\\x1b[2J\\x00b\\x9bc\\x7f\\tend"
    assert inert("Zoë Müller — “quoted” ☕").plain == "Zoë Müller — “quoted” ☕"


def _json_feed(items: list[tuple[str, str, str]]) -> str:
    """A JSON Feed of (slug, title, section) items, published the hour before AS_OF."""
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "items": [
                {
                    "id": slug,
                    "url": f"https://statecraft.example/{slug}",
                    "title": title,
                    "date_published": "2026-11-20T08:00:00-05:00",
                    "tags": [section],
                }
                for slug, title, section in items
            ],
        }
    )


def _evil_config(tmp_path: Path, *, esc_in_rss: bool) -> Path:
    """Titles with controls from two formats: ESC and BEL in RSS (as &#27; and &#7;, which
    are not XML characters; the parser reads the entries anyway), CSI (U+009B) in JSON Feed
    (feedparser reads C1 controls in RSS as windows-1252); ESC in the source's name."""
    items = standard_items() + [Item("rss-evil", 6, section="World", title="EVILPICK")]
    config = write_config(
        tmp_path,
        items,
        selection='exclude_categories = ["Evil"]',
        extra_sources='[[sources]]\nname = "Side\\u001b[2J feed"\nurl = "side.json"\n',
    )
    if esc_in_rss:  # the malformed feed is warned about by its (config) name
        text = config.read_text().replace('name = "Main feed"', 'name = "Main\\u001b[2J feed"')
        config.write_text(text)
        xml_title = ESC_TITLE.replace("\x1b", "&#27;").replace("\x07", "&#7;")
        (tmp_path / "feed.xml").write_text(rss(items).replace("EVILPICK", xml_title))
    (tmp_path / "side.json").write_text(
        _json_feed([("json-evil", CSI_TITLE, "World"), ("json-left-out", CSI_TITLE + " 2", "Evil")])
    )
    return config


def test_collect_prints_feed_text_inert(tmp_path: Path) -> None:
    config = _evil_config(tmp_path, esc_in_rss=True)
    collected = _run("collect", "--config", str(config))
    assert collected.exit_code == 0, collected.output
    _no_raw_controls(collected.output)
    # shown as visible escapes (or, where collection already removed them, not at all)
    assert _shown(collected.output, ESC_TITLE) and _shown(collected.output, CSI_TITLE)
    assert _shown(collected.output, "Main\x1b[2J feed: the feed is not well-formed")  # warning


def test_preview_prints_feed_text_inert(tmp_path: Path) -> None:
    config = _evil_config(tmp_path, esc_in_rss=False)
    preview = _run("preview", "--config", str(config), "--out", str(tmp_path / "pv"))
    assert preview.exit_code == 0, preview.output
    _no_raw_controls(preview.output)
    picked, left_out = preview.output.split("left out", 1)
    assert _shown(picked, CSI_TITLE) and _shown(left_out, CSI_TITLE + " 2")

    as_json = _run("preview", "--config", str(config), "--out", str(tmp_path / "pv"), "--json")
    data = json.loads(as_json.stdout)  # JSON stays valid: json escapes controls itself
    assert any(s["title"] in (CSI_TITLE, "Evil2J title") for s in data["latest"])


def test_subscribers_list_prints_names_inert(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {"DIGEST_SECRET_KEY": SECRET}
    added = _run(
        "subscribers",
        "add",
        "eve@example.com",
        "--name",
        "Eve\x1b]0;pwned\x07",
        "--confirmed",
        "--config",
        str(config),
        env=env,
    )
    assert added.exit_code == 0, added.output
    rows = json.loads(
        _run("subscribers", "list", "--json", "--config", str(config), env=env).stdout
    )
    assert rows[0]["name"] == "Eve]0;pwned"  # cleaned where names are stored
    # a name stored with its controls (by an older digest) is still printed inert
    from sqlalchemy import update

    from digest.store import open_store
    from digest.store.tables import Subscriber

    store = open_store(f"sqlite:///{tmp_path / 'digest.db'}")
    with store.session() as s:
        s.execute(update(Subscriber).values(name="Eve\x1b]0;pwned\x07"))
    store.dispose()
    listed = _run("subscribers", "list", "--config", str(config), env=env)
    assert listed.exit_code == 0, listed.output
    _no_raw_controls(listed.output)
    assert "Eve\\x1b]0;pwned\\x07" in listed.output


# --- header values -----------------------------------------------------------------------

EVIL_NAME = "Eve\x00\x1b[31m Evil\r\nBcc: x@evil.example\x9b"


def _message(**kw: Any) -> Message:
    base: dict[str, Any] = {
        "subject": "Week\x1b[2J 47\x00 | Weekly",
        "html": "<p>h</p>",
        "text": "t",
        "from_email": "newsletter@statecraft.example",
        "from_name": "Statecraft\x07 Weekly",
    }
    return Message(**{**base, **kw})


def _header_block(raw: bytes) -> bytes:
    return raw.split(b"\n\n", 1)[0]


def test_no_control_character_reaches_an_eml_header(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, "sqlite://")
    backend = FileBackend(
        cfg,
        Secrets(
            secret_key=SECRET, sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None
        ),
    )
    backend.send_batch(_message(), [Recipient(email="eve@example.com", name=EVIL_NAME)])
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    raw = path.read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = (
        _header_block(raw).decode("ascii") + str(msg["To"]) + str(msg["Subject"]) + str(msg["From"])
    )
    for ch in ("\x00", "\x1b", "\x07", "\x9b", "\r"):
        assert ch not in headers
    assert msg["To"].addresses[0].display_name == "Eve[31m Evil Bcc: x@evil.example"
    assert msg["Subject"] == "Week[2J 47 | Weekly" and msg["Bcc"] is None


def test_a_csv_name_with_nul_and_esc_does_not_reach_the_to_header_of_a_sent_issue(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    env = {"DIGEST_SECRET_KEY": SECRET}
    csv_file = tmp_path / "list.csv"
    csv_file.write_bytes(b"email,name\neve@example.com,Eve\x00\x1b[31m\n")
    imported = _run(
        "subscribers", "import", str(csv_file), "--confirmed", "--config", str(config), env=env
    )
    assert imported.exit_code == 0, imported.output
    sent = _run("send", "--yes", "--config", str(config), env=env)
    assert sent.exit_code == 0, sent.output
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    raw = path.read_bytes()
    assert b"\x00" not in _header_block(raw) and b"\x1b" not in _header_block(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"].addresses[0].display_name == "Eve[31m"


def test_sendgrid_requests_carry_clean_names_and_subjects(tmp_path: Path) -> None:
    payload = build_payload(_message(), [Recipient(email="eve@example.com", name=EVIL_NAME)])
    assert payload["subject"] == "Week[2J 47 | Weekly"
    assert payload["from"]["name"] == "Statecraft Weekly"
    assert payload["personalizations"][0]["to"][0]["name"] == "Eve[31m Evil Bcc: x@evil.example"
    cfg = sample_config(tmp_path, "sqlite://", backend="sendgrid")
    backend = SendGridBackend(
        cfg,
        Secrets(
            secret_key=SECRET, sendgrid_api_key="SG.x", sendgrid_api_host=None, smtp_password=None
        ),
    )
    try:
        body, _refused = backend.personalized_payload(
            _message(), [("eve@example.com", EVIL_NAME, "https://x.example/u/1")]
        )
    finally:
        backend.close()
    assert body is not None
    sent = orjson.loads(body)
    assert sent["personalizations"][0]["to"][0]["name"] == "Eve[31m Evil Bcc: x@evil.example"


def test_a_message_without_controls_is_unchanged() -> None:
    msg = _message(subject="Sahel famine: who pays? | Statecraft — édition", from_name="Zoë")
    assert (
        msg.subject == "Sahel famine: who pays? | Statecraft — édition" and msg.from_name == "Zoë"
    )
    rendered = to_email_message(msg, Recipient(email="z@example.com", name="Zoë Müller, PhD"))
    assert rendered["To"].addresses[0].display_name == "Zoë Müller, PhD"


# --- plurals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0 entries"), (1, "1 entry"), (2, "2 entries"), (1000, "1,000 entries")]
)
def test_plural(n: int, expected: str) -> None:
    assert plural(n, "entry", "entries") == expected
    assert plural(1, "character") == "1 character" and plural(7, "character") == "7 characters"


def test_one_entry_read_anyway(tmp_path: Path) -> None:
    config = write_config(tmp_path, [Item("a", 2), Item("b", 3), Item("c", 4)])
    feed = tmp_path / "feed.xml"
    body = rss([Item("only", 2)]).replace("Only", "Only&#27;")
    feed.write_text(body)
    result = _run("collect", "--config", str(config))
    assert "1 entry read anyway" in result.output and "1 entries" not in result.output


def test_one_character_secret_key() -> None:
    from digest.errors import DeliveryConfigError
    from digest.signing_secret import signing_secret

    cfg = sample_config(Path("/tmp"), "sqlite://")
    with pytest.raises(DeliveryConfigError) as info:
        signing_secret(
            cfg,
            Secrets(
                secret_key="x", sendgrid_api_key=None, sendgrid_api_host=None, smtp_password=None
            ),
        )
    assert "only 1 character;" in str(info.value) or "only 1 character " in str(info.value)
    assert "1 characters" not in str(info.value)


def test_collect_counts_read_as_english(tmp_path: Path) -> None:
    config = write_config(tmp_path, [Item("one", 2), Item("old", 24 * 30)])
    result = _run("collect", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "1 article from" in result.output
    assert "1 more article in the feeds falls outside the window" in result.output


def test_issues_list_and_show_print_subjects_inert(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from digest.store.database import open_store
    from digest.store.tables import IssueRecord

    config = write_config(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'digest.db'}")
    at = datetime(2026, 11, 20, 14, tzinfo=UTC)
    try:
        with store.session() as s:
            s.add(
                IssueRecord(
                    key="2026-W47",
                    status="sent",
                    as_of=at,
                    created_at=at,
                    finished_at=at,
                    subject="[red]Boom[/red]\x1b[2J | Weekly",
                    recipients=1,
                    sent=1,
                )
            )
    finally:
        store.dispose()
    for args in (["issues", "list"], ["issues", "show", "2026-W47"]):
        result = _run(*args, "--config", str(config))
        assert result.exit_code == 0, result.output
        _no_raw_controls(result.output)
        assert "[red]Boom" in result.output, result.output  # markup shown, not applied
    assert "[red]Boom[/red]\\x1b[2J" in result.output  # `issues show` has the room
