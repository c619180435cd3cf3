"""Signed links: an unsubscribe link works for its subscriber only and forever; a
confirmation link expires; a tampered or foreign token is refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from digest.errors import TokenError
from digest.tokens import Tokens, confirm_url, unsubscribe_url
from tests.subscribers_support import T0, FakeClock

WEEK = 7 * 24 * 3600


def test_unsubscribe_token_round_trips_and_never_expires() -> None:
    clock = FakeClock(T0)
    tokens = Tokens("s3cret", clock=clock)
    token = tokens.unsubscribe(42)
    clock.now = T0 + timedelta(days=3650)
    assert tokens.read_unsubscribe(token) == 42
    assert Tokens("s3cret").read_unsubscribe(token) == 42


def test_unsubscribe_tokens_differ_per_subscriber() -> None:
    tokens = Tokens("s3cret")
    assert tokens.unsubscribe(1) != tokens.unsubscribe(2)
    assert tokens.read_unsubscribe(tokens.unsubscribe(2)) == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t.replace(t.split(".")[0], "eyJ1Ijo5OX0"),  # payload {"u":99} with old signature
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_tampered_unsubscribe_token_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    tokens = Tokens("s3cret")
    bad = mutate(tokens.unsubscribe(7))
    with pytest.raises(TokenError, match="unsubscribe link is not valid"):
        tokens.read_unsubscribe(bad)


def test_token_from_another_secret_is_refused() -> None:
    other = Tokens("another key").unsubscribe(7)
    with pytest.raises(TokenError):
        Tokens("s3cret").read_unsubscribe(other)


def test_confirm_and_unsubscribe_tokens_are_not_interchangeable() -> None:
    tokens = Tokens("s3cret")
    with pytest.raises(TokenError):
        tokens.read_unsubscribe(tokens.confirm(7, "nonce"))
    with pytest.raises(TokenError):
        tokens.read_confirm(tokens.unsubscribe(7), WEEK)


def test_confirm_token_carries_subscriber_and_nonce() -> None:
    tokens = Tokens("s3cret")
    assert tokens.read_confirm(tokens.confirm(9, "abc123"), WEEK) == (9, "abc123")


def test_confirm_token_expires_after_max_age() -> None:
    clock = FakeClock(T0)
    tokens = Tokens("s3cret", clock=clock)
    token = tokens.confirm(9, "abc")
    clock.now = T0 + timedelta(days=6, hours=23)
    assert tokens.read_confirm(token, WEEK) == (9, "abc")
    clock.now = T0 + timedelta(days=7, seconds=2)
    with pytest.raises(TokenError, match="expired"):
        tokens.read_confirm(token, WEEK)


def test_tampered_confirm_token_is_refused() -> None:
    tokens = Tokens("s3cret")
    token = tokens.confirm(9, "abc")
    with pytest.raises(TokenError, match="not valid"):
        tokens.read_confirm(token[:-2] + "xx", WEEK)


def test_missing_secret_says_how_to_set_it() -> None:
    with pytest.raises(TokenError, match="export DIGEST_SECRET_KEY="):
        Tokens("")


def test_link_urls() -> None:
    assert (
        unsubscribe_url("http://127.0.0.1:8000/", "tok") == "http://127.0.0.1:8000/unsubscribe/tok"
    )
    assert confirm_url("https://x.example", "t.k") == "https://x.example/confirm/t.k"


def test_unsubscribe_token_can_name_the_address() -> None:
    tokens = Tokens("s3cret")
    token = tokens.unsubscribe(5, "Ada@Example.com")
    assert tokens.read_unsubscribe(token) == 5
    sid, tag = tokens.read_unsubscribe_bound(token)
    assert (
        sid == 5
        and tag == tokens.read_unsubscribe_bound(tokens.unsubscribe(5, "ada@example.com"))[1]
    )
    assert tokens.read_unsubscribe_bound(tokens.unsubscribe(5))[1] is None


# --- one canonical form -------------------------------------------------------------------------


def _flip_unused_bits(token: str) -> str:
    """The same signature bytes, spelled differently: a 20-byte signature is 27 base64
    characters whose last one carries 4 bits nobody reads."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    return token[:-1] + alphabet[last ^ 1]


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: t + "==",
        lambda t: t + "=",
        _flip_unused_bits,
    ],
    ids=["==", "=", "unused bits"],
)
def test_a_token_has_one_canonical_form(variant) -> None:  # type: ignore[no-untyped-def]
    """itsdangerous decodes these to the very same bytes, so they passed the signature
    check; a link must be exactly what was sent."""
    tokens = Tokens("s3cret")
    unsubscribe, confirm, csrf = (
        tokens.unsubscribe(7, "a@example.com"),
        tokens.confirm(7, "n"),
        tokens.csrf("f"),
    )
    assert variant(unsubscribe) != unsubscribe
    with pytest.raises(TokenError, match="unsubscribe link is not valid"):
        tokens.read_unsubscribe(variant(unsubscribe))
    with pytest.raises(TokenError, match="confirmation link is not valid"):
        tokens.read_confirm(variant(confirm), WEEK)
    with pytest.raises(TokenError):
        tokens.read_csrf(variant(csrf), WEEK)


# --- rotation: the newest key signs, the previous ones still verify -----------------------------


def test_previous_keys_verify_and_only_the_newest_signs() -> None:
    old, new = Tokens("the old key"), Tokens("the new key", previous=["the old key"])
    assert new.read_unsubscribe(old.unsubscribe(7, "a@example.com")) == 7
    assert new.read_confirm(old.confirm(9, "n"), WEEK) == (9, "n")
    assert new.read_csrf(old.csrf("form"), WEEK) == "form"
    assert new.unsubscribe(7) == Tokens("the new key").unsubscribe(7)
    with pytest.raises(TokenError):  # a link of the new key means nothing to the old one alone
        old.read_unsubscribe(new.unsubscribe(7))
    with pytest.raises(TokenError):
        Tokens("the new key").read_unsubscribe(old.unsubscribe(7))


def test_the_fast_send_path_signs_with_the_newest_key_exactly_as_itsdangerous(
    tmp_path: Path,
) -> None:
    """`digest send` computes unsubscribe tokens with its own hmac: after a rotation they
    must still be itsdangerous' tokens of the newest key, readable with every key."""
    from digest.tokens import UnsubscribeLinks

    old, new = "the-old-key-0123456789", "the-new-key-0123456789"
    links = UnsubscribeLinks("http://127.0.0.1:8000", new, (old,))
    assert links.fast
    for subscriber_id in (1, 7, 123_456, 2**31 + 5):
        token = links.token(subscriber_id)
        assert token == Tokens(new).unsubscribe(subscriber_id)
        assert Tokens(new, previous=[old]).read_unsubscribe(token) == subscriber_id
        with pytest.raises(TokenError):
            Tokens(old).read_unsubscribe(token)
