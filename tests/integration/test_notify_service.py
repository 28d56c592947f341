"""The notify service on the real broker and FerretDB, delivering to a real SMTP server and a local
webhook receiver: each kind once, in the advocate's language and timezone; redelivered events send
nothing again; opt-out by link and by RPC; quiet hours and the rate limit delay without dropping;
an SMTP outage (with a restart of the service in it) delays email and loses or doubles nothing."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import grpc
import pytest
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.notify.v1 import notify_pb2
from aiokafka import AIOKafkaConsumer

from services.notify.domain.unsubscribe import make_token
from services.platform.supervisor import Platform, ServicePorts
from tests.conftest import ROOT, Isolated, make_isolated
from tests.integration.notify_harness import (
    UNSUBSCRIBE_SECRET,
    Events,
    NotifyHarness,
    SmtpServer,
    TopicReader,
    WebhookReceiver,
    eventually,
    free_port,
)

# The outage: SMTP stopped 30 s (shorter locally with NOTIFY_SMTP_OUTAGE_SECONDS).
OUTAGE_SECONDS = float(os.environ.get("NOTIFY_SMTP_OUTAGE_SECONDS", "30"))
HELSINKI = ZoneInfo("Europe/Helsinki")
ALL_KINDS = [
    notify_pb2.NOTIFICATION_KIND_THANK_YOU,
    notify_pb2.NOTIFICATION_KIND_NEW_CONTENT,
    notify_pb2.NOTIFICATION_KIND_LEADER_SHARED,
    notify_pb2.NOTIFICATION_KIND_DIGEST,
]


class World:
    def __init__(self, isolated: Isolated) -> None:
        self.isolated = isolated
        self.smtp = SmtpServer()
        self.hooks = WebhookReceiver()
        # Digests at the next full hour in Helsinki: not due until the test moves the clock there.
        self.settings = {
            "thank_you_window_seconds": 2,
            "thank_you_grace_seconds": 0.5,
            "retry_initial_seconds": 0.5,
            "retry_max_seconds": 2.0,
            "rate_limit_per_hour": 5,
            "digest_hour": (datetime.now(HELSINKI).hour + 1) % 24,
            "digest_tick_seconds": 0.3,
        }
        self.notify = NotifyHarness(isolated, self.smtp, **self.settings)
        self.events = Events(isolated)
        self.topic = TopicReader(isolated.stack.kafka_bootstrap, isolated.prefix + "notification-sent")

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def prefs(self, advocate_id: str, *channels: tuple[int, str], caller: str = "", **fields: object) -> None:
        """Sets the advocate's preferences as `caller` (an advocate), else as an admin."""
        request = notify_pb2.UpdatePreferencesRequest(
            advocate_id=advocate_id,
            preferences=notify_pb2.Preferences(
                channels=[notify_pb2.ChannelSetting(channel=c, address=a) for c, a in channels],
                kinds=ALL_KINDS,
                digest_frequency=fields.pop("digest", notify_pb2.DIGEST_FREQUENCY_DAILY),  # type: ignore[arg-type]
                **fields,  # type: ignore[arg-type]
            ),
        )
        stub = self.notify.stub(caller, "advocate") if caller else self.notify.stub("admin-1", "admin")
        await stub.UpdatePreferences(request)

    async def enrol(self, advocate_id: str, **profile: object) -> None:
        await self.events.advocate(advocate_id, **profile)  # type: ignore[arg-type]

    async def known(self, *advocate_ids: str) -> None:
        views = self.notify.service.views
        await eventually(lambda: all(views.advocate(a) for a in advocate_ids), 20, f"views know {advocate_ids}")

    def done(self, notification_id: str) -> asyncio.Future[dict | None]:
        return asyncio.ensure_future(self.notify.service.store.done.find_one({"_id": notification_id}))


@pytest.fixture(scope="module")
async def world(stack) -> AsyncIterator[World]:
    w = World(make_isolated(stack, "n"))
    w.smtp.start()
    await w.hooks.start()
    await w.events.start()
    await w.topic.start()
    await w.notify.start()
    yield w
    await w.notify.stop()
    await w.topic.stop()
    await w.events.stop()
    await w.hooks.stop()
    w.smtp.stop()


