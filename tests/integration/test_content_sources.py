"""Feed sources and link previews on the real servers: a local HTTP site (in this process) serves
RSS and Atom feeds, article pages, a slow page and a redirect to a loopback name; the content
service polls and fetches them as in production, with the address guard on (only the site's own
127.0.0.1:<port> is allowed, as ADVOCACY_CONTENT_FETCH_ALLOW_HOSTS would allow an intranet host)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio
from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentPublished, ContentStatus
from aiohttp import web
from pymongo import AsyncMongoClient

from services.clients import Clients
from services.common.auth import ADMIN
from services.content.adapters.previews import preview_id
from services.content.domain.sources import entry_item_id
from services.demo.newsroom import Newsroom, stories
from services.platform.demo import register_newsroom
from tests.conftest import PORT_OFFSET, Isolated, make_isolated
from tests.integration.content_harness import (
    advocate_changed,
    content_process,
    eventually,
    produce,
    read_events,
    serving,
)

SITE_PORT = 25351 + PORT_OFFSET
SITE = f"http://127.0.0.1:{SITE_PORT}"
NEWSROOM_PORT = SITE_PORT + 1
FETCH_TIMEOUT = 1.5
ENV = {
    # Only the site's own address is exempt from the private-address guard: a redirect to
    # "localhost" (the same server, by another name) must be refused.
    "ADVOCACY_CONTENT_FETCH_ALLOW_HOSTS": f"127.0.0.1:{SITE_PORT},127.0.0.1:{NEWSROOM_PORT}",
    "ADVOCACY_CONTENT_FETCH_TIMEOUT_SECONDS": str(FETCH_TIMEOUT),
    # Short schedules so the test sees several polls within seconds.
    "ADVOCACY_CONTENT_SOURCE_MIN_INTERVAL_SECONDS": "1",
    "ADVOCACY_CONTENT_SOURCE_TICK_SECONDS": "0.2",
    "ADVOCACY_CONTENT_SOURCE_REFRESH_SECONDS": "0.5",
    "ADVOCACY_CONTENT_SOURCE_MAX_BACKOFF_SECONDS": "2",
}


def rss(items: list[tuple[str, str]]) -> str:
    """An RSS 2.0 feed of (guid, title) items linking to the site's article pages."""
    body = "".join(
        f"<item><title>{title}</title><link>{SITE}/article/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><description>&lt;p&gt;About {title}&lt;/p&gt;</description></item>'
        for guid, title in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{body}</channel></rss>'


def atom(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<entry><id>urn:{guid}</id><title>{title}</title><link href="{SITE}/article/{guid}"/>'
        f"<updated>2026-12-01T10:00:00Z</updated><summary>{title} in short</summary></entry>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Blog</title><id>urn:blog</id><updated>2026-12-01T10:00:00Z</updated>{body}</feed>"
    )


def article(name: str) -> str:
    return (
        f'<html><head><title>fallback</title><meta property="og:title" content="Article {name}">'
        f'<meta property="og:description" content="What {name} is about">'
        f'<meta property="og:image" content="/img/{name}.png"><meta property="og:site_name" content="Test Site">'
        "</head><body>text</body></html>"
    )


@dataclass
class Site:
    """The local web site: feeds the test changes, pages, and a log of what was asked."""

    feeds: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (content type, body)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    answered_304: list[str] = field(default_factory=list)

    def asked(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, dict(request.headers)))
        if path in self.feeds:
            content_type, body = self.feeds[path]
            etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
            if request.headers.get("If-None-Match") == etag:
                self.answered_304.append(path)
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(text=body, content_type=content_type, headers={"ETag": etag})
        if path.startswith("/article/"):
            return web.Response(text=article(path.rsplit("/", 1)[1]), content_type="text/html")
        if path == "/slow":
            await asyncio.sleep(FETCH_TIMEOUT * 3)
            return web.Response(text=article("slow"), content_type="text/html")
        if path.startswith("/to-loopback/"):
            # The same server by a loopback *name*: not on the allow list, so the hop is refused.
            raise web.HTTPFound(f"http://localhost:{SITE_PORT}/{path.split('/', 2)[2]}")
        if path == "/bare":
            return web.Response(text="<html><body>no head at all</body></html>", content_type="text/html")
        raise web.HTTPNotFound()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site():
    state = Site()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", SITE_PORT).start()
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(stack, site):
    isolated = make_isolated(stack)
    async with serving(isolated, **ENV) as (_, content):
        yield isolated, content


