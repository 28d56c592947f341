"""The content service as a process on the real broker and FerretDB: the lifecycle, validation,
concurrent edits, admin listing, and the outbox surviving a Kafka outage."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio
from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1 import content_pb2
from advocacy.content.v1.content_pb2 import ContentPublished, ContentStatus

from infra import stack as local_stack
from services.common.events import utcnow
from tests.conftest import make_isolated
from tests.integration.content_harness import (
    approved,
    distinct,
    new_item,
    published,
    read_events,
    serving,
    ts,
)

S = ContentStatus


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(stack):
    isolated = make_isolated(stack)
    async with serving(isolated) as (_, content):
        yield isolated, content


def step(content_id: str, **fields) -> content_pb2.TransitionRequest:
    return content_pb2.TransitionRequest(content_id=content_id, actor_id="comms", **fields)


async def test_whole_lifecycle_with_rejection_edit_and_events(service):
    isolated, content = service
    item = await content.CreateContent(content_pb2.CreateContentRequest(item=new_item(topics=["ai"])))
    assert (item.status, item.version) == (S.CONTENT_STATUS_DRAFT, 1)
    assert len(item.suggested_texts) == 3  # several texts, two for the same network

    item = await content.SubmitForReview(step(item.content_id))
    item = await content.Reject(step(item.content_id, reason="needs a source"))
    assert (item.status, item.rejection_reason, item.reviewer_id) == (
        S.CONTENT_STATUS_REJECTED,
        "needs a source",
        "comms",
    )

    edited = new_item(title="We opened a new plant (source: press release)", topics=["ai", "plant"])
    item = await content.EditContent(
        content_pb2.EditContentRequest(content_id=item.content_id, expected_version=item.version, item=edited)
    )
    assert item.status == S.CONTENT_STATUS_DRAFT and item.title.endswith("press release)")
    assert item.rejection_reason == ""  # the edit answers the rejection

    for rpc, status in (
        (content.SubmitForReview, S.CONTENT_STATUS_IN_REVIEW),
        (content.Approve, S.CONTENT_STATUS_APPROVED),
        (content.Publish, S.CONTENT_STATUS_PUBLISHED),
        (content.Archive, S.CONTENT_STATUS_ARCHIVED),
    ):
        item = await rpc(step(item.content_id, expected_version=item.version))
        assert item.status == status
    assert item.version == 8 and item.HasField("published_at")
    assert (await content.GetContent(content_pb2.GetContentRequest(content_id=item.content_id))) == item

    events = await read_events(
        isolated.stack.kafka_bootstrap,
        f"{isolated.prefix}content-published",
        lambda evs: bool(distinct(evs, item.content_id, ContentPublished.KIND_ARCHIVED)),
        within=60,
    )
    mine = [e for e in events if e.item.content_id == item.content_id]
    assert [e.kind for e in mine] == [ContentPublished.KIND_PUBLISHED, ContentPublished.KIND_ARCHIVED]
    assert mine[0].item.status == S.CONTENT_STATUS_PUBLISHED


async def test_illegal_transitions_name_the_current_state(service):
    _, content = service
    draft = await content.CreateContent(content_pb2.CreateContentRequest(item=new_item()))
    for rpc in (content.Approve, content.Publish):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await rpc(step(draft.content_id))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "DRAFT" in err.value.details()
    item = await published(content)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.EditContent(
            content_pb2.EditContentRequest(content_id=item.content_id, expected_version=item.version, item=new_item())
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "PUBLISHED" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.Reject(step(item.content_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.GetContent(content_pb2.GetContentRequest(content_id="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_item_past_its_expiry_is_neither_approved_nor_published(service):
    _, content = service
    # Valid when created (an expiry must be in the future then); it passes while in review.
    expires_at = utcnow() + timedelta(seconds=2)
    in_review = await content.CreateContent(content_pb2.CreateContentRequest(item=new_item(expires_at=ts(expires_at))))
    in_review = await content.SubmitForReview(step(in_review.content_id))
    ready = await approved(content, expires_at=ts(expires_at))
    await asyncio.sleep((expires_at - utcnow()).total_seconds() + 0.1)
    refused = f"expired at {expires_at.isoformat()} (its expires_at has passed)"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.Approve(step(in_review.content_id))
    assert (err.value.code(), err.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"cannot approve an item that {refused}",
    )
    # Nothing changed, so nothing went to the outbox (an event is written only with a new version).
    stored = await content.GetContent(content_pb2.GetContentRequest(content_id=in_review.content_id))
    assert (stored.status, stored.version) == (in_review.status, in_review.version)
    # The approved one is refused too, or the scheduler (every 0.2 s here) expired it first: either
    # way it is never published.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.Publish(step(ready.content_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() in (
        f"cannot publish an item that {refused}",
        "cannot publish an item that is EXPIRED (allowed from: APPROVED)",
    )
    stored = await content.GetContent(content_pb2.GetContentRequest(content_id=ready.content_id))
    assert not stored.HasField("published_at")
    assert (stored.status, stored.version) in (
        (ready.status, ready.version),
        (S.CONTENT_STATUS_EXPIRED, ready.version + 1),
    )
    # It can still be taken out of circulation.
    archived = await content.Archive(step(ready.content_id))
    assert archived.status == S.CONTENT_STATUS_ARCHIVED


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"url": "not a url"}, "item.url"),
        ({"title": " "}, "item.title"),
        ({"title": "x" * 201}, "item.title"),
        ({"suggested_texts": [content_pb2.SuggestedText(network=42, text="hi")]}, "item.suggested_texts[0].network"),
        ({"publish_at": "+2h", "expires_at": "+1h"}, "item.expires_at"),
        ({"topics": ["t"] * 51}, "item.topics"),
        ({"expires_at": "-1h"}, "item.expires_at"),
        ({"media_urls": ["file:///etc/passwd"]}, "item.media_urls[0]"),
        ({"summary": "x" * 2001}, "item.summary"),
        # Well-formed, and only too long: 2049 characters (the limit is 2048).
        ({"url": "https://example.com/" + "a" * 2029}, "item.url: at most 2048 characters"),
        ({"media_urls": ["https://example.com/" + "a" * 2029]}, "item.media_urls[0]: at most 2048 characters"),
        # A suggested text over 3000 characters.
        (
            {"suggested_texts": [content_pb2.SuggestedText(network=Network.NETWORK_X, text="x" * 3001)]},
            "item.suggested_texts[0].text: must be 1..3000 characters",
        ),
    ],
)
async def test_invalid_items_are_refused_with_the_field_named(service, fields, named):
    _, content = service
    now = utcnow()
    for key in ("publish_at", "expires_at"):
        if key in fields:
            fields[key] = ts(now + timedelta(hours=int(fields[key].removesuffix("h"))))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.CreateContent(content_pb2.CreateContentRequest(item=new_item(**fields)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # `named` is the field, or the field and the start of its message.
    assert err.value.details().startswith(named if ":" in named else named + ":")


async def test_concurrent_edits_exactly_one_wins(service):
    _, content = service
    item = await content.CreateContent(content_pb2.CreateContentRequest(item=new_item()))
    edits = [
        content.EditContent(
            content_pb2.EditContentRequest(
                content_id=item.content_id, expected_version=item.version, item=new_item(title=f"Edit {i}")
            )
        )
        for i in range(6)
    ]
    results = await asyncio.gather(*edits, return_exceptions=True)
    winners = [r for r in results if isinstance(r, content_pb2.ContentItem)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 5
    assert {e.code() for e in losers} == {grpc.StatusCode.ABORTED}
    stored = await content.GetContent(content_pb2.GetContentRequest(content_id=item.content_id))
    assert (stored.title, stored.version) == (winners[0].title, 2)
    # A stale version is refused on every write path, not only edits.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.SubmitForReview(step(item.content_id, expected_version=1))
    assert err.value.code() == grpc.StatusCode.ABORTED


async def test_suggestions_enter_review_and_admins_list_by_status(service):
    _, content = service
    suggested = await content.SuggestContent(
        content_pb2.SuggestContentRequest(item=new_item(title="Our team at the fair"), advocate_id="adv-aino")
    )
    assert (suggested.status, suggested.suggested_by, suggested.author_id) == (
        S.CONTENT_STATUS_IN_REVIEW,
        "adv-aino",
        "adv-aino",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.SuggestContent(content_pb2.SuggestContentRequest(item=new_item()))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "advocate_id" in err.value.details()
    more = [
        await content.SuggestContent(content_pb2.SuggestContentRequest(item=new_item(), advocate_id=f"adv-{i}"))
        for i in range(4)
    ]
    in_review = [suggested.content_id, *(m.content_id for m in more)]

    seen: list[str] = []
    token = ""
    while True:
        page = await content.ListContent(
            content_pb2.ListContentRequest(status=S.CONTENT_STATUS_IN_REVIEW, page_size=2, page_token=token)
        )
        assert len(page.items) <= 2 and all(i.status == S.CONTENT_STATUS_IN_REVIEW for i in page.items)
        seen.extend(i.content_id for i in page.items)
        token = page.next_page_token
        if not token:
            break
    # Newest first, each once; other tests' drafts and published items are not listed.
    assert [c for c in seen if c in in_review] == list(reversed(in_review))
    assert len(seen) == len(set(seen))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await content.ListContent(content_pb2.ListContentRequest(page_token="%%%"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_publish_while_kafka_is_down_arrives_exactly_once_after_it_returns(service):
    isolated, content = service
    cfg = isolated.stack
    item = await approved(content, title="Published during a Kafka outage")
    local_stack.stop_kafka(cfg)
    try:
        # The write succeeds: the event waits in the item's own document.
        item = await content.Publish(step(item.content_id))
        assert item.status == S.CONTENT_STATUS_PUBLISHED
        await asyncio.sleep(3)  # the relay retries against a dead broker meanwhile
    finally:
        await asyncio.to_thread(local_stack.start_kafka, cfg)
    events = await read_events(
        cfg.kafka_bootstrap,
        f"{isolated.prefix}content-published",
        lambda evs: bool(distinct(evs, item.content_id, ContentPublished.KIND_PUBLISHED)),
        within=90,
    )
    assert len(distinct(events, item.content_id, ContentPublished.KIND_PUBLISHED)) == 1