async def test_each_kind_once_in_the_advocates_language_and_timezone(world: World) -> None:
    w = world
    await w.enrol("aino", team="t1", language="fi", timezone="Europe/Helsinki", interests=("ai",))
    await w.enrol("leo", team="t1", language="en", timezone="Europe/London", leader=True)
    await w.enrol("nyc", team="t1", language="en", timezone="America/New_York")
    await w.known("aino", "leo", "nyc")
    # Aino sets her own channels (as herself); the admin sets the others'.
    await w.prefs(
        "aino",
        (notify_pb2.CHANNEL_EMAIL, "aino@example.fi"),
        (notify_pb2.CHANNEL_SLACK, w.hooks.url("slack/aino")),
        (notify_pb2.CHANNEL_TEAMS, w.hooks.url("teams/aino")),
        (notify_pb2.CHANNEL_TOPIC, ""),
        caller="aino",
    )
    await w.prefs("leo", (notify_pb2.CHANNEL_TOPIC, ""))
    await w.prefs("nyc", (notify_pb2.CHANNEL_TOPIC, ""))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await w.prefs("nyc", (notify_pb2.CHANNEL_TOPIC, ""), caller="aino")
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await w.prefs("aino", (notify_pb2.CHANNEL_EMAIL, "not-an-address"), caller="aino")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "channels.email" in str(invalid.value.details())

    t0 = w.now()
    published = await w.events.publish(
        "c1",
        "Tekoäly tuotannossa",
        t0,
        topics=["ai"],
        language="fi",
        audience={"teams": ["t1"], "languages": ["fi", "en"]},
    )
    await eventually(lambda: len(w.smtp.mailbox.to("aino@example.fi")) == 1, 20, "new content email")
    leader_share = await w.events.share("leo", "c1", w.now(), leader=True, team="t1")
    await eventually(lambda: len(w.smtp.mailbox.to("aino@example.fi")) == 2, 20, "leader email")
    await w.events.share("aino", "c1", w.now(), team="t1", audience=2400)
    awards = [
        await w.events.award("e1", "aino", 10, w.now(), content_id="c1"),
        await w.events.award("e2", "aino", 1, w.now(), rule="click", units=1, content_id="c1"),
        await w.events.award("e3", "aino", 0, w.now(), rule="reaction", content_id="c1"),
    ]
    await eventually(lambda: len(w.smtp.mailbox.to("aino@example.fi")) == 3, 20, "thank-you email")

    subjects = sorted(str(m["Subject"]) for m in w.smtp.mailbox.to("aino@example.fi"))
    assert subjects == [
        "Kiitos jakamisesta! Sait 11 pistettä",
        "Leo jakoi juuri: Tekoäly tuotannossa",
        "Uutta jaettavaa: Tekoäly tuotannossa",
    ]
    thanks = next(m for m in w.smtp.mailbox.to("aino@example.fi") if "Kiitos" in str(m["Subject"]))
    body = thanks.get_body(("plain",))
    assert body is not None and "2\u00a0400" in body.get_content()  # her share's reach, written the Finnish way
    assert str(thanks["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    # The channels of one message go one after another: email first, the webhooks a moment later.
    await eventually(
        lambda: [len(w.hooks.posts.get(p, [])) for p in ("slack/aino", "teams/aino")] == [3, 3], 10, "hooks"
    )
    await eventually(lambda: len(w.topic.ids("aino")) == 3 and len(w.topic.ids("nyc")) == 2, 10, "topic")
    assert sorted(w.topic.ids("nyc")) == ["leader:c1:nyc", "new:c1:nyc"]
    assert w.topic.ids("leo") == ["new:c1:leo"]  # the leader is not told of their own share

    # Every input event again (a redelivery), then a marker item: nothing is sent twice.
    for topic, key, event in [("content-published", "c1", published), ("share-made", "leo", leader_share)] + [
        ("points-awarded", "aino", a) for a in awards
    ]:
        await w.events.send(topic, key, event)
    await w.events.publish("c2", "Toinen", w.now(), language="fi", audience={"teams": ["t1"]})
    await eventually(lambda: "new:c2:aino" in w.topic.ids("aino"), 20, "the marker item")
    await asyncio.sleep(2)
    assert len(w.smtp.mailbox.to("aino@example.fi")) == 4
    assert len(w.hooks.posts["slack/aino"]) == 4 and len(w.hooks.posts["teams/aino"]) == 4
    assert sorted(w.topic.ids("aino")) == sorted(
        ["new:c1:aino", "leader:c1:aino", f"thanks:aino:{_window_id(awards[0])}", "new:c2:aino"]
    )

    # The next full hour in Helsinki: Aino's daily digest, in Finnish; New York's 08:00 is hours away.
    local = w.notify.clock().astimezone(HELSINKI)
    w.notify.advance(local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=1) - local)
    await eventually(lambda: len(w.smtp.mailbox.to("aino@example.fi")) == 5, 20, "digest email")
    digest = w.smtp.mailbox.to("aino@example.fi")[-1]
    assert str(digest["Subject"]).startswith("Päivän koonti")
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Tekoäly tuotannossa" in text and "11" in text and "2\u00a0400" in text
    await asyncio.sleep(1)
    assert not [i for i in w.topic.ids("nyc") if i.startswith("digest:")]
    assert len([i for i in w.topic.ids("aino") if i.startswith("digest:")]) == 1


def _window_id(award) -> str:  # type: ignore[no-untyped-def]
    at = award.entry.occurred_at.ToDatetime(tzinfo=UTC)
    start = datetime.fromtimestamp(int(at.timestamp()) // 2 * 2, tz=UTC)
    return start.strftime("%Y%m%dT%H%M%SZ")


async def test_opt_out_by_link_and_by_rpc(world: World) -> None:
    w = world
    await w.enrol("olli", team="t2", language="fi", timezone="Europe/Helsinki")
    await w.enrol("ona", team="t2", language="en")
    await w.enrol("otto", team="t2", language="en")
    await w.known("olli", "ona", "otto")
    for who in ("olli", "ona", "otto"):
        await w.prefs(who, (notify_pb2.CHANNEL_TOPIC, ""))
    base = w.notify.settings.unsubscribe_base_url
    token = make_token(UNSUBSCRIBE_SECRET.encode(), "olli")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/unsubscribe/{token}") as page:
            assert page.status == 200 and "<form" in await page.text()
        # Showing the page (a link scanner) changes nothing.
        assert not (
            await w.notify.stub("olli", "advocate").GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id="olli"))
        ).preferences.opted_out
        async with http.post(f"{base}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}) as done:
            assert done.status == 200
        async with http.post(f"{base}/unsubscribe/{token[:-2]}xx") as forged:
            assert forged.status == 404
    olli = await w.notify.stub("olli", "advocate").GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id="olli"))
    assert olli.preferences.opted_out
    ona = await w.notify.stub("ona", "advocate").OptOut(notify_pb2.OptOutRequest(advocate_id="ona"))
    assert ona.preferences.opted_out

    await w.events.publish("c3", "Opt-out check", w.now(), audience={"teams": ["t2"]})
    await eventually(lambda: "new:c3:otto" in w.topic.ids("otto"), 20, "the advocate still subscribed")
    for who in ("olli", "ona"):
        # Not even planned (the planner asks the preferences), so never sent.
        assert await w.done(f"new:c3:{who}") is None
        assert await w.notify.service.store.queue.find_one({"_id": f"new:c3:{who}"}) is None
        assert w.topic.ids(who) == []


