"""The demo newsroom: stories are a function of time (stable guids across restarts), its feed is
one the content service's parser reads, and an unchanged feed is answered 304."""

from __future__ import annotations

from services.content.adapters.feeds import parse_feed
from services.demo.newsroom import EPOCH, Newsroom, etag, stories


def test_a_new_story_appears_every_period_and_old_ones_keep_their_number():
    now = EPOCH + 1000 * 180 + 5
    before = stories(now, 180)
    after = stories(now + 180, 180)
    assert len(before) == len(after) == 20
    assert after[0].number == before[0].number + 1
    assert [s.number for s in after[1:]] == [s.number for s in before[:-1]]
    assert after[1] == before[0]  # the same story, title and time, when served again


def test_the_feed_parses_and_an_unchanged_feed_is_not_modified():
    room = Newsroom("127.0.0.1", 0, every_seconds=60)
    try:
        now = EPOCH + 5000.0
        status, content_type, body = room.answer("/newsroom/feed.xml", "", now)
        assert status == 200 and content_type.startswith("application/rss+xml")
        entries = parse_feed(body, room.feed_url, content_type)
        assert len(entries) == 20 and entries[0].guid.startswith("demo-newsroom-")
        assert entries[0].link.startswith(room.base_url + "/newsroom/")
        page_status, _, page = room.answer(entries[0].link.removeprefix(room.base_url), "", now)
        assert page_status == 200 and b'property="og:title"' in page
        assert room.answer("/newsroom/feed.xml", etag(body), now + 1)[0] == 304
        # A new story changes the feed: the old validator no longer matches.
        assert room.answer("/newsroom/feed.xml", etag(body), now + 60)[0] == 200
        assert room.answer("/nope", "")[0] == 404
    finally:
        room.stop()
