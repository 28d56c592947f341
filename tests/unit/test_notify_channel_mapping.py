"""How channel answers map to retry or dead letter, and what an email is made of, without servers."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest

from services.notify.adapters.email import build_email, classify_smtp_error, message_id
from services.notify.adapters.webhooks import checked_url, classify_status, retry_after_seconds
from services.notify.app.ports import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from services.notify.config import EmailSettings
from services.notify.domain.notification import Kind, Notification, Recipient


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, None), (204, None), (408, TransientDeliveryError), (429, TransientDeliveryError),
     (500, TransientDeliveryError), (503, TransientDeliveryError), (400, PermanentDeliveryError),
     (403, PermanentDeliveryError), (404, PermanentDeliveryError), (410, PermanentDeliveryError),
     (301, PermanentDeliveryError)],
)  # fmt: skip
def test_webhook_statuses(status, expected):
    if expected is None:
        classify_status(status, None, "ok")
    else:
        with pytest.raises(expected):
            classify_status(status, None, "body")


def test_retry_after_as_seconds_or_an_http_date():
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Sun, 06 Dec 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 06 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
    with pytest.raises(TransientDeliveryError) as caught:
        classify_status(503, "9", "busy")
    assert caught.value.retry_after_seconds == 9.0


@pytest.mark.parametrize("address", ["ftp://x.example/hook", "javascript:alert(1)", "/relative", "https://", ""])
def test_only_http_urls_are_webhooks(address):
    with pytest.raises(PermanentDeliveryError):
        checked_url(address)


def test_smtp_errors_are_permanent_only_when_the_message_itself_is_refused():
    refused = aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.fi")
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPRecipientsRefused([refused])), PermanentDeliveryError)
    deferred = aiosmtplib.SMTPRecipientRefused(450, "greylisted", "x@example.fi")
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPRecipientsRefused([deferred])), TransientDeliveryError)
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPDataError(554, "spam")), PermanentDeliveryError)
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPDataError(451, "later")), TransientDeliveryError)
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPAuthenticationError(535, "bad")), TransientDeliveryError)
    assert isinstance(classify_smtp_error(aiosmtplib.SMTPSenderRefused(553, "no", "a@b")), TransientDeliveryError)
    assert isinstance(classify_smtp_error(ConnectionRefusedError()), TransientDeliveryError)


def test_message_ids_are_derived_from_the_notification_id():
    assert message_id("n-1.adv", "example.com") == "<n-1.adv@example.com>"
    derived = message_id("thank_you:adv 1", "example.com")
    assert derived == message_id("thank_you:adv 1", "example.com")
    assert ":" not in derived and " " not in derived


def test_an_email_without_html_is_plain_text_and_a_header_injection_is_refused():
    recipient = Recipient("adv-1", "Maija", "en", "UTC")
    notification = Notification("n-1", Kind.DIGEST, recipient, datetime(2026, 12, 6, tzinfo=UTC))
    message = RenderedMessage("Subject", "Body\n", "", "https://a.example/unsubscribe/t", "en")
    email = build_email(EmailSettings(from_address="A <a@mail.example>"), notification, message, "m@example.fi")
    assert email.get_content_type() == "text/plain"
    assert email["Message-ID"] == "<n-1@mail.example>"
    with pytest.raises(PermanentDeliveryError):
        build_email(EmailSettings(), notification, message, "m@example.fi\r\nBcc: all@example.fi")
