"""The content service as seen from the share service: one gRPC call per share."""

from __future__ import annotations

import grpc
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from advocacy.content.v1.content_pb2 import ContentItem


class ContentUnavailable(Exception):
    pass


class ContentClient:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 2.0) -> None:
        # The channel carries the share service's own token (services.common.auth.service_channel).
        self._channel = channel
        self._stub = content_pb2_grpc.ContentServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def get(self, content_id: str) -> ContentItem | None:
        try:
            return await self._stub.GetContent(
                content_pb2.GetContentRequest(content_id=content_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise ContentUnavailable(f"content service: {exc.code().name}: {exc.details()}") from exc

    async def close(self) -> None:
        await self._channel.close()