def new_source(path: str, publish: bool = False, **defaults) -> content_pb2.CreateSourceRequest:
    return content_pb2.CreateSourceRequest(
        source=content_pb2.FeedSource(
            url=f"{SITE}{path}",
            poll_interval_seconds=1,
            defaults=content_pb2.SourceDefaults(publish_directly=publish, **defaults),
        )
    )


async def source_status(content, source_id: str) -> content_pb2.FeedSource:
    listed = await content.ListSources(content_pb2.ListSourcesRequest())
    return next(s for s in listed.sources if s.source_id == source_id)


async def until_status(content, source_id: str, done: Callable[[content_pb2.SourceStatus], bool], within=30.0):
    async def probe():
        source = await source_status(content, source_id)
        return source if done(source.status) else None

    found = await eventually(probe, within=within)
    assert found is not None, f"source {source_id} never reached the state: {await source_status(content, source_id)}"
    return found


async def get(content, content_id: str) -> content_pb2.ContentItem:
    return await content.GetContent(content_pb2.GetContentRequest(content_id=content_id))


async def with_preview(content, content_id: str, within: float = 20.0) -> content_pb2.ContentItem:
    async def probe():
        item = await get(content, content_id)
        return item if item.HasField("preview") else None

    item = await eventually(probe, within=within)
    assert item is not None, f"no preview for {content_id}"
    return item


async def preview_doc(isolated: Isolated, url: str) -> dict | None:
    client: AsyncMongoClient = AsyncMongoClient(isolated.stack.mongo_url)
    try:
        return await client[isolated.database]["content_previews"].find_one({"_id": preview_id(url)})
    finally:
        await client.close()


async def settled_preview(isolated: Isolated, url: str, within: float = 20.0) -> dict:
    async def probe():
        doc = await preview_doc(isolated, url)
        return doc if doc and doc["state"] != "pending" else None

    doc = await eventually(probe, within=within)
    assert doc is not None, f"the preview of {url} was never settled"
    return doc


async def test_rss_source_publishes_new_entries_once_and_304_creates_nothing(service, site):
    isolated, content = service
    site.feeds["/news.xml"] = ("application/rss+xml", rss([("n1", "First"), ("n2", "Second")]))
    source = await content.CreateSource(new_source("/news.xml", publish=True, topics=["news"], language="en"))
    sid = source.source_id
    await until_status(content, sid, lambda s: s.items_created == 2)

    first = await get(content, entry_item_id(sid, "n1"))
    assert (first.status, first.title, first.summary) == (
        ContentStatus.CONTENT_STATUS_PUBLISHED,
        "First",
        "About First",
    )
    assert (list(first.topics), first.language, first.source_id) == (["news"], "en", sid)
    assert first.url == f"{SITE}/article/n1"

    # Unchanged: the next polls are conditional and answered 304; nothing is created.
    await until_status(content, sid, lambda s: site.answered_304.count("/news.xml") >= 2 and bool(s.etag))
    conditional = [h for h in site.asked("/news.xml") if "If-None-Match" in h]
    assert conditional, "the poller never sent If-None-Match"
    assert (await source_status(content, sid)).status.items_created == 2

    # Changed: one new entry (the old ones listed again) makes exactly one new item.
    site.feeds["/news.xml"] = ("application/rss+xml", rss([("n3", "Third"), ("n1", "First"), ("n2", "Second")]))
    status = (await until_status(content, sid, lambda s: s.items_created == 3)).status
    assert status.last_error == "" and status.consecutive_failures == 0
    third = await with_preview(content, entry_item_id(sid, "n3"))
    assert third.preview.title == "Article n3"
    assert third.preview.image_url == f"{SITE}/img/n3.png"
    assert (third.preview.description, third.preview.site_name) == ("What n3 is about", "Test Site")

    # Published through the outbox like any item: one `content-published` per entry, none twice.
    ids = {entry_item_id(sid, g) for g in ("n1", "n2", "n3")}
    events = await read_events(
        isolated.stack.kafka_bootstrap,
        f"{isolated.prefix}content-published",
        lambda evs: ids <= {e.item.content_id for e in evs},
        within=30,
    )
    published = [e.item.content_id for e in events if e.kind == ContentPublished.KIND_PUBLISHED]
    assert sorted(c for c in published if c in ids) == sorted(ids)
    await asyncio.sleep(1.5)  # two more polls of the unchanged feed
    assert (await source_status(content, sid)).status.items_created == 3


