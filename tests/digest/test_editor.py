"""Editor controls and sent URLs, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest import editor
from digest.errors import UsageError
from digest.store.database import Store
from digest.store.tables import IssueArticle, IssueRecord

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def test_pin_replace_and_clear(store: Store) -> None:
    assert editor.get_controls(store, "2026-W47").empty
    assert (
        editor.set_pin(store, "2026-W47", "https://ex.example/a?utm_source=x#frag", clock=clock)
        is None
    )
    assert editor.get_controls(store, "2026-W47").pin == "https://ex.example/a"
    assert (
        editor.set_pin(store, "2026-W47", "https://ex.example/b", clock=clock)
        == "https://ex.example/a"
    )
    assert editor.get_controls(store, "2026-W47").pin == "https://ex.example/b"
    # another issue is untouched
    assert editor.get_controls(store, "2026-W48").pin is None
    assert editor.clear_pin(store, "2026-W47") == "https://ex.example/b"
    assert editor.get_controls(store, "2026-W47").pin is None
    assert editor.clear_pin(store, "2026-W47") is None


def test_drops_add_clear_one_and_all(store: Store) -> None:
    key = "2026-W47"
    assert editor.add_drop(store, key, "https://ex.example/a", clock=clock)
    assert not editor.add_drop(store, key, "https://EX.example/a#again", clock=clock)
    assert editor.add_drop(store, key, "https://ex.example/b", clock=clock)
    assert editor.get_controls(store, key).drops == {"https://ex.example/a", "https://ex.example/b"}
    assert editor.clear_drop(store, key, "https://ex.example/a?utm_campaign=z") == [
        "https://ex.example/a"
    ]
    assert editor.get_controls(store, key).drops == {"https://ex.example/b"}
    assert editor.clear_drop(store, key, "https://ex.example/nothing") == []
    editor.add_drop(store, key, "https://ex.example/c", clock=clock)
    assert sorted(editor.clear_drop(store, key)) == ["https://ex.example/b", "https://ex.example/c"]
    assert editor.get_controls(store, key).drops == frozenset()


def test_note_set_replace_clear(store: Store) -> None:
    key = "2026-W47"
    assert editor.set_note(store, key, "  Back next week\n with more. ", clock=clock) is None
    assert editor.get_controls(store, key).note == "Back next week with more."
    assert editor.set_note(store, key, "Thanks", clock=clock) == "Back next week with more."
    assert editor.clear_note(store, key) == "Thanks"
    assert editor.get_controls(store, key).note is None


def test_bad_inputs_are_usage_errors(sqlite_store: Store) -> None:
    with pytest.raises(UsageError, match="not an article URL"):
        editor.set_pin(sqlite_store, "2026-W47", "statecraft.example/a")
    with pytest.raises(UsageError, match="javascript"):
        editor.add_drop(sqlite_store, "2026-W47", "javascript:alert(1)")
    with pytest.raises(UsageError, match="empty"):
        editor.set_note(sqlite_store, "2026-W47", "   ")
    with pytest.raises(UsageError, match="1,000"):
        editor.set_note(sqlite_store, "2026-W47", "x" * 1001)
    assert editor.get_controls(sqlite_store, "2026-W47").empty


def _issue(store: Store, key: str, status: str, urls: list[str]) -> None:
    with store.session() as s:
        s.add(IssueRecord(key=key, status=status, as_of=NOW, created_at=NOW))
        s.flush()
        for i, url in enumerate(urls):
            s.add(
                IssueArticle(
                    issue_key=key, url=url, role="latest", position=i, title=url, reason="r"
                )
            )


def test_sent_urls_only_from_sent_issues(store: Store) -> None:
    _issue(store, "2026-W45", "sent", ["https://ex.example/a", "https://ex.example/b"])
    _issue(store, "2026-W46", "sent", ["https://ex.example/b"])
    _issue(store, "2026-W47", "failed", ["https://ex.example/c"])
    _issue(store, "2026-W48", "sending", ["https://ex.example/d"])
    assert set(editor.sent_articles(store, except_key="2026-W49")) == {
        "https://ex.example/a",
        "https://ex.example/b",
    }
    assert editor.sent_articles(store, except_key="2026-W49") == {
        "https://ex.example/a": "2026-W45",
        "https://ex.example/b": "2026-W46",
    }
    # an issue being resent keeps its own articles
    assert set(editor.sent_articles(store, except_key="2026-W46")) == {
        "https://ex.example/a",
        "https://ex.example/b",
    }
    assert set(editor.sent_articles(store, except_key="2026-W45")) == {"https://ex.example/b"}
