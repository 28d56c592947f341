"""The notify channels against real servers in this process: an SMTP server (aiosmtpd, with STARTTLS
and AUTH), an HTTP receiver for Slack and Teams webhooks, and the real Kafka broker for the topic."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from advocacy.notify.v1.notify_pb2 import NotificationSent
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.common.config import ServiceSettings
from services.common.kafka import kafka_producer
from services.notify.adapters.email import SmtpEmailChannel
from services.notify.adapters.templates import JinjaRenderer
from services.notify.adapters.topic_channel import TopicChannel
from services.notify.adapters.webhooks import slack_channel, teams_channel, webhook_session
from services.notify.app.ports import PermanentDeliveryError, RenderedMessage, TransientDeliveryError
from services.notify.config import EmailSettings, WebhookSettings
from services.notify.domain.notification import ChannelName, Kind, Notification, Recipient
from services.notify.domain.unsubscribe import unsubscribe_url

SECRET = b"test-secret"
RENDERER = JinjaRenderer()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def a_notification(notification_id: str = "thank_you:adv-1:2026-12-06T09", language: str = "fi") -> Notification:
    recipient = Recipient("adv-1", "Maija Meikäläinen", language, "Europe/Helsinki")
    data = {
        "points": 1250,
        "entries": [{"rule": "share", "points": 1250, "content_title": "Tuotanto <Oulu> & Kemi"}],
        "reach": 2400,
        "clicks": 37,
    }
    return Notification(notification_id, Kind.THANK_YOU, recipient, datetime(2026, 12, 6, 9, tzinfo=UTC), data)


def rendered(notification: Notification, channel: ChannelName) -> RenderedMessage:
    url = unsubscribe_url("https://advocacy.example", notification.recipient.advocate_id, SECRET)
    return RENDERER.render(notification, channel, url)


# ---------------------------------------------------------------- SMTP


@dataclass
class Received:
    message: EmailMessage
    rcpt_tos: list[str]
    tls: bool
    login: bytes | None


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what arrived and refuses the recipients it is told to."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        # session.ssl is set by STARTTLS; with implicit TLS the connection's transport is TLS from the start.
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(message, list(envelope.rcpt_tos), tls, login))
        return "250 Message accepted for delivery"


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"notifier", b"pa55")
    # handled=False: the server answers 535 itself (its default, True, means "I replied already").
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    start: Callable[[], None]
    stop: Callable[[], None]
    ca_file: Path


def server_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server certificate for 127.0.0.1 from a CA made here, and that CA's file for the client."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, ca_file


@pytest.fixture
def smtp_server(tmp_path) -> Iterator[SmtpServer]:
    """STARTTLS with a certificate of a CA made here; AUTH required, only over TLS."""
    server_context, ca_file = server_tls(tmp_path)
    mailbox = Mailbox()
    port = free_port()
    controllers: list[Controller] = []

    def start() -> None:
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=server_context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
        )
        controller.start()
        controllers.append(controller)

    def stop() -> None:
        controllers.pop().stop()

    start()
    yield SmtpServer(mailbox, port, start, stop, ca_file)
    while controllers:
        stop()


def email_settings(server: SmtpServer, **overrides: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "tls": "starttls",
        "username": "notifier",
        "password": "pa55",
        "ca_file": server.ca_file,
        "from_address": "Advocacy <advocacy@example.com>",
        "timeout_seconds": 5,
        **overrides,
    }
    return EmailSettings(**values)


async def test_email_arrives_as_text_and_html_with_one_click_unsubscribe_over_starttls_and_auth(smtp_server):
    notification = a_notification()
    message = rendered(notification, ChannelName.EMAIL)
    await SmtpEmailChannel(email_settings(smtp_server)).send(notification, message, "maija@example.fi")

    [got] = smtp_server.mailbox.received
    assert got.tls and got.login == b"notifier"
    assert got.rcpt_tos == ["maija@example.fi"]
    email = got.message
    assert email.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["Subject"] == "Kiitos jakamisesta! Sait 1 250 pistettä"
    assert email["To"].addresses[0].display_name == "Maija Meikäläinen"
    assert email["From"] == "Advocacy <advocacy@example.com>"
    digest = hashlib.sha256(notification.notification_id.encode()).hexdigest()
    assert email["Message-ID"] == f"<{digest}@example.com>"  # ":" may not stand in a Message-ID
    assert email["List-Unsubscribe"] == f"<{message.unsubscribe_url}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["Content-Language"] == "fi"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert "Tuotanto <Oulu> & Kemi" in text
    assert "Tuotanto &lt;Oulu&gt; &amp; Kemi" in html
    assert message.unsubscribe_url in text


@pytest.mark.parametrize("tls", ["implicit", "none"])
async def test_implicit_tls_and_a_plain_relay_without_auth(tls, tmp_path):
    server_context, ca_file = server_tls(tmp_path)
    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, **({"ssl_context": server_context} if tls == "implicit" else {})
    )
    controller.start()
    notification = a_notification()
    try:
        settings = EmailSettings(host="127.0.0.1", port=port, tls=tls, ca_file=ca_file, timeout_seconds=5)
        await SmtpEmailChannel(settings).send(notification, rendered(notification, ChannelName.EMAIL), "m@example.fi")
    finally:
        controller.stop()
    [got] = mailbox.received
    assert got.tls == (tls == "implicit")
    assert got.login is None
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_a_resend_carries_the_same_message_id(smtp_server):
    notification = a_notification("digest.adv-1.2026-12-06")
    channel = SmtpEmailChannel(email_settings(smtp_server))
    for _ in range(2):
        await channel.send(notification, rendered(notification, ChannelName.EMAIL), "maija@example.fi")
    ids = [r.message["Message-ID"] for r in smtp_server.mailbox.received]
    assert ids == ["<digest.adv-1.2026-12-06@example.com>"] * 2


async def test_a_stopped_smtp_server_is_transient_and_delivery_works_once_it_is_back(smtp_server):
    notification = a_notification()
    channel = SmtpEmailChannel(email_settings(smtp_server))
    smtp_server.stop()
    with pytest.raises(TransientDeliveryError):
        await channel.send(notification, rendered(notification, ChannelName.EMAIL), "maija@example.fi")
    assert smtp_server.mailbox.received == []
    smtp_server.start()
    await channel.send(notification, rendered(notification, ChannelName.EMAIL), "maija@example.fi")
    assert len(smtp_server.mailbox.received) == 1


async def test_a_refused_recipient_is_permanent_and_a_deferred_one_transient(smtp_server):
    notification = a_notification()
    channel = SmtpEmailChannel(email_settings(smtp_server))
    smtp_server.mailbox.refuse["gone@example.fi"] = "550 5.1.1 No such user"
    smtp_server.mailbox.refuse["full@example.fi"] = "452 4.2.2 Mailbox full, try later"
    with pytest.raises(PermanentDeliveryError, match="550"):
        await channel.send(notification, rendered(notification, ChannelName.EMAIL), "gone@example.fi")
    with pytest.raises(TransientDeliveryError, match="452"):
        await channel.send(notification, rendered(notification, ChannelName.EMAIL), "full@example.fi")
    with pytest.raises(PermanentDeliveryError, match="not an email address"):
        await channel.send(notification, rendered(notification, ChannelName.EMAIL), "not-an-address")
    assert smtp_server.mailbox.received == []


async def test_bad_credentials_or_an_untrusted_certificate_are_transient_not_the_messages_fault(smtp_server, tmp_path):
    """The channel's configuration is wrong, not the message: retried (and alerted on), never dead-lettered."""
    notification = a_notification()
    message = rendered(notification, ChannelName.EMAIL)
    wrong_password = SmtpEmailChannel(email_settings(smtp_server, password="wrong"))
    with pytest.raises(TransientDeliveryError, match="535"):
        await wrong_password.send(notification, message, "m@example.fi")
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    untrusting = SmtpEmailChannel(email_settings(smtp_server, ca_file=other_ca))
    with pytest.raises(TransientDeliveryError, match=r"(?i)certificate verify failed"):
        await untrusting.send(notification, message, "m@example.fi")
    assert smtp_server.mailbox.received == []