async def test_atom_source_items_enter_review_and_the_feed_shows_previews(service, site):
    isolated, content = service
    site.feeds["/blog.atom"] = ("application/atom+xml", atom([("a1", "Atom one")]))
    review = await content.CreateSource(new_source("/blog.atom", topics=["blog"]))
    await until_status(content, review.source_id, lambda s: s.items_created == 1)
    item = await get(content, entry_item_id(review.source_id, "urn:a1"))
    assert (item.status, item.title, item.summary) == (
        ContentStatus.CONTENT_STATUS_IN_REVIEW,
        "Atom one",
        "Atom one in short",
    )

    # A published item in an advocate's feed carries its preview.
    site.feeds["/feed-preview.xml"] = ("application/rss+xml", rss([("fp1", "For the feed")]))
    direct = await content.CreateSource(new_source("/feed-preview.xml", publish=True, topics=["blog"]))
    await until_status(content, direct.source_id, lambda s: s.items_created == 1)
    content_id = entry_item_id(direct.source_id, "fp1")
    await with_preview(content, content_id)
    await produce(
        isolated.stack.kafka_bootstrap,
        f"{isolated.prefix}advocate-changed",
        [("reader", advocate_changed("reader", interests=("blog",)))],
    )

    async def entry():
        try:
            page = await content.ListFeed(content_pb2.ListFeedRequest(advocate_id="reader", page_size=100))
        except grpc.aio.AioRpcError:
            return None  # the advocate view follows Kafka
        return next((e for e in page.entries if e.item.content_id == content_id), None)

    found = await eventually(entry, within=30)
    assert found is not None and found.item.preview.title == "Article fp1"


async def test_broken_feeds_record_their_error_and_others_keep_working(service, site):
    _, content = service
    site.feeds["/broken.xml"] = ("application/rss+xml", "<rss><channel><item><title>a<<</item")
    site.feeds["/not-a-feed.html"] = ("text/html", "<html><head><title>x</title></head><body>hi</body></html>")
    site.feeds["/fine.xml"] = ("application/rss+xml", rss([("ok1", "Fine")]))
    broken = await content.CreateSource(new_source("/broken.xml"))
    html = await content.CreateSource(new_source("/not-a-feed.html"))
    unreachable = await content.CreateSource(
        content_pb2.CreateSourceRequest(
            source=content_pb2.FeedSource(url=f"{SITE}/missing.xml", poll_interval_seconds=1)
        )
    )
    fine = await content.CreateSource(new_source("/fine.xml"))
    failing = {s.source_id: s for s in (broken, html, unreachable)}
    for sid in failing:
        await until_status(content, sid, lambda s: s.consecutive_failures >= 2)
    await until_status(content, fine.source_id, lambda s: s.items_created == 1 and s.last_error == "")
    errors = {sid: (await source_status(content, sid)).status.last_error for sid in failing}
    assert "malformed feed" in errors[broken.source_id]
    assert "not an RSS or Atom feed" in errors[html.source_id]
    assert "HTTP 404" in errors[unreachable.source_id]
    status = (await source_status(content, broken.source_id)).status
    # Backed off: the next poll is later than the 1 s interval after the last one.
    assert status.next_poll_at.ToDatetime() - status.last_poll_at.ToDatetime() > timedelta(seconds=1)

    # Pause stops polling; deleting removes the source (its items stay).
    paused = await content.PauseSource(content_pb2.PauseSourceRequest(source_id=fine.source_id, paused=True))
    assert paused.paused
    asked = len(site.asked("/fine.xml"))
    await asyncio.sleep(2.0)
    assert len(site.asked("/fine.xml")) <= asked + 1  # at most a poll that was already under way
    await content.DeleteSource(content_pb2.DeleteSourceRequest(source_id=fine.source_id))
    listed = await content.ListSources(content_pb2.ListSourcesRequest())
    assert fine.source_id not in {s.source_id for s in listed.sources}
    assert (await get(content, entry_item_id(fine.source_id, "ok1"))).title == "Fine"


