"""The share service's views of training, kept in memory from two topics every replica reads whole
(`TopicFollower`), so RecordShare checks campaign prerequisites with dict lookups:

- `campaign-prerequisites` (compacted): the lessons each campaign requires, the highest version
  per campaign. While the view is not current (starting, Kafka down) a campaign's list is asked
  of the content service (GetCampaignPrerequisites, kept `cache_seconds`).
- `lesson-completed` (kept forever, one record per advocate and lesson): who completed what, as
  one integer per advocate whose bits are the lessons (each lesson id numbered once), so 100k
  advocates with a few lessons each cost about 100 bytes apiece (the dict entry, the id, the int).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from advocacy.content.v1.content_pb2 import CampaignPrerequisitesChanged, LessonCompleted
from google.protobuf.message import DecodeError

from services.common.topic_view import TopicFollower
from services.share.app.ports import PrerequisiteSource

# How often a waiting check looks whether the completions view caught up.
WAIT_STEP_SECONDS = 0.02


class PrerequisitesView:
    def __init__(self, bootstrap: str, topic: str, fallback: PrerequisiteSource, max_lag_seconds: float = 2.0) -> None:
        self._fallback = fallback
        # campaign id -> (version, lesson ids); an empty list is kept too, so an older version
        # read again later (a resent record) cannot bring back a list that was cleared.
        self._campaigns: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.follower = TopicFollower(bootstrap, topic, self._record, "share-prerequisites-view", max_lag_seconds)

    def _record(self, value: bytes) -> None:
        try:
            event = CampaignPrerequisitesChanged.FromString(value)
        except DecodeError:
            return  # nothing to keep; the topic's own consumers would dead-letter it
        if event.campaign_id:
            self.apply(event.campaign_id, event.version, tuple(event.lesson_ids))

    def apply(self, campaign_id: str, version: int, lesson_ids: tuple[str, ...]) -> None:
        held = self._campaigns.get(campaign_id)
        if held is None or held[0] <= version:
            self._campaigns[campaign_id] = (version, lesson_ids)

    async def required(self, campaign_id: str) -> Sequence[str]:
        if self.follower.current:
            held = self._campaigns.get(campaign_id)
            return held[1] if held is not None else ()
        return await self._fallback.prerequisites(campaign_id)


class CompletionsView:
    def __init__(self, bootstrap: str, topic: str, max_lag_seconds: float = 2.0, wait_seconds: float = 1.0) -> None:
        self._bits: dict[str, int] = {}  # lesson id -> its bit
        self._done: dict[str, int] = {}  # advocate id -> the bits of the lessons they completed
        self._wait = wait_seconds
        self.follower = TopicFollower(bootstrap, topic, self._record, "share-completions-view", max_lag_seconds)

    def _record(self, value: bytes) -> None:
        try:
            event = LessonCompleted.FromString(value)
        except DecodeError:
            return
        if event.lesson_id and event.advocate.advocate_id:
            self.apply(event.advocate.advocate_id, event.lesson_id)

    def apply(self, advocate_id: str, lesson_id: str) -> None:
        bit = self._bits.get(lesson_id)
        if bit is None:
            bit = self._bits[lesson_id] = 1 << len(self._bits)
        self._done[advocate_id] = self._done.get(advocate_id, 0) | bit

    def missing(self, advocate_id: str, lesson_ids: Sequence[str]) -> list[str]:
        done = self._done.get(advocate_id, 0)
        return [i for i in lesson_ids if not done & self._bits.get(i, 0)]

    @property
    def current(self) -> bool:
        return self.follower.current

    async def caught_up(self, asked_at: float) -> bool:
        """Waits (at most `wait_seconds`) until the broker confirmed the view had read everything
        on the topic at a time after `asked_at` (wall clock): then it holds every completion Kafka
        had acknowledged when the share was asked. False when that did not happen in time."""
        deadline = time.monotonic() + self._wait
        while self.follower.current_at < asked_at:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(WAIT_STEP_SECONDS)
        return True
