"""Advocates in MongoDB (every version its own document, with its `advocate-changed` event in its
outbox), and the in-memory view RecordShare reads them from."""

from __future__ import annotations

from collections.abc import Callable

from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged
from google.protobuf.message import DecodeError
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.common.events import utcnow
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.common.topic_view import TopicFollower
from services.share.adapters.chain import Chain


class AdvocateRepository:
    """Every version of an advocate is its own document, inserted once (`_id` = `<id>:<version>`),
    with its `advocate-changed` event in its outbox. The unique `_id` is the compare-and-set: of two
    concurrent changes to the same version, exactly one insert succeeds. Nothing ever updates an
    advocate document in place except the relay removing sent events, because FerretDB 1.24 (SQLite)
    applies concurrent updates of one document as read-modify-write and loses some of them.

    The latest version is found by `_id` reads only (see `Chain`): a head document per advocate
    (`advocate_heads`, `_id` = advocate id) with the version and a copy of it, then a probe for
    the next version. Never a sorted query: on FerretDB that scans every version of everyone."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["advocate_versions"]
        self._chain = Chain(self.collection, db["advocate_heads"], _version_id, ("advocate",))
        # Told of every version this process stored (a local view shows it at once).
        self.on_saved: Callable[[Advocate], None] = lambda advocate: None

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("advocate_id", ASCENDING), ("version", DESCENDING)])
        await self.collection.create_index([("team", ASCENDING)])
        await self.collection.create_index([("written_at", ASCENDING)])
        await ensure_outbox_index(self.collection)

    async def get(self, advocate_id: str) -> Advocate | None:
        _, fields = await self._chain.latest(advocate_id)
        return Advocate.FromString(fields["advocate"]) if fields else None

    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        """Stores `advocate` (one version after the stored one) with its event in one insert; False
        when another change of the same version got there first (the caller re-reads and retries)."""
        advocate_id = advocate.profile.advocate_id
        saved = await self._chain.append(
            advocate_id,
            advocate.version,
            {
                "advocate_id": advocate_id,
                "version": advocate.version,
                "team": advocate.profile.team,
                "leader": advocate.profile.leader,
                "enrolled": advocate.enrolled,
                "advocate": advocate.SerializeToString(),
                # The relay sends versions in this order, so the compacted topic ends on the latest.
                "written_at": utcnow(),
                "outbox": [event.to_document()],
            },
        )
        if saved:
            self.on_saved(advocate)
        return saved


class AdvocateView:
    """Advocates as RecordShare reads them, from memory: kept from `advocate-changed` (compacted,
    the whole state with its version; every replica reads all of it) and from this process's own
    writes at once. A change written through another replica is seen as soon as its event reaches
    Kafka (its relay sends at once). Trusted only while current (`TopicFollower`); an advocate the
    view does not hold, or any advocate while it is not current, is read by `_id`."""

    def __init__(
        self, repository: AdvocateRepository, bootstrap: str, topic: str, max_lag_seconds: float = 2.0
    ) -> None:
        self._repository = repository
        self._advocates: dict[str, Advocate] = {}
        self.follower = TopicFollower(bootstrap, topic, self._record, "share-advocate-view", max_lag_seconds)
        repository.on_saved = self.remember

    def _record(self, value: bytes) -> None:
        try:
            advocate = AdvocateChanged.FromString(value).advocate
        except DecodeError:
            return  # the topic's consumers dead-letter it; here it is simply no advocate
        if advocate.profile.advocate_id:
            self.remember(advocate)

    def remember(self, advocate: Advocate) -> None:
        held = self._advocates.get(advocate.profile.advocate_id)
        if held is None or held.version <= advocate.version:
            self._advocates[advocate.profile.advocate_id] = advocate

    async def get(self, advocate_id: str) -> Advocate | None:
        held = self._advocates.get(advocate_id)
        if held is not None and self.follower.current:
            return held
        advocate = await self._repository.get(advocate_id)
        if advocate is not None:
            self.remember(advocate)
        return advocate


def _version_id(advocate_id: str, version: int) -> str:
    return f"{advocate_id}:{version}"
