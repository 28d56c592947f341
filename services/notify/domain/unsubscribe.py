"""Signed one-click unsubscribe tokens (RFC 8058 links): `<advocate id, base64url>.<HMAC-SHA256, base64url>`.

No expiry: an old email's link must still work. Only the holder of the secret can make a token, so
a link cannot be forged for someone else; rotating the secret invalidates every link sent before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

# Binds the MAC to its purpose: a MAC of the same secret made for something else is not a token.
_PURPOSE = b"advocacy.notify.unsubscribe.v1:"


class InvalidUnsubscribeToken(ValueError):
    """The token is malformed or its signature does not match (tampered, or another secret)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidUnsubscribeToken("not base64url") from exc


def _mac(secret: bytes, advocate_id: bytes) -> bytes:
    return hmac.new(secret, _PURPOSE + advocate_id, hashlib.sha256).digest()


def make_token(secret: bytes, advocate_id: str) -> str:
    if not secret:
        raise ValueError("an unsubscribe secret is required")
    if not advocate_id:
        raise ValueError("advocate_id is required")
    raw = advocate_id.encode("utf-8")
    return f"{_b64(raw)}.{_b64(_mac(secret, raw))}"


def verify_token(secret: bytes, token: str) -> str:
    """The advocate id the token was made for; raises InvalidUnsubscribeToken otherwise."""
    head, dot, signature = token.partition(".")
    if not dot or not head or not signature:
        raise InvalidUnsubscribeToken("not a token")
    raw = _unb64(head)
    if not hmac.compare_digest(_unb64(signature), _mac(secret, raw)):
        raise InvalidUnsubscribeToken("bad signature")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # only reachable with a valid MAC, i.e. never for our tokens
        raise InvalidUnsubscribeToken("not UTF-8") from exc


def unsubscribe_url(base_url: str, advocate_id: str, secret: bytes) -> str:
    """`<base_url>/unsubscribe/<token>`: the link in `List-Unsubscribe` and every message's footer."""
    return f"{base_url.rstrip('/')}/unsubscribe/{make_token(secret, advocate_id)}"