# ---------------------------------------------------------------- webhooks


@dataclass
class Receiver:
    base: str
    posts: list[tuple[str, Any]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    posts: list[tuple[str, Any]] = []

    async def ok(request: web.Request) -> web.Response:
        posts.append((request.path, await request.json()))
        return web.Response(text="ok")

    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal")

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)  # well past the channel's 0.5 s timeout
        return web.Response(text="ok")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/slack/ok")

    app = web.Application()
    app.router.add_post("/slack/ok", ok)
    app.router.add_post("/teams/ok", ok)
    app.router.add_post("/fail", failing)
    app.router.add_post("/limited", limited)
    app.router.add_post("/slow", slow)
    app.router.add_post("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield Receiver(f"http://127.0.0.1:{port}", posts)
    await runner.cleanup()


async def test_slack_and_teams_webhooks_receive_their_json(receiver):
    notification = a_notification(language="en")
    session = webhook_session(WebhookSettings(timeout_seconds=2))
    try:
        settings = WebhookSettings(timeout_seconds=2)
        slack = rendered(notification, ChannelName.SLACK)
        await slack_channel(session, settings).send(notification, slack, f"{receiver.base}/slack/ok")
        teams = rendered(notification, ChannelName.TEAMS)
        await teams_channel(session, settings).send(notification, teams, f"{receiver.base}/teams/ok")
    finally:
        await session.close()
    (slack_path, slack_body), (teams_path, teams_body) = receiver.posts
    assert slack_path == "/slack/ok"
    assert slack_body["text"].startswith("*Thank you for sharing: 1,250 points for you*\n")
    assert "Tuotanto &lt;Oulu&gt; &amp; Kemi" in slack_body["text"]  # mrkdwn: no link or mention injected
    assert slack_body["blocks"][1] == {"type": "section", "text": {"type": "mrkdwn", "text": slack.text}}
    assert teams_path == "/teams/ok"
    [attachment] = teams_body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    blocks = attachment["content"]["body"]
    assert blocks[0]["text"] == "Thank you for sharing: 1,250 points for you"
    assert "Tuotanto <Oulu> & Kemi" in blocks[1]["text"]


async def test_webhook_answers_map_to_retry_or_dead_letter(receiver):
    notification = a_notification(language="en")
    message = rendered(notification, ChannelName.SLACK)
    session = webhook_session(WebhookSettings(timeout_seconds=0.5))
    channel = slack_channel(session, WebhookSettings(timeout_seconds=0.5))
    try:
        with pytest.raises(TransientDeliveryError, match="500"):
            await channel.send(notification, message, f"{receiver.base}/fail")
        with pytest.raises(TransientDeliveryError, match="429") as limited:
            await channel.send(notification, message, f"{receiver.base}/limited")
        assert limited.value.retry_after_seconds == 7.0
        with pytest.raises(TransientDeliveryError, match="Timeout"):
            await channel.send(notification, message, f"{receiver.base}/slow")
        with pytest.raises(PermanentDeliveryError, match="404"):
            await channel.send(notification, message, f"{receiver.base}/no-such-hook")
        with pytest.raises(PermanentDeliveryError, match="302"):
            await channel.send(notification, message, f"{receiver.base}/moved")
        with pytest.raises(PermanentDeliveryError, match="http"):
            await channel.send(notification, message, "file:///etc/passwd")
        with pytest.raises(TransientDeliveryError):
            await channel.send(notification, message, f"http://127.0.0.1:{free_port()}/nobody-listens")
    finally:
        await session.close()
    assert receiver.posts == []


# ---------------------------------------------------------------- topic


async def test_the_topic_channel_publishes_notification_sent_keyed_by_advocate(isolated):
    settings = ServiceSettings(kafka_bootstrap=isolated.stack.kafka_bootstrap, topic_prefix=isolated.prefix)
    topic = settings.topic("notification-sent")
    producer = kafka_producer(settings, "notify-test")
    await producer.start()
    notification = a_notification()
    message = rendered(notification, ChannelName.TOPIC)
    try:
        await TopicChannel(producer, topic).send(notification, message, "")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=isolated.stack.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert record.key == b"adv-1"
    event = NotificationSent.FromString(record.value)
    assert event.event_id == notification.notification_id
    assert (event.advocate_id, event.kind, event.language) == ("adv-1", "thank_you", "fi")
    assert (event.subject, event.text, event.html) == (message.subject, message.text, message.html)
    assert json.loads(event.data_json) == dict(notification.data)
    assert event.unsubscribe_url == message.unsubscribe_url
    assert event.occurred_at.seconds > 0


async def test_an_unacknowledged_publish_is_transient(isolated):
    settings = ServiceSettings(kafka_bootstrap=isolated.stack.kafka_bootstrap, topic_prefix=isolated.prefix)
    producer = kafka_producer(settings, "notify-test")
    await producer.start()
    notification = a_notification()
    try:
        # The broker does not create topics on demand: no metadata ever comes, so no ack.
        channel = TopicChannel(producer, settings.topic("no-such-topic"), timeout_seconds=1)
        with pytest.raises(TransientDeliveryError, match="not acknowledged"):
            await channel.send(notification, rendered(notification, ChannelName.TOPIC), "")
    finally:
        await producer.stop()
