"""`digest.sending.message` and `digest.archive`: what each reader's copy carries, and the
archive's copy that carries nothing personal."""

from __future__ import annotations

from pathlib import Path

from digest.archive import archive_html
from digest.backends.base import unsubscribe_headers
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from digest.sending.message import recipients_for
from digest.store.ledger import RecipientRow
from tests.delivery_support import sample_config


def test_each_reader_gets_their_own_link_and_the_one_click_headers_for_it() -> None:
    rows = [RecipientRow(7, "ann@example.com", "Ann"), RecipientRow(9, "bo@example.com", None)]
    people = recipients_for(rows, lambda i: f"https://news.example/unsubscribe/t{i}")
    assert [(p.email, p.name) for p in people] == [
        ("ann@example.com", "Ann"),
        ("bo@example.com", None),
    ]
    for person, sid in zip(people, (7, 9), strict=True):
        url = f"https://news.example/unsubscribe/t{sid}"
        assert person.substitutions == {UNSUBSCRIBE_PLACEHOLDER: url}
        assert person.headers == unsubscribe_headers(url)


def test_the_archive_copy_links_to_the_subscribe_page_instead(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, "sqlite://")
    home = cfg.newsletter.public_url.rstrip("/") + "/"
    html = (
        f'<p><a class="u" href="{UNSUBSCRIBE_PLACEHOLDER}"> Unsubscribe </a></p>'
        f"<p>{UNSUBSCRIBE_PLACEHOLDER}</p>"
    )
    assert archive_html(html, cfg) == (
        f'<p><a class="u" href="{home}"> Subscribe </a></p><p>{home}</p>'
    )
