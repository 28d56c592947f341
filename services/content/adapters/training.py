"""Training lessons, progress, completions and campaign prerequisites in MongoDB; every read by `_id`.

- `lessons` (the current lesson per id) and `lesson_versions` (`<lesson id>@<version>`): a change
  is the insert of its version record, then projected, as content items are written
  (services/content/adapters/repository.py says why FerretDB needs that).
- `lesson_index` / `lesson_index_versions`: ONE document, `published`, listing the ids of the
  published lessons (a superset: see app/lessons.py), versioned the same way so two admins'
  concurrent publishes both land. ListMyLessons reads it and then each lesson by `_id`.
- `lesson_progress`, `<advocate>|<lesson>`: the advocate's submissions (attempts, last and best
  score). Written only by that advocate's own calls.
- `lesson_completions`, `<advocate>|<lesson>`: inserted once, with the `lesson-completed` event in
  its outbox (drained by its own relay); the unique `_id` makes a retried or concurrent completion
  fail to insert and emit nothing.
- `campaign_prerequisites`, `<campaign id>`: the lessons a campaign requires, versioned like a
  lesson (`campaign_prerequisite_versions`, `<campaign id>@<version>`), each version carrying its
  `campaign-prerequisites` event in its outbox (drained in version order by its own relay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import CampaignPrerequisitesChanged, LessonCompleted
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, Lesson, LessonStatus
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent, ensure_outbox_index
from services.common.retry import retrying
from services.common.topics import CAMPAIGN_PREREQUISITES, LESSON_COMPLETED
from services.content.app.ports import Attempts, Completion
from services.content.domain.feed import Viewer

INDEX_ID = "published"
# Concurrent index writers retry a lost compare-and-set this often (each retry reads the winner's).
INDEX_ATTEMPTS = 20


def progress_id(advocate_id: str, lesson_id: str) -> str:
    return f"{advocate_id}|{lesson_id}"


class Versioned:
    """Documents changed by inserting `<id>@<version>` into `records` (the compare-and-set: one of
    two writers from the same version wins), then projecting the fields into `current`."""

    def __init__(self, current: AsyncCollection, records: AsyncCollection) -> None:
        self.current = current
        self.records = records

    async def write(
        self, doc_id: str, version: int, fields: dict[str, Any], outbox: list[dict[str, Any]] | None = None
    ) -> bool:
        """Records version `version` of the document (with the events it emits in its `outbox`, sent
        by a relay of `records`); False when another writer recorded it first."""
        record: dict[str, Any] = {"_id": f"{doc_id}@{version:010d}", "doc_id": doc_id, "version": version}
        if outbox is not None:
            record["outbox"] = outbox
        try:
            await self.records.insert_one({**record, "fields": fields, "recorded_at": utcnow()})
        except DuplicateKeyError:
            # Lost the race; if the winner died before projecting, finish its work.
            winner = await self.records.find_one({"_id": record["_id"]})
            if winner is not None:
                await self._project(doc_id, version, winner["fields"])
            return False
        await self._project(doc_id, version, fields)
        return True

    async def _project(self, doc_id: str, version: int, fields: dict[str, Any]) -> None:
        if version == 1:
            try:
                await self.current.insert_one({"_id": doc_id, "version": 1, **fields})
            except DuplicateKeyError:
                # Projected already (by the winner, or a roll-forward), or a document written
                # before it was versioned, which version 1 replaces.
                await self.current.update_one(
                    {"_id": doc_id, "version": {"$exists": False}}, {"$set": {"version": 1, **fields}}
                )
            return
        await self.current.update_one({"_id": doc_id, "version": version - 1}, {"$set": {"version": version, **fields}})


def _lesson_fields(lesson: Lesson) -> dict[str, Any]:
    return {"status": LessonStatus.Name(lesson.status), "lesson": lesson.SerializeToString()}


class LessonRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.lessons = Versioned(db["lessons"], db["lesson_versions"])
        self.published = Versioned(db["lesson_index"], db["lesson_index_versions"])

    async def ensure_indexes(self) -> None:
        # ListLessons: by status, newest (highest id) first; a collection that grows only with
        # lessons written by hand.
        await self.lessons.current.create_index([("status", 1), ("_id", DESCENDING)])

    async def get(self, lesson_id: str) -> Lesson | None:
        doc = await self.lessons.current.find_one({"_id": lesson_id}, {"lesson": 1})
        return Lesson.FromString(doc["lesson"]) if doc else None

    async def insert(self, lesson: Lesson) -> None:
        assert lesson.version == 1, "a new lesson is version 1"
        await self.lessons.write(lesson.lesson_id, 1, _lesson_fields(lesson))

    async def replace(self, lesson: Lesson, expected_version: int) -> bool:
        assert lesson.version == expected_version + 1, "a change moves the version by one"
        return await self.lessons.write(lesson.lesson_id, lesson.version, _lesson_fields(lesson))

    async def list_lessons(self, status: int, after_id: str | None, limit: int) -> list[Lesson]:
        query: dict[str, Any] = {}
        if status:
            query["status"] = LessonStatus.Name(status)
        if after_id is not None:
            query["_id"] = {"$lt": after_id}
        cursor = self.lessons.current.find(query, {"lesson": 1}).sort("_id", DESCENDING).limit(limit)
        return [Lesson.FromString(d["lesson"]) async for d in cursor]

    async def _index(self) -> tuple[int, list[str]]:
        doc = await self.published.current.find_one({"_id": INDEX_ID})
        return (doc["version"], list(doc["ids"])) if doc else (0, [])

    async def published_ids(self) -> list[str]:
        return (await self._index())[1]

    async def index(self, lesson_id: str, published: bool, limit: int) -> bool:
        for _ in range(INDEX_ATTEMPTS):
            version, ids = await self._index()
            if (lesson_id in ids) == published:
                return True
            if published and len(ids) >= limit:
                return False
            ids = [*ids, lesson_id] if published else [i for i in ids if i != lesson_id]
            if await self.published.write(INDEX_ID, version + 1, {"ids": ids}):
                return True
        raise RuntimeError(f"the published-lessons index changed {INDEX_ATTEMPTS} times during one write")


class ProgressRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.progress = db["lesson_progress"]
        # The completions and their outbox: what the training relay drains.
        self.completions = db["lesson_completions"]

    async def ensure_indexes(self) -> None:
        await ensure_outbox_index(self.completions)

    async def attempts(self, advocate_id: str, lesson_id: str) -> Attempts | None:
        doc = await self.progress.find_one({"_id": progress_id(advocate_id, lesson_id)})
        return Attempts(doc["attempts"], doc["last_score"], doc["best_score"]) if doc else None

    async def record_attempt(self, advocate_id: str, lesson_id: str, score: int, now: datetime) -> Attempts:
        update = {
            "$inc": {"attempts": 1},
            "$set": {"last_score": score, "last_at": now},
            "$max": {"best_score": score},
        }
        # Two first submissions at once: the loser's upsert collides on `_id` and is applied again.
        policy = retrying(
            retry_on=DuplicateKeyError, event="progress_upsert_retry", first_seconds=0, attempts=3, log_level="info"
        )
        doc = await policy(
            self.progress.find_one_and_update,
            {"_id": progress_id(advocate_id, lesson_id)},
            update,
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None, "an upsert returning the document after it always finds one"
        return Attempts(doc["attempts"], doc["last_score"], doc["best_score"])

    async def completion(self, advocate_id: str, lesson_id: str) -> Completion | None:
        doc = await self.completions.find_one(
            {"_id": progress_id(advocate_id, lesson_id)}, {"completed_at": 1, "score": 1, "attempts": 1}
        )
        if doc is None:
            return None
        at = doc["completed_at"]
        # A client without tz_aware=True reads naive UTC datetimes.
        return Completion(at if at.tzinfo else at.replace(tzinfo=UTC), doc["score"], doc["attempts"])

    async def complete(self, advocate_id: str, lesson_id: str, completion: Completion, event: OutboxEvent) -> bool:
        try:
            await self.completions.insert_one(
                {
                    "_id": progress_id(advocate_id, lesson_id),
                    "advocate_id": advocate_id,
                    "lesson_id": lesson_id,
                    "completed_at": completion.completed_at,
                    "score": completion.score,
                    "attempts": completion.attempts,
                    "outbox": [event.to_document()],
                }
            )
        except DuplicateKeyError:
            return False
        return True


class PrerequisiteRepository:
    """The list in force per campaign (`campaign_prerequisites`, read by `_id`) and every version of
    it (`campaign_prerequisite_versions`, `<campaign>@<version>`), each inserted once with its
    `campaign-prerequisites` event in its outbox: two admins changing one campaign at once cannot
    both write the same version, and the relay sends versions in order (`order_by="version"`), so
    the compacted topic ends on the list in force."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["campaign_prerequisites"]
        self.versions = Versioned(self.collection, db["campaign_prerequisite_versions"])

    async def ensure_indexes(self) -> None:
        await self.versions.records.create_index([("version", 1)])
        await ensure_outbox_index(self.versions.records)

    async def get(self, campaign_id: str) -> CampaignPrerequisites | None:
        return (await self.current(campaign_id))[1]

    async def current(self, campaign_id: str) -> tuple[int, CampaignPrerequisites | None]:
        doc = await self.collection.find_one({"_id": campaign_id}, {"prerequisites": 1, "version": 1})
        if doc is None:
            return 0, None
        # A list stored before versions existed is version 0: never announced yet.
        return doc.get("version", 0), CampaignPrerequisites.FromString(doc["prerequisites"])

    async def put(self, prerequisites: CampaignPrerequisites, version: int, event: OutboxEvent) -> bool:
        fields = {"lesson_ids": list(prerequisites.lesson_ids), "prerequisites": prerequisites.SerializeToString()}
        return await self.versions.write(prerequisites.campaign_id, version, fields, [event.to_document()])

    async def requiring(self, lesson_id: str) -> list[str]:
        # Campaigns with prerequisites are few and archiving is rare: a filtered scan is fine here.
        cursor = self.collection.find({"lesson_ids": lesson_id}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def campaigns(self) -> list[str]:
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1})]