async def test_concurrent_first_opt_outs_of_one_advocate_all_succeed(world: World) -> None:
    # Two upserts of a new _id can both try the insert: the loser must not answer INTERNAL.
    stub = world.notify.stub("admin", "admin")
    replies = await asyncio.gather(*(stub.OptOut(notify_pb2.OptOutRequest(advocate_id="ossi")) for _ in range(8)))
    assert all(r.preferences.opted_out for r in replies)


async def test_quiet_hours_and_rate_limit_delay_without_dropping(world: World) -> None:
    w = world
    await w.enrol("quinn", team="t3", language="en", timezone="Europe/Helsinki")
    await w.enrol("rita", team="t4", language="en", timezone="UTC")
    await w.known("quinn", "rita")
    local = w.notify.clock().astimezone(HELSINKI)
    quiet = {
        "quiet_hours_start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "quiet_hours_end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }
    await w.prefs("quinn", (notify_pb2.CHANNEL_TOPIC, ""), **quiet)
    await w.prefs("rita", (notify_pb2.CHANNEL_TOPIC, ""))

    await w.events.publish("c4", "At night", w.now(), audience={"teams": ["t3"]})
    for i in range(6):
        await w.events.publish(f"r{i}", f"Item {i}", w.now(), audience={"teams": ["t4"]})
    # (Digests may come too: test one moved the clock to the digest hour. Only new content counts here.)
    await eventually(lambda: len(w.topic.ids("rita", "new:")) == 5, 20, "five messages within the hour")
    queued = w.notify.service.store.queue
    assert await queued.find_one({"_id": "new:c4:quinn"}) is not None  # planned, waiting
    await asyncio.sleep(1)
    assert w.topic.ids("quinn") == [] and len(w.topic.ids("rita", "new:")) == 5

    w.notify.advance(timedelta(hours=1, minutes=2))
    await eventually(lambda: w.topic.ids("quinn", "new:") == ["new:c4:quinn"], 20, "after the quiet hours")
    await eventually(lambda: len(w.topic.ids("rita", "new:")) == 6, 20, "the sixth after the hour")
    assert sorted(w.topic.ids("rita", "new:")) == sorted(f"new:r{i}:rita" for i in range(6))


