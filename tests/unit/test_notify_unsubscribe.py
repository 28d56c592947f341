"""Unsubscribe tokens: only the secret's holder makes them, any change is refused."""

from __future__ import annotations

import pytest

from services.notify.domain.unsubscribe import InvalidUnsubscribeToken, make_token, unsubscribe_url, verify_token

SECRET = b"s3cret"


@pytest.mark.parametrize("advocate_id", ["adv-1", "ä/ö?&=", "x" * 200])
def test_a_token_verifies_to_its_advocate_and_is_url_safe(advocate_id):
    token = make_token(SECRET, advocate_id)
    assert verify_token(SECRET, token) == advocate_id
    assert all(c.isalnum() or c in "-_." for c in token)
    assert make_token(SECRET, advocate_id) == token  # deterministic: the same link in every message


def test_a_tampered_token_is_refused():
    token = make_token(SECRET, "adv-1")
    head, _, signature = token.partition(".")
    other_head = make_token(SECRET, "adv-2").partition(".")[0]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{other_head}.{signature}", f"{head}.{flipped}", head, f"{head}.", "", "a.b.c", f"{head}.!!!"):
        with pytest.raises(InvalidUnsubscribeToken):
            verify_token(SECRET, bad)


def test_a_token_of_another_secret_is_refused():
    with pytest.raises(InvalidUnsubscribeToken):
        verify_token(SECRET, make_token(b"other", "adv-1"))


def test_unsubscribe_url_puts_the_token_under_the_base():
    url = unsubscribe_url("https://advocacy.example/", "adv-1", SECRET)
    assert url == f"https://advocacy.example/unsubscribe/{make_token(SECRET, 'adv-1')}"
    assert verify_token(SECRET, url.rsplit("/", 1)[1]) == "adv-1"


def test_no_token_without_a_secret():
    with pytest.raises(ValueError):
        make_token(b"", "adv-1")
