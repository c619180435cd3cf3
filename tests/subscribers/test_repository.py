"""The list on SQLite and PostgreSQL: normalized unique addresses, status changes
that always leave a ledger row, streaming listing, counts, erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from digest.errors import UsageError
from digest.store.database import Store
from digest.store.tables import ConsentEvent, Subscriber, Tombstone
from subscribers import repository as repo

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_add_normalizes_and_is_unique_case_insensitively(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(s, "  Ada.Lovelace@Example.COM ", at=T0, source="cli", name="  Ada   L ")
        assert sub.email == "Ada.Lovelace@example.com"
        assert sub.name == "Ada L"
        assert sub.status == "pending"
        assert sub.created_at == T0
    with store.session() as s, pytest.raises(UsageError, match="already on the list"):
        repo.add(s, "ada.lovelace@EXAMPLE.com", at=T0, source="cli")
    with store.session() as s:
        found = repo.get_by_email(s, "ADA.LOVELACE@example.com")
        assert found is not None and found.email == "Ada.Lovelace@example.com"
        assert repo.get_by_email(s, "nobody@example.com") is None
        assert repo.get_by_email(s, "not an address") is None


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("", "empty"),
        ("no-at-sign", "@"),
        ("two@@example.com", "invalid characters"),
        ("a@b", "period"),
    ],
)
def test_add_refuses_invalid_addresses_naming_them(store: Store, bad: str, reason: str) -> None:
    with store.session() as s:
        with pytest.raises(repo.InvalidAddress, match=reason) as info:
            repo.add(s, bad, at=T0, source="cli")
        assert repr(bad.strip()) in str(info.value) or bad == ""
        assert s.scalars(select(Subscriber)).first() is None


def test_add_confirmed_writes_subscribed_and_confirmed_events(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(
            s,
            "b@example.com",
            at=T0,
            source="import",
            status="active",
            detail="consent vouched for by the importer",
        )
        events = repo.events_for(s, sub)
    assert [e.kind for e in events] == ["subscribed", "confirmed"]
    assert all(e.source == "import" and e.at == T0 for e in events)
    assert events[0].detail == "consent vouched for by the importer"
    assert sub.confirmed_at == T0 and sub.status == "active"


def test_set_status_updates_times_and_appends_the_ledger(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(
            s,
            "c@example.com",
            at=T0,
            source="form",
            ip="203.0.113.5",
            user_agent="Firefox",
            form_version="v1",
        )
        sub.confirm_nonce = "n1"
        repo.set_status(
            s, sub, "active", source="form", at=T0 + timedelta(minutes=5), ip="203.0.113.5"
        )
        assert sub.confirmed_at == T0 + timedelta(minutes=5)
        assert sub.confirm_nonce is None
        repo.set_status(
            s,
            sub,
            "bounced",
            source="webhook",
            event_id="sg-1",
            detail="550 user unknown",
            at=T0 + timedelta(days=1),
        )
        sub_id = sub.id
    with store.session() as s:
        sub2 = repo.get(s, sub_id)
        assert sub2 is not None and sub2.status == "bounced"
        events = repo.events_for(s, sub2)
    assert [(e.kind, e.source) for e in events] == [
        ("subscribed", "form"),
        ("confirmed", "form"),
        ("bounced", "webhook"),
    ]
    assert events[0].ip == "203.0.113.5" and events[0].user_agent == "Firefox"
    assert events[0].form_version == "v1"
    assert events[2].event_id == "sg-1" and events[2].detail == "550 user unknown"
    assert events[2].at == T0 + timedelta(days=1)


def test_set_status_refuses_unknown_status_and_naive_time(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(s, "d@example.com", at=T0, source="cli")
        with pytest.raises(UsageError, match="unknown status 'gone'"):
            repo.set_status(s, sub, "gone", source="cli", at=T0)
        with pytest.raises(ValueError):
            repo.set_status(s, sub, "active", source="cli", at=T0.replace(tzinfo=None))
        assert sub.status == "pending"


def test_unsubscribe_sets_time_and_explicit_kind(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(s, "e@example.com", at=T0, source="cli", status="active")
        ev = repo.set_status(s, sub, "unsubscribed", kind="complained", source="webhook", at=T0)
        assert ev.kind == "complained"
        assert sub.unsubscribed_at == T0


def test_iter_subscribers_streams_in_batches_and_filters(store: Store) -> None:
    with store.session() as s:
        for i in range(25):
            repo.add(
                s,
                f"user{i:02d}@example.com",
                at=T0,
                source="import",
                status="active" if i % 2 else "pending",
            )
    with store.session() as s:
        everyone = [x.email for x in repo.iter_subscribers(s, batch_size=4)]
        active = [x.email for x in repo.iter_subscribers(s, status="active", batch_size=3)]
    assert everyone == [f"user{i:02d}@example.com" for i in range(25)]
    assert active == [f"user{i:02d}@example.com" for i in range(1, 25, 2)]
    with store.session() as s, pytest.raises(UsageError):
        list(repo.iter_subscribers(s, status="nope"))


def test_counts_by_status_has_every_status(store: Store) -> None:
    assert repo.counts_by_status(store) == {
        "pending": 0,
        "active": 0,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 0,
    }
    with store.session() as s:
        repo.add(s, "a@example.com", at=T0, source="cli")
        repo.add(s, "b@example.com", at=T0, source="cli", status="active")
        c = repo.add(s, "c@example.com", at=T0, source="cli", status="active")
        repo.set_status(s, c, "complained", source="webhook", at=T0)
        assert repo.counts_by_status(s)["complained"] == 1
    assert repo.counts_by_status(store) == {
        "pending": 1,
        "active": 1,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 1,
    }


def test_erase_keeps_only_hashes(store: Store) -> None:
    with store.session() as s:
        sub = repo.add(
            s,
            "Private@Example.com",
            at=T0,
            source="form",
            ip="198.51.100.7",
            user_agent="Safari",
            name="Pat",
        )
        keep = repo.add(s, "other@example.com", at=T0, source="cli")
        hashed = repo.erase(s, sub, at=T0 + timedelta(days=2))
    assert hashed == repo.email_hash("private@example.com")
    with store.session() as s:
        assert repo.get_by_email(s, "private@example.com") is None
        assert repo.is_tombstoned(s, "PRIVATE@example.com")
        assert not repo.is_tombstoned(s, "other@example.com")
        stone = s.get(Tombstone, hashed)
        assert stone is not None and stone.erased_at == T0 + timedelta(days=2)
        events = list(
            s.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.email_hash == hashed)
                .order_by(ConsentEvent.id)
            )
        )
        assert [e.kind for e in events] == ["subscribed", "erased"]
        for e in events:
            assert e.subscriber_id is None and e.ip is None and e.user_agent is None
        assert repo.get_by_email(s, "other@example.com") is not None
        assert keep.id is not None
        # nothing anywhere still holds the address in clear
        for e in s.scalars(select(ConsentEvent)):
            assert "private" not in " ".join(str(v) for v in vars(e).values()).lower()
        assert repo.lift_tombstone(s, "private@example.com")
        assert not repo.is_tombstoned(s, "private@example.com")


def test_erase_removes_the_person_from_every_send_ledger(store: Store) -> None:
    """Erasure leaves no row naming the person in the send ledger (it has no foreign key
    to cascade, so erase does it), and other readers' rows stay."""
    from digest.store.tables import IssueRecord, SendRecipient

    with store.session() as s:
        gone = repo.add(s, "gone@example.com", at=T0, source="cli", status="active")
        stays = repo.add(s, "stays@example.com", at=T0, source="cli", status="active")
        s.add(IssueRecord(key="2026-W02", status="sent", as_of=T0, created_at=T0))
        s.flush()
        for sub in (gone, stays):
            s.add(
                SendRecipient(issue_key="2026-W02", subscriber_id=sub.id, batch=0, state="accepted")
            )
        s.flush()
        repo.erase(s, gone, at=T0)
    with store.session() as s:
        left = [r.subscriber_id for r in s.scalars(select(SendRecipient))]
    assert left == [stays.id]
