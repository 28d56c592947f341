"""Email over SMTP (aiosmtplib): one multipart/alternative message (text + HTML) per notification.

The Message-ID is derived from the notification id, so a resend after a lost reply is recognisably
the same message (and mail systems that de-duplicate on it do). Every message carries RFC 8058
one-click unsubscribe headers.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from services.notify.app.ports import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from services.notify.config import EmailSettings
from services.notify.domain.notification import ChannelName, Notification

# RFC 5322 dot-atom text: what the left part of a Message-ID may hold as is.
_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def message_id(notification_id: str, domain: str) -> str:
    left = notification_id if _DOT_ATOM.match(notification_id) else hashlib.sha256(notification_id.encode()).hexdigest()
    return f"<{left}@{domain}>"


def _message_id_domain(settings: EmailSettings) -> str:
    if settings.message_id_domain:
        return settings.message_id_domain
    _, address = parseaddr(settings.from_address)
    return address.rpartition("@")[2] or "localhost"


def _recipient(display_name: str, address: str) -> Address:
    try:
        # The header parser's ways of saying "not an address": defects (ValueError), parse errors, IndexError.
        parsed = Address(display_name=" ".join(display_name.split()), addr_spec=address.strip())
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise PermanentDeliveryError(f"not an email address: {address!r}") from exc
    if not parsed.domain or not parsed.username:
        raise PermanentDeliveryError(f"not an email address: {address!r}")
    return parsed


def build_email(
    settings: EmailSettings, notification: Notification, message: RenderedMessage, address: str
) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.from_address
    email["To"] = _recipient(notification.recipient.display_name, address)
    # Python's header folding sends a no-break space as a plain one anyway: say so here, not by surprise.
    email["Subject"] = message.subject.replace("\u00a0", " ")
    email["Date"] = format_datetime(notification.created_at)
    email["Message-ID"] = message_id(notification.notification_id, _message_id_domain(settings))
    # RFC 3834: no out-of-office replies to a notification.
    email["Auto-Submitted"] = "auto-generated"
    if message.unsubscribe_url:
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.language:  # after the parts: making them moves every Content-* header into the first
        email["Content-Language"] = message.language
    return email


def classify_smtp_error(exc: Exception) -> TransientDeliveryError | PermanentDeliveryError:
    """Permanent only when the server refused *this message* for good (5xx to its recipient or its
    data); everything else (down, slow, 4xx, bad credentials, TLS) is the channel's state: retry."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(code >= 500 for code in codes):
            return PermanentDeliveryError(f"recipient refused: {exc.recipients[0].code} {exc.recipients[0].message}")
        return TransientDeliveryError(f"recipient deferred: {codes}")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError) and exc.code >= 500:
        return PermanentDeliveryError(f"message refused: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return TransientDeliveryError(f"smtp server said {exc.code} {exc.message}")
    return TransientDeliveryError(f"smtp unavailable: {type(exc).__name__}: {exc}")


class SmtpEmailChannel:
    name = ChannelName.EMAIL

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._tls_context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)

    async def send(self, notification: Notification, message: RenderedMessage, address: str) -> None:
        email = build_email(self._settings, notification, message, address)
        s = self._settings
        try:
            await aiosmtplib.send(
                email,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password.get_secret_value() or None,
                use_tls=s.tls == "implicit",
                start_tls=s.tls == "starttls",
                tls_context=self._tls_context if s.tls != "none" else None,
                timeout=s.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify_smtp_error(exc) from exc
