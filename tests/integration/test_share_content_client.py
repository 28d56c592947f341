"""The share service's content client over a real gRPC channel: a burst of shares of one published
item asks the content service once; unpublished and unknown items are asked every time (they may
be published any moment); a kept item is asked again after `cache_seconds`."""

from __future__ import annotations

import asyncio

import grpc
from advocacy.content.v1 import content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem, ContentStatus

from services.share.adapters.content_client import ContentClient


class CountingContent(content_pb2_grpc.ContentServiceServicer):
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.items = {
            "live": ContentItem(content_id="live", status=ContentStatus.CONTENT_STATUS_PUBLISHED),
            "draft": ContentItem(content_id="draft", status=ContentStatus.CONTENT_STATUS_DRAFT),
        }

    async def GetContent(self, request, context):  # type: ignore[no-untyped-def]
        self.calls[request.content_id] = self.calls.get(request.content_id, 0) + 1
        await asyncio.sleep(0.05)  # concurrent callers overlap with this one
        item = self.items.get(request.content_id)
        if item is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such item")
        return item


async def test_published_items_are_fetched_once_per_ttl_and_nothing_else_is_kept() -> None:
    server = grpc.aio.server()
    servicer = CountingContent()
    content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ContentClient(grpc.aio.insecure_channel(f"127.0.0.1:{port}"), cache_seconds=0.5)
    try:
        items = await asyncio.gather(*(client.get("live") for _ in range(20)))
        assert all(i is not None and i.content_id == "live" for i in items)
        assert servicer.calls["live"] == 1
        await client.get("live")
        assert servicer.calls["live"] == 1
        await asyncio.sleep(0.6)
        await client.get("live")
        assert servicer.calls["live"] == 2  # kept no longer than cache_seconds

        for _ in range(3):
            assert (await client.get("draft")).status == ContentStatus.CONTENT_STATUS_DRAFT  # type: ignore[union-attr]
            assert await client.get("missing") is None
        assert servicer.calls["draft"] == 3 and servicer.calls["missing"] == 3
    finally:
        await client.close()
        await server.stop(0)
