"""Feed sources and link previews, the pure parts and the use cases over in-memory fakes: entry ->
item mapping, the de-duplicating id, backoff, poll claims, feed parsing, OpenGraph extraction and
the address guard."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus, FeedSource, SourceDefaults, SourceStatus

from services.common.events import from_timestamp
from services.common.outbox import OutboxEvent
from services.content.adapters.events import ContentEvents
from services.content.adapters.feeds import NotAFeed, parse_feed
from services.content.app.feed_items import FeedItemWriter
from services.content.app.polling import ERROR, NEW_ITEMS, NOT_MODIFIED, UNCHANGED, FeedPolling
from services.content.app.ports import ItemExists
from services.content.domain import sources
from services.content.domain.lifecycle import MAX_TITLE
from services.content.domain.preview import extract_preview, is_public_address
from services.content.domain.sources import FeedEntry, InvalidSource, UnusableEntry

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def entry(**fields) -> FeedEntry:
    base = dict(guid="g1", link="https://example.com/a", title="A title", summary_html="<p>Some &amp; text</p>")
    base.update(fields)
    return FeedEntry(**base)  # type: ignore[arg-type]


# --- domain ---------------------------------------------------------------------------------


def test_an_entry_becomes_an_item_with_the_sources_defaults():
    defaults = sources.SourceDefaults(topics=("news",), language="de", campaign_id="c1", publish_directly=True)
    got = sources.entry_fields(
        entry(image_urls=("https://example.com/i.png", "ftp://x/i.png", "https://example.com/i.png")), defaults
    )
    assert (got.title, got.summary, got.url) == ("A title", "Some & text", "https://example.com/a")
    assert (got.topics, got.language, got.campaign_id) == (("news",), "de", "c1")
    assert got.media_urls == ("https://example.com/i.png",)  # http(s) only, once


def test_an_entry_without_title_takes_its_summary_and_long_texts_are_clipped():
    got = sources.entry_fields(entry(title="", summary_html="x" * 5000), sources.SourceDefaults())
    assert len(got.title) == MAX_TITLE and got.title.endswith("…")
    assert got.title.startswith("xxx")


@pytest.mark.parametrize("link", ["", "javascript:alert(1)", "/relative/only"])
def test_an_entry_without_an_http_link_is_unusable(link: str):
    with pytest.raises(UnusableEntry):
        sources.entry_fields(entry(link=link), sources.SourceDefaults())


def test_the_item_id_is_the_same_for_the_same_entry_and_differs_otherwise():
    key = sources.entry_key(entry())
    assert key == "g1"
    assert sources.entry_key(entry(guid="  ")) == "https://example.com/a"  # no guid: the link
    one = sources.entry_item_id("s1", key)
    assert one == sources.entry_item_id("s1", "g1") and len(one) == 32 and int(one, 16) >= 0
    assert one != sources.entry_item_id("s2", "g1") != sources.entry_item_id("s1", "g2")


def test_backoff_doubles_per_failure_up_to_the_cap_and_never_below_the_interval():
    delays = [(sources.next_poll(NOW, 60, n, 600) - NOW).total_seconds() for n in range(6)]
    assert delays == [60, 120, 240, 480, 600, 600]
    assert (sources.next_poll(NOW, 900, 3, 600) - NOW).total_seconds() == 900


def test_source_validation_names_the_field():
    ok = sources.validate_source("https://example.com/feed", 0, sources.SourceDefaults(), 60)
    assert ok == sources.DEFAULT_INTERVAL_SECONDS
    cases = {
        "url": ("file:///etc/passwd", 0, sources.SourceDefaults()),
        "poll_interval_seconds": ("https://example.com/f", 5, sources.SourceDefaults()),
        "defaults.topics[0]": ("https://example.com/f", 0, sources.SourceDefaults(topics=(" ",))),
        "defaults.language": ("https://example.com/f", 0, sources.SourceDefaults(language="x" * 500)),
    }
    for name, (url, interval, defaults) in cases.items():
        with pytest.raises(InvalidSource) as err:
            sources.validate_source(url, interval, defaults, 60)
        assert err.value.field == name


def test_a_poll_claim_is_shared_by_replicas_and_free_again_one_lease_later():
    due = NOW - timedelta(seconds=1)
    assert sources.claim_id("s", due, NOW, 60) == sources.claim_id("s", due, NOW + timedelta(seconds=30), 60)
    assert sources.claim_id("s", due, NOW, 60) != sources.claim_id("s", due, NOW + timedelta(seconds=61), 60)
    assert sources.claim_id("s", None, NOW, 60).startswith("s@0/")


def test_open_graph_first_then_twitter_then_the_title():
    page = """<html><head><title>Plain</title>
      <meta name="twitter:title" content="Tw title"><meta property="og:title" content=" OG   title ">
      <meta name="twitter:description" content="Tw description"><meta name="twitter:image" content="/a.png">
      <meta property="og:site_name" content="Site"></head><body></body></html>"""
    got = extract_preview(page, "https://example.com/post/1")
    assert (got.title, got.description, got.image_url, got.site_name) == (
        "OG title",
        "Tw description",
        "https://example.com/a.png",
        "Site",
    )
    bare = extract_preview(b"<html><head><title>Only a title</title></head></html>", "https://example.com/")
    assert (bare.title, bare.image_url) == ("Only a title", "")
    assert extract_preview("<p>nothing</p>", "https://example.com/").is_empty()
    js = extract_preview('<meta property="og:image" content="javascript:x">', "https://example.com/")
    assert js.image_url == ""


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),  # loopback in IPv6 clothing
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_pass_the_guard(address: str, public: bool):
    assert is_public_address(address) is public


def test_feeds_rss_and_atom_parse_html_and_broken_xml_do_not():
    rss = parse_feed(
        b'<rss version="2.0"><channel><title>t</title><item><title>A</title><link>https://e.com/a</link>'
        b'<guid isPermaLink="false">g1</guid>'
        b'<enclosure url="https://e.com/i.jpg" type="image/jpeg" length="1"/></item></channel></rss>',
        "https://e.com/rss",
    )
    assert [(e.guid, e.link, e.image_urls) for e in rss] == [("g1", "https://e.com/a", ("https://e.com/i.jpg",))]
    atom = parse_feed(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:1</id><title>B</title>'
        b'<link href="/b"/><content type="html">&lt;b&gt;x&lt;/b&gt;</content></entry></feed>',
        "https://e.com/atom",
    )
    assert [(e.guid, e.link, e.summary_html) for e in atom] == [("urn:1", "https://e.com/b", "<b>x</b>")]
    with pytest.raises(NotAFeed, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "https://e.com/", "text/html")
    with pytest.raises(NotAFeed, match="malformed"):
        parse_feed(b"<rss><channel><item><title>a<<</item", "https://e.com/")


# --- use cases over fakes ---------------------------------------------------------------------


@dataclass
class FakeItems:
    items: dict[str, ContentItem] = field(default_factory=dict)
    events: list[OutboxEvent] = field(default_factory=list)

    async def insert(self, item: ContentItem) -> None:
        if item.content_id in self.items:
            raise ItemExists("exists")
        self.items[item.content_id] = item

    async def get(self, content_id: str) -> ContentItem | None:
        return self.items.get(content_id)

    async def replace(self, item, expected_version, events, expected_status=None) -> bool:
        if self.items[item.content_id].version != expected_version:
            return False
        self.items[item.content_id] = item
        self.events.extend(events)
        return True


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    url: str = "https://e.com/feed"


class FakeFetcher:
    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[dict[str, str]] = []

    async def get(self, url, max_bytes, headers=None):
        self.asked.append(dict(headers or {}))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def feed(*guids: str) -> bytes:
    items = "".join(f"<item><title>{g}</title><link>https://e.com/{g}</link><guid>{g}</guid></item>" for g in guids)
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def source(publish: bool) -> FeedSource:
    return FeedSource(
        source_id="s1",
        url="https://e.com/feed",
        poll_interval_seconds=60,
        defaults=SourceDefaults(publish_directly=publish, topics=["t"]),
    )


class Refused(Exception):
    kind = "refused"


def polling(items: FakeItems, fetcher: FakeFetcher) -> FeedPolling:
    writer = FeedItemWriter(items, ContentEvents(lambda name: name), lambda version: None)
    return FeedPolling(fetcher, parse_feed, writer, max_bytes=10**6, max_backoff_seconds=3600)


def test_polls_create_each_entry_once_send_validators_and_back_off_on_failure():
    items = FakeItems()
    fetcher = FakeFetcher(
        Answer(200, feed("a", "b", "a"), {"ETag": '"v1"', "Last-Modified": "Sun, 06 Dec 2026 10:00:00 GMT"}),
        Answer(304),
        Answer(200, feed("c", "a", "b"), {"ETag": '"v2"'}),
        Refused("refused: 10.0.0.1 is not public"),
        Answer(200, feed("c", "a", "b"), {"ETag": '"v2"'}),
    )
    poll = polling(items, fetcher)

    async def run() -> list:
        status, results = SourceStatus(), []
        for _ in range(5):
            result = await poll.poll(source(publish=True), status, NOW)
            status = result.status
            results.append(result)
        return results

    results = asyncio.run(run())
    assert [(r.outcome, r.created) for r in results] == [
        (NEW_ITEMS, 2),
        (NOT_MODIFIED, 0),
        (NEW_ITEMS, 1),
        (ERROR, 0),
        (UNCHANGED, 0),
    ]
    assert "If-None-Match" not in fetcher.asked[0]
    assert fetcher.asked[1]["If-None-Match"] == '"v1"' and "If-Modified-Since" in fetcher.asked[1]
    failed = results[3].status
    assert failed.last_error.startswith("refused:") and failed.consecutive_failures == 1
    assert failed.etag == '"v2"'  # the validators of the last good poll stay
    assert from_timestamp(failed.next_poll_at) - NOW == timedelta(seconds=120)
    assert results[4].status.items_created == 3 and results[4].status.last_error == ""
    assert sorted(i.title for i in items.items.values()) == ["a", "b", "c"]
    assert {i.status for i in items.items.values()} == {ContentStatus.CONTENT_STATUS_PUBLISHED}
    assert len(items.events) == 3  # one content-published per item, none for the repeats


def test_a_review_source_leaves_items_in_review_without_events():
    items = FakeItems()
    result = asyncio.run(polling(items, FakeFetcher(Answer(200, feed("a")))).poll(source(False), SourceStatus(), NOW))
    assert result.created == 1 and not items.events
    assert [i.status for i in items.items.values()] == [ContentStatus.CONTENT_STATUS_IN_REVIEW]


def test_a_publication_left_half_way_is_finished_by_the_next_poll():
    items = FakeItems()
    asyncio.run(polling(items, FakeFetcher(Answer(200, feed("a")))).poll(source(False), SourceStatus(), NOW))
    # As if the poller died after inserting the item of a publishing source.
    again = asyncio.run(polling(items, FakeFetcher(Answer(200, feed("a")))).poll(source(True), SourceStatus(), NOW))
    assert again.created == 0
    assert [i.status for i in items.items.values()] == [ContentStatus.CONTENT_STATUS_PUBLISHED]
    assert len(items.events) == 1


def test_the_fetch_guard_refuses_other_schemes_and_private_hops_unless_allowed():
    from services.content.adapters.fetch import FetchError, RefusedAddress, _hop_url, _Policy

    policy = _Policy(allow_private=False, allow_hosts=frozenset({"127.0.0.1:8080", "intranet.example"}))
    for url in (
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://10.0.0.1/",
        "http://[::1]:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8081/",  # the allowed host on another port
    ):
        with pytest.raises(FetchError) as err:
            _hop_url(url, policy)
        assert err.value.kind == "refused", url
    assert _hop_url("http://127.0.0.1:8080/feed", policy).port == 8080
    policy.check("intranet.example", 443, ["10.0.0.5"])  # a listed name may be private
    policy.check("intranet.example.", 443, ["10.0.0.5"])  # aiohttp asks with a trailing dot
    with pytest.raises(RefusedAddress):
        policy.check("localhost", 8080, ["127.0.0.1"])
    with pytest.raises(RefusedAddress):
        policy.check("mixed.example", 443, ["93.184.215.14", "10.0.0.7"])  # any private answer refuses
    _Policy(allow_private=True, allow_hosts=frozenset()).check("localhost", 80, ["127.0.0.1"])


class FakePreviewStore:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, object]] = {}
        self.saved: asyncio.Queue[str] = asyncio.Queue()

    async def claim(self, url, now, stale_after) -> bool:
        if url in self.docs:
            return False
        self.docs[url] = ("pending", None)
        return True

    async def save(self, url, preview, error="") -> None:
        self.docs[url] = ("read" if preview is not None else "failed", preview or error)
        self.saved.put_nowait(url)

    async def get(self, url):
        state, value = self.docs.get(url, ("", None))
        return state, value if state == "read" else None


def test_previews_are_read_once_attached_on_read_and_requested_again_when_never_asked():
    page = b'<html><head><meta property="og:title" content="Hello"></head></html>'
    fetcher = FakeFetcher(
        Answer(200, page, {"Content-Type": "text/html; charset=utf-8"}, url="https://e.com/p"),
        Answer(200, b"%PDF-1.7", {"Content-Type": "application/pdf"}, url="https://e.com/doc.pdf"),
        Refused("refused: 10.0.0.1 is not public"),
    )
    outcomes: list[str] = []
    from services.content.app.previews import PreviewReader

    async def run() -> tuple[ContentItem, ContentItem, ContentItem]:
        async def saved() -> str:
            return await asyncio.wait_for(store.saved.get(), timeout=10)

        reader = PreviewReader(store, fetcher, max_bytes=10**6, queue_size=2, on_outcome=outcomes.append)
        worker = asyncio.create_task(reader.run())
        for url in ("https://e.com/p", "https://e.com/p", "https://e.com/doc.pdf", "https://e.com/third"):
            reader.request(url)  # the repeat is merged; the third URL does not fit the queue
        assert {await saved(), await saved()} == {"https://e.com/p", "https://e.com/doc.pdf"}
        items = (ContentItem(url="https://e.com/p"), ContentItem(url="https://e.com/doc.pdf"), ContentItem(url="x"))
        await reader.attach(list(items))
        # "x" was never asked for: reading it asked for it (and the guard refused it).
        assert await saved() == "x"
        reader.stop()
        await worker
        return items

    store = FakePreviewStore()
    page_item, pdf_item, unknown = asyncio.run(run())
    assert page_item.preview.title == "Hello" and page_item.preview.HasField("fetched_at")
    assert not pdf_item.HasField("preview") and store.docs["https://e.com/doc.pdf"] == (
        "failed",
        "not an HTML page (application/pdf)",
    )
    assert not unknown.HasField("preview")
    assert sorted(outcomes) == ["dropped", "not_html", "read", "refused"]
    assert len(fetcher.asked) == 3  # each page fetched once