async def test_invalid_sources_are_refused_with_the_field_named(service):
    _, content = service
    cases = {
        "source.url": content_pb2.FeedSource(url="ftp://example.com/feed"),
        "source.poll_interval_seconds": content_pb2.FeedSource(url=f"{SITE}/x.xml", poll_interval_seconds=10**6),
        "source.defaults.topics[0]": content_pb2.FeedSource(
            url=f"{SITE}/x.xml", defaults=content_pb2.SourceDefaults(topics=[""])
        ),
    }
    for field_name, source in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await content.CreateSource(content_pb2.CreateSourceRequest(source=source))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_name in (err.value.details() or ""), err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.PauseSource(content_pb2.PauseSourceRequest(source_id="nope", paused=True))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_previews_slow_page_times_out_and_loopback_redirect_is_refused(service, site):
    isolated, content = service
    started = time.monotonic()
    slow = await content.CreateContent(
        content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="Slow page", url=f"{SITE}/slow"))
    )
    # The item does not wait for its page.
    assert time.monotonic() - started < FETCH_TIMEOUT
    redirected = await content.CreateContent(
        content_pb2.CreateContentRequest(
            item=content_pb2.ContentItem(title="Redirected", url=f"{SITE}/to-loopback/article/r1")
        )
    )
    slow_doc = await settled_preview(isolated, slow.url)
    assert slow_doc["state"] == "failed" and "no complete answer within" in slow_doc["error"]
    redirect_doc = await settled_preview(isolated, redirected.url)
    assert redirect_doc["state"] == "failed" and "non-public address" in redirect_doc["error"], redirect_doc
    assert not any(p == "/article/r1" for p, _ in site.requests), "the refused hop was fetched anyway"
    for item in (slow, redirected):
        got = await get(content, item.content_id)
        assert got.title == item.title and not got.HasField("preview")

    # A feed behind such a redirect fails like any unreachable feed.
    site.feeds["/behind.xml"] = ("application/rss+xml", rss([("b1", "Behind")]))
    behind = await content.CreateSource(new_source("/to-loopback/behind.xml"))
    status = (await until_status(content, behind.source_id, lambda s: s.consecutive_failures >= 1)).status
    assert "refused" in status.last_error and status.items_created == 0