class TrainingEvents:
    def __init__(self, topic: Callable[[str], str]) -> None:
        self._topic = topic

    def completed(self, lesson: Lesson, viewer: Viewer, completion: Completion) -> OutboxEvent:
        event = LessonCompleted(
            event_id=new_event_id(),
            occurred_at=to_timestamp(completion.completed_at),
            lesson_id=lesson.lesson_id,
            advocate=AdvocateSnapshot(
                advocate_id=viewer.advocate_id,
                display_name=viewer.display_name,
                team=viewer.team,
                location=viewer.location,
                language=viewer.language,
                role=viewer.role,
                leader=viewer.leader,
                timezone=viewer.timezone,
            ),
            score_percent=completion.score,
            attempts=completion.attempts,
            lesson_title=lesson.title,
        )
        return OutboxEvent.of(event, self._topic(LESSON_COMPLETED.name), key=viewer.advocate_id)

    def prerequisites_changed(self, prerequisites: CampaignPrerequisites, version: int) -> OutboxEvent:
        event = CampaignPrerequisitesChanged(
            event_id=new_event_id(),
            occurred_at=prerequisites.updated_at,
            campaign_id=prerequisites.campaign_id,
            lesson_ids=prerequisites.lesson_ids,
            version=version,
            updated_by=prerequisites.updated_by,
        )
        return OutboxEvent.of(event, self._topic(CAMPAIGN_PREREQUISITES.name), key=prerequisites.campaign_id)
