"""Double opt-in and opt-out rules, with the file backend writing real .eml files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from subscribers_support import T0, FakeClock, confirm_link, make_config, outbox_messages, secrets

from digest.backends.file import FileBackend
from digest.errors import DeliveryError, TokenError
from digest.store.database import Store
from subscribers import repository as repo
from subscribers.workflow import Visitor, Workflow


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def make_workflow(tmp_path: Path, store: Store, clock: FakeClock) -> Workflow:
    cfg = make_config(tmp_path)
    return Workflow(cfg, store, secrets=secrets(), clock=clock, backend=FileBackend(cfg, secrets()))


@pytest.fixture
def wf(tmp_path: Path, sqlite_store: Store, clock: FakeClock) -> Workflow:
    return make_workflow(tmp_path, sqlite_store, clock)


def token_of(link: str, kind: str) -> str:
    path = urlsplit(link).path
    assert path.startswith(f"/{kind}/")
    return path.split("/", 2)[2]


def kinds(store: Store, address: str) -> list[str]:
    with store.session() as s:
        sub = repo.get_by_email(s, address)
        assert sub is not None
        return [e.kind for e in repo.events_for(s, sub)]


def status(store: Store, address: str) -> str | None:
    with store.session() as s:
        sub = repo.get_by_email(s, address)
        return sub.status if sub else None


@pytest.mark.postgres
def test_subscribe_confirm_unsubscribe_round_trip(
    tmp_path: Path, store: Store, clock: FakeClock, outbox: Path
) -> None:
    wf = make_workflow(tmp_path, store, clock)
    visitor = Visitor(ip="203.0.113.9", user_agent="Mozilla/5.0 test")
    result = wf.subscribe("Reader@Example.com", name="Rea", source="form", visitor=visitor)
    assert result.outcome == "new"
    assert status(store, "reader@example.com") == "pending"
    [msg] = outbox_messages(outbox)
    assert msg["To"] == "Rea <Reader@example.com>"
    assert "confirm" in msg["Subject"].lower()
    assert "List-Unsubscribe" not in msg
    link = confirm_link(msg)
    assert link.startswith("http://127.0.0.1:8000/confirm/")
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link}"' in html

    target, state = wf.confirm_target(token_of(link, "confirm"))
    assert state == "ready" and target.email == "Reader@example.com"
    assert status(store, "reader@example.com") == "pending"  # looking changes nothing

    clock.now = T0 + timedelta(hours=1)
    target, state = wf.confirm(token_of(link, "confirm"), visitor=visitor)
    assert state == "ready" and target.status == "active"
    with store.session() as s:
        sub = repo.get_by_email(s, "reader@example.com")
        assert sub is not None and sub.confirmed_at == T0 + timedelta(hours=1)
        events = repo.events_for(s, sub)
    assert [e.kind for e in events] == ["subscribed", "confirmation_sent", "confirmed"]
    assert events[0].ip == "203.0.113.9" and events[0].user_agent == "Mozilla/5.0 test"
    assert events[0].form_version == wf.config.web.form_version
    assert events[2].ip == "203.0.113.9"

    unsub = wf.tokens.unsubscribe(target.subscriber_id)
    assert wf.unsubscribe(unsub, one_click=True) is not None
    assert status(store, "reader@example.com") == "unsubscribed"
    ev = kinds(store, "reader@example.com")
    assert ev[-1] == "unsubscribed"
    # again: idempotent, no second ledger row
    wf.unsubscribe(unsub)
    assert kinds(store, "reader@example.com") == ev


def test_confirm_link_works_once(wf: Workflow, outbox: Path, sqlite_store: Store) -> None:
    wf.subscribe("a@example.com", source="form")
    token = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    wf.confirm(token)
    # a second press: no change, said so
    _, state = wf.confirm(token)
    assert state == "already_confirmed"
    assert kinds(sqlite_store, "a@example.com").count("confirmed") == 1
    # after unsubscribing, the old link cannot bring the address back
    wf.unsubscribe_address("a@example.com")
    with pytest.raises(TokenError, match="already been used"):
        wf.confirm(token)
    assert status(sqlite_store, "a@example.com") == "unsubscribed"


def test_confirm_link_expires(
    wf: Workflow, outbox: Path, clock: FakeClock, sqlite_store: Store
) -> None:
    wf.subscribe("late@example.com", source="form")
    token = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    clock.now = T0 + timedelta(days=wf.config.web.confirm_token_days, minutes=1)
    with pytest.raises(TokenError, match="expired"):
        wf.confirm(token)
    assert status(sqlite_store, "late@example.com") == "pending"


def test_tampered_confirm_link_changes_nothing(
    wf: Workflow, outbox: Path, sqlite_store: Store
) -> None:
    wf.subscribe("t@example.com", source="form")
    token = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    with pytest.raises(TokenError):
        wf.confirm(token[:-3] + "abc")
    with pytest.raises(TokenError):
        wf.confirm(wf.tokens.confirm(999, "guess"))
    assert status(sqlite_store, "t@example.com") == "pending"


def test_another_subscribers_nonce_is_refused(wf: Workflow, sqlite_store: Store) -> None:
    a = wf.subscribe("a@example.com", source="form")
    wf.subscribe("b@example.com", source="form")
    with sqlite_store.session() as s:
        b = repo.get_by_email(s, "b@example.com")
        assert b is not None and b.confirm_nonce
        b_nonce = b.confirm_nonce
    # a's id with b's nonce: refused
    with pytest.raises(TokenError):
        wf.confirm(wf.tokens.confirm(a.subscriber_id, b_nonce))
    assert status(sqlite_store, "a@example.com") == "pending"


def test_pending_resend_is_throttled(wf: Workflow, clock: FakeClock, sqlite_store: Store) -> None:
    assert wf.subscribe("p@example.com", source="form").outcome == "new"
    clock.now = T0 + timedelta(minutes=wf.config.web.resend_confirmation_minutes - 1)
    assert wf.subscribe("P@example.com", source="form").outcome == "throttled"
    assert kinds(sqlite_store, "p@example.com").count("confirmation_sent") == 1
    clock.now = T0 + timedelta(minutes=wf.config.web.resend_confirmation_minutes + 1)
    assert wf.subscribe("p@example.com", source="form").outcome == "resend"
    assert kinds(sqlite_store, "p@example.com").count("confirmation_sent") == 2


def test_first_link_still_works_after_a_resend(
    wf: Workflow, outbox: Path, clock: FakeClock
) -> None:
    wf.subscribe("p@example.com", source="form")
    first = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    clock.now = T0 + timedelta(hours=2)
    wf.subscribe("p@example.com", source="form")
    assert wf.confirm(first)[1] == "ready"


def test_active_address_gets_no_second_email(
    wf: Workflow, outbox: Path, sqlite_store: Store
) -> None:
    with sqlite_store.session() as s:
        repo.add(s, "on@example.com", at=T0, source="cli", status="active")
    assert wf.subscribe("on@example.com", source="form").outcome == "active"
    assert outbox_messages(outbox) == []
    assert status(sqlite_store, "on@example.com") == "active"


@pytest.mark.parametrize("bad", ["bounced", "complained"])
def test_bounced_or_complained_get_nothing(
    wf: Workflow, outbox: Path, sqlite_store: Store, bad: str
) -> None:
    with sqlite_store.session() as s:
        sub = repo.add(s, "x@example.com", at=T0, source="cli", status="active")
        repo.set_status(s, sub, bad, source="webhook", at=T0)
    assert wf.subscribe("x@example.com", source="form").outcome == "suppressed"
    assert outbox_messages(outbox) == []
    assert status(sqlite_store, "x@example.com") == bad


def test_resubscribe_after_unsubscribe_needs_new_confirmation(
    wf: Workflow, outbox: Path, sqlite_store: Store
) -> None:
    wf.subscribe("r@example.com", source="form")
    old = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    wf.confirm(old)
    wf.unsubscribe_address("r@example.com")
    result = wf.subscribe("r@example.com", source="form")
    assert result.outcome == "resubscribed"
    assert status(sqlite_store, "r@example.com") == "pending"
    with pytest.raises(TokenError):
        wf.confirm(old)
    new = token_of(confirm_link(outbox_messages(outbox)[0]), "confirm")
    assert new != old
    assert wf.confirm(new)[0].status == "active"


def test_confirming_lifts_an_erasure(wf: Workflow, sqlite_store: Store, outbox: Path) -> None:
    with sqlite_store.session() as s:
        sub = repo.add(s, "gone@example.com", at=T0, source="cli")
        repo.erase(s, sub, at=T0)
    assert wf.subscribe("gone@example.com", source="form").outcome == "new"
    with sqlite_store.session() as s:
        assert repo.is_tombstoned(s, "gone@example.com")  # only asked, not confirmed
    wf.confirm(token_of(confirm_link(outbox_messages(outbox)[0]), "confirm"))
    with sqlite_store.session() as s:
        assert not repo.is_tombstoned(s, "gone@example.com")


def test_two_requests_for_a_new_address_at_once(
    tmp_path: Path, sqlite_store: Store, clock: FakeClock
) -> None:
    first = make_workflow(tmp_path, sqlite_store, clock)
    second = make_workflow(tmp_path, sqlite_store, clock)
    real_add = repo.add
    raced: list[object] = []

    def add_after_the_other_request(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not raced:  # the other request wins the race between our lookup and our insert
            raced.append("started")
            raced.append(second.request_subscription("race@example.com", source="form"))
        return real_add(*args, **kwargs)

    import subscribers.workflow as workflow_module

    workflow_module.repo.add = add_after_the_other_request  # type: ignore[assignment]
    try:
        result = first.request_subscription("race@example.com", source="form")
    finally:
        workflow_module.repo.add = real_add  # type: ignore[assignment]
    assert raced[1].outcome == "new"  # type: ignore[attr-defined]
    assert result.outcome == "throttled"  # saw the other's row: no second email
    with sqlite_store.session() as s:
        assert repo.counts_by_status(s)["pending"] == 1


def test_failed_delivery_allows_an_immediate_retry(
    tmp_path: Path, sqlite_store: Store, clock: FakeClock
) -> None:
    cfg = make_config(tmp_path)

    class Broken(FileBackend):
        fail = True

        def send_batch(self, message, recipients):  # type: ignore[no-untyped-def]
            if Broken.fail:
                raise DeliveryError("the mail server refused the connection")
            return super().send_batch(message, recipients)

    wf = Workflow(cfg, sqlite_store, secrets=secrets(), clock=clock, backend=Broken(cfg, secrets()))
    with pytest.raises(DeliveryError):
        wf.subscribe("f@example.com", source="form")
    assert "confirmation_sent" not in kinds(sqlite_store, "f@example.com")
    Broken.fail = False
    assert wf.subscribe("f@example.com", source="form").outcome == "resend"
    assert "confirmation_sent" in kinds(sqlite_store, "f@example.com")


def test_unsubscribe_link_of_an_erased_subscriber(wf: Workflow, sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        sub = repo.add(s, "e@example.com", at=T0, source="cli", status="active")
        token = wf.tokens.unsubscribe(sub.id)
        repo.erase(s, sub, at=T0)
    assert wf.unsubscribe(token, one_click=True) is None
    assert wf.unsubscribe_target(token) is None


def test_old_unsubscribe_link_never_touches_a_reused_id(wf: Workflow, sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        gone = repo.add(s, "gone@example.com", at=T0, source="cli", status="active")
        token = wf.tokens.unsubscribe(gone.id, gone.email)
        old_id = gone.id
        repo.erase(s, gone, at=T0)
    with sqlite_store.session() as s:
        new = repo.add(s, "new@example.com", at=T0, source="cli", status="active")
        reused = new.id == old_id
    assert wf.unsubscribe(token, one_click=True) is None
    assert status(sqlite_store, "new@example.com") == "active"
    assert not reused  # ids are never handed out again (migration 0002, SQLite AUTOINCREMENT)


def test_unsubscribe_link_bound_to_another_address_changes_nothing(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    """The lean one-click path changes the row first and checks the address after:
    a mismatch must undo it, leaving no status change and no consent row."""
    wf = make_workflow(tmp_path, store, clock)
    with store.session() as s:
        sub = repo.add(s, "kept@example.com", at=T0, source="cli", status="active")
        sub_id = sub.id
    before = kinds(store, "kept@example.com")
    forged = wf.tokens.unsubscribe(sub_id, "someone-else@example.com")
    assert wf.unsubscribe(forged, one_click=True) is None
    assert status(store, "kept@example.com") == "active"
    assert kinds(store, "kept@example.com") == before
    # the right link still works, once, and a second click changes nothing more
    right = wf.tokens.unsubscribe(sub_id, "kept@example.com")
    first = wf.unsubscribe(right, one_click=True)
    assert first is not None and first.status == "unsubscribed"
    again = wf.unsubscribe(right, one_click=True)
    assert again is not None and again.email == "kept@example.com"
    assert kinds(store, "kept@example.com") == [*before, "unsubscribed"]
    with store.session() as s:
        got = repo.get(s, sub_id)
        assert got is not None and got.unsubscribed_at == clock.now


def test_unsubscribe_leaves_bounced_and_complained_as_they_are(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    wf = make_workflow(tmp_path, store, clock)
    with store.session() as s:
        for st in ("bounced", "complained"):
            sub = repo.add(s, f"{st}@example.com", at=T0, source="cli", status="active")
            repo.set_status(s, sub, st, at=T0, source="webhook")
    for st in ("bounced", "complained"):
        with store.session() as s:
            sub = repo.get_by_email(s, f"{st}@example.com")
            assert sub is not None
            token = wf.tokens.unsubscribe(sub.id, sub.email)
        target = wf.unsubscribe(token, one_click=True)
        assert target is not None and target.status == st
        assert status(store, f"{st}@example.com") == st


@pytest.mark.parametrize(
    "name", ["Ada\x00 Lovelace", "Ada\x1b]0;pwned\x07 Lovelace", "Ada\ufffe\ud800 Lovelace"]
)
def test_a_name_with_control_characters_still_gets_its_confirmation(
    tmp_path: Path, store: Store, clock: FakeClock, outbox: Path, name: str
) -> None:
    """A NUL or ESC in a name (typed in the form, or from a CSV) once broke the confirmation
    email's MJML, and a NUL could not even be stored on PostgreSQL."""
    wf = make_workflow(tmp_path, store, clock)
    result = wf.subscribe("ada@example.com", name=name, source="form")
    assert result.outcome == "new"
    [msg] = outbox_messages(outbox)
    assert "confirm" in msg["Subject"].lower()
    assert "Ada" in msg["To"] and str(msg["To"]).isprintable()
    with store.session() as s:
        sub = repo.get_by_email(s, "ada@example.com")
        assert sub is not None and sub.name is not None
        assert (
            sub.name.isprintable() and sub.name.startswith("Ada") and sub.name.endswith("Lovelace")
        )
