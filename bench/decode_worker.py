"""Baseline (c) of P1: a bare Faust agent built by `create_app` (the same app settings and consumer
patches as the real workers) that only decodes each event of the history, in the same takes as the
award agent (`take_adaptive`, same maximum and linger): the ceiling of our Faust setup."""

from __future__ import annotations

from typing import cast

import faust
from advocacy.share.v1.share_pb2 import EngagementObserved, ShareMade

from services.common.batching import take_adaptive
from services.common.stream import StreamSettings, create_app
from services.common.topics import ENGAGEMENT_OBSERVED, SHARE_MADE
from services.rewards.stream.agents import BATCH_LINGER_SECONDS, TAKE_MAX_EVENTS

NAME = "bench-decode"


def main() -> None:
    settings = StreamSettings()
    app = create_app(NAME, settings)
    share_t, engagement_t = settings.topic(SHARE_MADE.name), settings.topic(ENGAGEMENT_OBSERVED.name)
    inputs = app.topic(share_t, engagement_t, key_serializer="raw", value_serializer="raw")

    @app.agent(inputs, name="decode")
    async def decode(stream: faust.StreamT) -> None:
        async for taken in take_adaptive(cast(faust.Stream, stream), TAKE_MAX_EVENTS, BATCH_LINGER_SECONDS):
            for event in taken:
                message = ShareMade if event.message.topic == share_t else EngagementObserved
                message.FromString(event.value)

    faust.Worker(app, loglevel="warning", redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