async def test_suggest_by_url_only_fills_title_summary_and_image(service):
    _, content = service
    suggested = await content.SuggestContent(
        content_pb2.SuggestContentRequest(advocate_id="aino", item=content_pb2.ContentItem(url=f"{SITE}/article/idea"))
    )
    assert suggested.status == ContentStatus.CONTENT_STATUS_IN_REVIEW
    assert (suggested.title, suggested.summary) == ("Article idea", "What idea is about")
    assert list(suggested.media_urls) == [f"{SITE}/img/idea.png"]
    assert (await get(content, suggested.content_id)).preview.title == "Article idea"

    for url, code in (
        (f"{SITE}/bare", grpc.StatusCode.FAILED_PRECONDITION),
        ("not a url", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await content.SuggestContent(
                content_pb2.SuggestContentRequest(advocate_id="aino", item=content_pb2.ContentItem(url=url))
            )
        assert err.value.code() == code, err.value.details()
        assert "item.url" in (err.value.details() or "")


async def test_the_demo_newsroom_makes_content_arrive_by_itself(service):
    """`make run`'s newsroom (a story every second here, every few minutes in the demo) and its
    source, registered as the demo does: published items keep arriving, each once, with previews."""
    isolated, content = service
    newsroom = Newsroom("127.0.0.1", NEWSROOM_PORT, every_seconds=1.0).start()
    try:
        process = content_process(isolated)  # only for its address and an admin token
        clients = Clients.from_env(token=process.token(ADMIN, "demo"), content=process.address("content"))
        try:
            sid = await asyncio.to_thread(register_newsroom, clients, newsroom.feed_url, 1)
            assert await asyncio.to_thread(register_newsroom, clients, newsroom.feed_url, 1) == sid  # once
        finally:
            clients.close()
        first = (await until_status(content, sid, lambda s: s.items_created >= 1)).status.items_created
        # New stories appear while nobody does anything; the poller (1 s here) picks each up.
        later = (await until_status(content, sid, lambda s: s.items_created >= first + 2, within=60)).status
        assert later.last_error == ""
    finally:
        newsroom.stop()
    story = stories(time.time(), 1.0)[5]
    item = await with_preview(content, entry_item_id(sid, f"demo-newsroom-{story.number}"))
    assert item.status == ContentStatus.CONTENT_STATUS_PUBLISHED
    assert item.title == story.title == item.preview.title


async def test_duplicate_entries_two_replicas_and_a_restart_create_each_item_once(stack, site):
    """The same guid twice in one feed, two replicas polling one database, then one replica
    restarted: every entry is one item and one `content-published` event."""
    isolated = make_isolated(stack)
    entries = [(f"d{i}", f"Dup {i}") for i in range(5)]
    site.feeds["/dup.xml"] = ("application/rss+xml", rss([*entries, ("d0", "Dup 0 again")]))
    # Replicas 2 and 3: this module's shared service holds replica 0's port.
    async with serving(isolated, 2, **ENV) as (_, first), serving(isolated, 3, **ENV) as (_, second):
        source = await first.CreateSource(new_source("/dup.xml", publish=True))
        sid = source.source_id
        await until_status(first, sid, lambda s: s.items_created >= 5)
        # Both replicas see the source; a new entry is picked up by whichever wins the slot.
        site.feeds["/dup.xml"] = ("application/rss+xml", rss([("d5", "Dup 5"), *entries]))
        await until_status(second, sid, lambda s: s.items_created >= 6)
        await asyncio.sleep(2.0)  # several more polls by both
    async with serving(isolated, 2, **ENV) as (_, again):
        site.feeds["/dup.xml"] = ("application/rss+xml", rss([("d6", "Dup 6"), ("d5", "Dup 5"), *entries]))
        status = (await until_status(again, sid, lambda s: s.items_created >= 7)).status
        await asyncio.sleep(1.5)
        assert (await source_status(again, sid)).status.items_created == 7 == status.items_created
        listed = await again.ListContent(content_pb2.ListContentRequest(page_size=100))
    ids = [i.content_id for i in listed.items if i.source_id == sid]
    assert sorted(ids) == sorted(entry_item_id(sid, f"d{i}") for i in range(7))
    events = await read_events(
        stack.kafka_bootstrap,
        f"{isolated.prefix}content-published",
        lambda evs: set(ids) <= {e.item.content_id for e in evs},
        within=30,
    )
    per_item = [e.item.content_id for e in events if e.kind == ContentPublished.KIND_PUBLISHED]
    assert sorted(per_item) == sorted(ids), "an entry was published twice or not at all"
