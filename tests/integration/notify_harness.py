"""The notify service wired in this process against the real broker and FerretDB, with a real SMTP
server (aiosmtpd) and a local webhook receiver, and a clock the test can move forward (quiet
hours, the rate limit and digests are about hours; the tests do not wait for them)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import Audience, ContentItem, ContentPublished
from advocacy.notify.v1 import notify_pb2_grpc
from advocacy.notify.v1.notify_pb2 import NotificationSent
from advocacy.rewards.v1.rewards_pb2 import LedgerEntry, PointsAwarded
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, Share, ShareMade
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from google.protobuf.message import Message

from services.common.auth import authorized_aio_channel, dev_token
from services.common.events import to_timestamp
from services.common.grpc_server import GrpcServer
from services.notify.__main__ import Notify, components, wire
from services.notify.config import EmailSettings, NotifySettings, UnsubscribeSettings
from tests.conftest import Isolated

AUTH_KEY = "notify-test-key-0123456789abcdef0123456789abcdef"
UNSUBSCRIBE_SECRET = "notify-test-unsubscribe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.1)


class ShiftedClock:
    """Real time plus a shift the test moves forward."""

    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


class SmtpServer:
    """A plain SMTP server on a fixed port that can be stopped and started again (an outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class WebhookReceiver:
    """Records every JSON body posted to /<path>."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: dict[str, list[dict[str, Any]]] = {}
        app = web.Application()
        app.router.add_post("/{path:.*}", self._post)
        self._runner = web.AppRunner(app)

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.setdefault(request.match_info["path"], []).append(await request.json())
        return web.Response(text="ok")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()


class TopicReader:
    """Everything on `notification-sent` so far."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.events: list[NotificationSent] = []
        self._consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for record in self._consumer:
            self.events.append(NotificationSent.FromString(record.value or b""))

    def ids(self, advocate_id: str, prefix: str = "") -> list[str]:
        return [e.event_id for e in self.events if e.advocate_id == advocate_id and e.event_id.startswith(prefix)]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


class NotifyHarness:
    def __init__(
        self, isolated: Isolated, smtp: SmtpServer, clock: ShiftedClock | None = None, **overrides: Any
    ) -> None:
        self.isolated = isolated
        self.clock = clock or ShiftedClock()
        self.http_port = free_port()
        self.settings = NotifySettings(
            kafka_bootstrap=isolated.stack.kafka_bootstrap,
            mongo_url=isolated.stack.mongo_url,
            mongo_db=isolated.database,
            topic_prefix=isolated.prefix,
            grpc_port=free_port(),
            unsubscribe_http_port=self.http_port,
            unsubscribe_base_url=f"http://127.0.0.1:{self.http_port}",
            auth_hs256_key=AUTH_KEY,
            **overrides,
        )
        self.email = EmailSettings(host="127.0.0.1", port=smtp.port, tls="none")
        self.notify: Notify | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stops: list[Callable[[], None]] = []
        self._close: Callable[[], Awaitable[None]] | None = None
        self._server: GrpcServer | None = None
        self._channels: dict[tuple[str, str], grpc.aio.Channel] = {}

    @property
    def service(self) -> Notify:
        assert self.notify is not None
        return self.notify

    async def start(self) -> None:
        self.notify = wire(self.settings, self.clock, self.email, UnsubscribeSettings(secret=UNSUBSCRIBE_SECRET))
        parts = components(self.notify)
        server = GrpcServer.from_settings(self.settings, parts.service_names)
        parts.register(server)
        assert parts.start is not None and parts.stop is not None
        await parts.start()
        self._tasks = [asyncio.create_task(run()) for run, _ in parts.background]
        self._stops = [stop for _, stop in parts.background]
        await server.start()
        await server.set_ready(True)
        self._server, self._http_stop, self._close = server, parts.stop, parts.close
        await eventually(self.notify.views.current, 30, "the views read their topics")

    async def stop(self) -> None:
        assert self._server is not None
        for channel in self._channels.values():
            await channel.close()
        await self._server.stop(1)
        await self._http_stop()
        for stop in self._stops:
            stop()
        await asyncio.wait(self._tasks, timeout=10)
        if self._close:
            await self._close()
        await self.service.store.queue.database.client.close()

    def advance(self, delta: timedelta) -> None:
        self.clock.shift += delta
        self.service.loop.poke()

    def stub(self, subject: str, role: str = "advocate") -> notify_pb2_grpc.NotifyServiceStub:
        key = (subject, role)
        if key not in self._channels:  # kept: a channel nobody holds is closed under its calls
            token = dev_token(subject, role, key=AUTH_KEY)
            self._channels[key] = authorized_aio_channel(f"127.0.0.1:{self.settings.grpc_port}", token)
        return notify_pb2_grpc.NotifyServiceStub(self._channels[key])


class Events:
    """Produces the input events as the other services would (prefixed topics, keyed)."""

    def __init__(self, isolated: Isolated) -> None:
        self._prefix = isolated.prefix
        self._producer = AIOKafkaProducer(bootstrap_servers=isolated.stack.kafka_bootstrap, acks="all")

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: str, message: Message) -> None:
        await self.send_raw(topic, key, message.SerializeToString())

    async def send_raw(self, topic: str, key: str, value: bytes) -> None:
        await self._producer.send_and_wait(self._prefix + topic, key=key.encode(), value=value)

    async def advocate(
        self, advocate_id: str, version: int = 1, interests: tuple[str, ...] = (), **profile: Any
    ) -> None:
        snapshot = AdvocateSnapshot(advocate_id=advocate_id, display_name=advocate_id.title(), **profile)
        advocate = Advocate(profile=snapshot, interests=list(interests), enrolled=True, version=version)
        await self.send(
            "advocate-changed",
            advocate_id,
            AdvocateChanged(event_id=f"{advocate_id}:{version}", advocate=advocate, version=version),
        )

    async def publish(self, content_id: str, title: str, at: datetime, **fields: Any) -> ContentPublished:
        audience = Audience(**fields.pop("audience", {}))
        item = ContentItem(
            content_id=content_id,
            title=title,
            url=f"https://example.com/{content_id}",
            audience=audience,
            version=1,
            published_at=to_timestamp(at),
            **fields,
        )
        event = ContentPublished(
            event_id=f"pub-{content_id}",
            occurred_at=to_timestamp(at),
            kind=ContentPublished.Kind.KIND_PUBLISHED,
            item=item,
        )
        await self.send("content-published", content_id, event)
        return event

    async def share(
        self, advocate_id: str, content_id: str, at: datetime, leader: bool = False, team: str = "", audience: int = 100
    ) -> ShareMade:
        share = Share(
            share_id=f"s-{advocate_id}-{content_id}",
            content_id=content_id,
            advocate_id=advocate_id,
            audience_size=audience,
            shared_at=to_timestamp(at),
        )
        event = ShareMade(
            event_id=share.share_id,
            occurred_at=to_timestamp(at),
            share=share,
            advocate=AdvocateSnapshot(advocate_id=advocate_id, leader=leader, team=team),
        )
        await self.send("share-made", advocate_id, event)
        return event

    async def award(
        self,
        entry_id: str,
        advocate_id: str,
        points: int,
        at: datetime,
        rule: str = "share",
        units: int = 0,
        content_id: str = "",
    ) -> PointsAwarded:
        entry = LedgerEntry(
            entry_id=entry_id,
            advocate_id=advocate_id,
            points=points,
            rule=rule,
            units=units,
            content_id=content_id,
            occurred_at=to_timestamp(at),
        )
        event = PointsAwarded(event_id=entry_id, occurred_at=to_timestamp(at), entry=entry)
        await self.send("points-awarded", advocate_id, event)
        return event
