"""Backends chosen by name; the file and console backends; the shared message model."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

import pytest

from digest.backends import REGISTRY, backend_class, get_backend
from digest.backends.base import Message, Recipient, to_email_message, unsubscribe_headers
from digest.backends.console import ConsoleBackend
from digest.backends.file import FileBackend
from digest.config import Secrets
from digest.errors import DeliveryConfigError
from digest.models import UNSUBSCRIBE_PLACEHOLDER
from tests.delivery_support import sample_config

SECRETS = Secrets(
    secret_key="test-secret-0123456789",
    sendgrid_api_key="SG.x",
    sendgrid_api_host=None,
    smtp_password=None,
)
URL = "https://news.example.org/unsubscribe/abc.def"
MESSAGE = Message(
    subject="Sahel famine: who pays? | Statecraft Weekly — édition",
    html=f'<p>Bonjour</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a>',
    text=f"Bonjour ☕\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}",
    from_email="newsletter@statecraft.example",
    from_name="Statecraft Weekly",
    reply_to="editors@statecraft.example",
    custom_args={"issue": "2026-W47"},
)
RECIPIENT = Recipient(email="zoe@example.com", name="Zoë Müller, PhD", substitutions={UNSUBSCRIBE_PLACEHOLDER: URL},
                      headers=unsubscribe_headers(URL))  # fmt: skip


def test_every_configured_name_resolves_to_its_backend(tmp_path: Path) -> None:
    assert set(REGISTRY) == {"file", "console", "smtp", "sendgrid"}
    for name in REGISTRY:
        assert backend_class(name).name == name


def test_an_unknown_backend_names_the_key_and_the_choices(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, "sqlite://", backend="postmark")
    with pytest.raises(
        DeliveryConfigError,
        match=r"\[delivery.backend\] unknown backend 'postmark'.*console, file, sendgrid, smtp",
    ):
        get_backend(cfg, SECRETS)


def test_file_backend_writes_one_eml_per_recipient_that_parses_back(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, "sqlite://")
    backend = get_backend(cfg, SECRETS)
    assert isinstance(backend, FileBackend)
    other = Recipient(
        email="sam@example.com",
        substitutions={UNSUBSCRIBE_PLACEHOLDER: URL + "2"},
        headers=unsubscribe_headers(URL + "2"),
    )
    assert backend.send_batch(MESSAGE, [RECIPIENT, other]).accepted == 2
    files = sorted((tmp_path / "outbox").iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)  # no temporary files left
    msg = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    assert msg["Subject"] == MESSAGE.subject
    assert msg["To"].addresses[0].display_name == "Zoë Müller, PhD"
    assert msg["To"].addresses[0].addr_spec == "zoe@example.com"
    assert msg["From"].addresses[0].display_name == "Statecraft Weekly"
    assert msg["Reply-To"] == "editors@statecraft.example"
    assert msg["List-Unsubscribe"] == f"<{URL}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Bonjour ☕" in text and f"Unsubscribe: {URL}" in text
    assert f'<a href="{URL}">Unsubscribe</a>' in html
    assert all(len(line) <= 998 for line in files[1].read_bytes().splitlines())


def test_an_idn_domain_goes_out_in_its_ascii_form_instead_of_crashing_the_send(
    tmp_path: Path,
) -> None:
    backend = FileBackend(sample_config(tmp_path, "sqlite://"), SECRETS)
    idn = Recipient(
        email="leser@bücher.example", name="Jörg", substitutions={UNSUBSCRIBE_PLACEHOLDER: URL}
    )
    plus = Recipient(email="ann+news@example.com", substitutions={UNSUBSCRIBE_PLACEHOLDER: URL})
    assert backend.send_batch(MESSAGE, [idn, plus]).accepted == 2
    tos = set()
    for path in (tmp_path / "outbox").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        tos.add((msg["To"].addresses[0].display_name, msg["To"].addresses[0].addr_spec))
    assert tos == {("Jörg", "leser@xn--bcher-kva.example"), ("", "ann+news@example.com")}


def test_a_non_ascii_local_part_is_refused_alone_and_the_rest_of_the_batch_goes(
    tmp_path: Path,
) -> None:
    # no SMTPUTF8 here: jörg@… used to raise UnicodeEncodeError mid-batch, leaving the batch
    # "in flight" (its later readers never sent); a dry run (first recipient) crashed too
    backend = FileBackend(sample_config(tmp_path, "sqlite://"), SECRETS)
    eai = Recipient(email="jörg@example.com", substitutions={UNSUBSCRIBE_PLACEHOLDER: URL})
    backend.check_batch(MESSAGE, [eai, RECIPIENT])
    result = backend.send_batch(MESSAGE, [eai, RECIPIENT])
    assert (result.accepted, result.rejected) == (1, ("jörg@example.com",))
    [path] = (tmp_path / "outbox").iterdir()
    assert "zoe@example.com" in path.read_text()


def test_sending_the_same_batch_again_overwrites_rather_than_duplicates(tmp_path: Path) -> None:
    backend = FileBackend(sample_config(tmp_path, "sqlite://"), SECRETS)
    backend.send_batch(MESSAGE, [RECIPIENT])
    backend.send_batch(MESSAGE, [RECIPIENT])
    assert len(list((tmp_path / "outbox").iterdir())) == 1


def test_console_backend_prints_headers_and_text(tmp_path: Path) -> None:
    out = io.StringIO()
    backend = get_backend(
        sample_config(tmp_path, "sqlite://", backend="console"), SECRETS, stream=out
    )
    assert isinstance(backend, ConsoleBackend)
    assert backend.send_batch(MESSAGE, [RECIPIENT]).accepted == 1
    printed = out.getvalue()
    assert "To: Zoë Müller, PhD <zoe@example.com>" in printed or "zoe@example.com" in printed
    assert f"List-Unsubscribe: <{URL}>" in printed
    assert f"Unsubscribe: {URL}" in printed and "[HTML part:" in printed


def test_placeholders_are_filled_per_recipient_only(tmp_path: Path) -> None:
    a = to_email_message(MESSAGE, RECIPIENT)
    b = to_email_message(
        MESSAGE,
        Recipient(
            email="x@example.com",
            substitutions={UNSUBSCRIBE_PLACEHOLDER: "https://n.example/u/other"},
        ),
    )
    assert URL in a.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert URL not in b.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert UNSUBSCRIBE_PLACEHOLDER in MESSAGE.html  # the shared message is untouched