async def test_smtp_outage_delays_email_and_loses_or_doubles_nothing(world: World) -> None:
    w = world
    await w.enrol("sam", team="t5", language="en")
    await w.known("sam")
    await w.prefs("sam", (notify_pb2.CHANNEL_EMAIL, "sam@example.com"), (notify_pb2.CHANNEL_TOPIC, ""))
    w.smtp.stop()
    await w.events.publish("o1", "During the outage", w.now(), audience={"teams": ["t5"]})
    await w.events.publish("o2", "Also during it", w.now(), audience={"teams": ["t5"]})
    await eventually(lambda: len(w.topic.ids("sam")) == 2, 20, "the topic is not held up by email")
    await asyncio.sleep(OUTAGE_SECONDS / 2)
    # The service restarts during the outage: the waiting emails come back from the queue collection.
    await w.notify.stop()
    # Its clock goes on where the old one was (earlier tests moved it hours ahead: due times are there).
    w.notify = NotifyHarness(w.isolated, w.smtp, w.notify.clock, **w.settings)
    await w.notify.start()
    await asyncio.sleep(OUTAGE_SECONDS / 2)
    assert w.smtp.mailbox.to("sam@example.com") == []
    w.smtp.start()
    await eventually(lambda: len(w.smtp.mailbox.to("sam@example.com")) == 2, 20, "emails after the outage")
    await asyncio.sleep(3)  # retries scheduled before the restart must not send a second copy
    subjects = sorted(str(m["Subject"]) for m in w.smtp.mailbox.to("sam@example.com"))
    assert subjects == ["New to share: Also during it", "New to share: During the outage"]
    assert len(w.topic.ids("sam")) == 2  # the restart sent the topic nothing again


def test_the_service_process_serves_and_stops_gracefully(stack) -> None:
    """`python -m services.notify` as `make run` and Kubernetes start it: SERVING, then exit 0 on SIGTERM."""
    isolated = make_isolated(stack, "p")
    grpc_port, metrics_port = free_port(), free_port()
    platform = Platform(
        env={**isolated.env, "ADVOCACY_SHUTDOWN_GRACE_SECONDS": "2"},
        log_dir=ROOT / ".local" / "test" / "logs" / isolated.prefix,
        ports={"notify": ServicePorts(grpc_port, metrics_port)},
    )
    try:
        platform.start_service("notify")
        platform.wait_serving("notify", timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{grpc_port + 1000}/healthz", timeout=5) as page:
            assert page.read() == b"ok"  # the unsubscribe page's server, beside gRPC as the runner sets it
    finally:
        assert platform.stop_service("notify") == 0


async def test_poison_input_goes_to_the_dlq_and_the_planner_goes_on(world: World) -> None:
    w = world
    await w.enrol("pia", team="t6", language="en")
    await w.known("pia")
    await w.prefs("pia", (notify_pb2.CHANNEL_TOPIC, ""))
    dlq = AIOKafkaConsumer(
        w.isolated.prefix + "content-published.dlq",
        bootstrap_servers=w.isolated.stack.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await dlq.start()
    try:
        await w.events.send_raw("content-published", "junk", b"\xff\x00 not protobuf")
        await w.events.send("content-published", "no-id", ContentPublished(kind=ContentPublished.Kind.KIND_PUBLISHED))
        await w.events.publish("after-poison", "After the poison", w.now(), audience={"teams": ["t6"]})
        await eventually(lambda: "new:after-poison:pia" in w.topic.ids("pia"), 20, "the item after the poison")
        reasons: set[str] = set()
        for _ in range(20):
            if len(reasons) >= 2:
                break
            letters = await dlq.getmany(timeout_ms=500)
            reasons |= {dict(r.headers)["dlq.reason"].decode() for rs in letters.values() for r in rs}
        # (A rebalance before the commit may dead-letter one twice: at least once, like every consumer.)
        assert reasons == {"invalid", "undecodable_value"}
    finally:
        await dlq.stop()
