"""Turns consumed events into materialized facts and states (the use case the Faust agents call).

Each handler is idempotent: calling it twice with the same event leaves the same documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import ContentPublished
from advocacy.share.v1.share_pb2 import AdvocateChanged, EngagementKind, EngagementObserved, ShareMade

from services.analytics.app.ports import ContentState, FactWriter
from services.analytics.domain.audience import AudienceRule, Period
from services.analytics.domain.fact import fact_document
from services.analytics.domain.metrics import Totals, reach_key
from services.analytics.domain.report import Member
from services.analytics.domain.windows import click_key, is_too_late
from services.analytics.metrics import DUPLICATES, TOO_LATE
from services.common.events import nonzero_time, utcnow


@dataclass
class Fact:
    """One event's fact document, and the unique-click slot or reach triple it claims (if any)."""

    doc: dict[str, Any]
    topic: str
    slot: str = ""
    reach_key: str = ""


class InvalidEvent(ValueError):
    """An event that decodes but cannot be used (dead-lettered by the agent)."""


def network_name(value: int) -> str:
    return Network.Name(value).removeprefix("NETWORK_")


class Ingest:
    """Lateness is judged by when an event reached Kafka (`arrived_at`, the record's timestamp), not
    by when this worker processes it: a replay from offset 0 or a worker that was down for days
    places every event exactly as a worker keeping up would have. `clock` stands in only for an
    event without a record timestamp."""

    def __init__(
        self,
        repo: Callable[[], FactWriter],
        allowed_lateness: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repo = repo
        self._lateness = allowed_lateness
        self._clock = clock

    def _arrival(self, occurred_at: datetime, arrived_at: datetime | None) -> tuple[datetime, bool]:
        """(when the event arrived, whether that is too late for its hourly and daily windows)."""
        received = arrived_at if arrived_at is not None else self._clock()
        return received, is_too_late(occurred_at, received, self._lateness)

    def _required(self, event_id: str, occurred_at: datetime | None) -> datetime:
        if not event_id:
            raise InvalidEvent("event_id: missing")
        if occurred_at is None:
            raise InvalidEvent("occurred_at: missing")
        return occurred_at

    async def share_made(self, event: ShareMade, arrived_at: datetime | None = None) -> bool:
        return (await self.facts([self.share_fact(event, arrived_at)]))[0]

    async def engagement_observed(self, event: EngagementObserved, arrived_at: datetime | None = None) -> bool:
        return (await self.facts([self.engagement_fact(event, arrived_at)]))[0]

    def fact(self, event: ShareMade | EngagementObserved, arrived_at: datetime | None = None) -> Fact:
        """The fact of a share or engagement event (raises InvalidEvent); `facts` stores it.
        `arrived_at`: the Kafka record's timestamp (None: now)."""
        if isinstance(event, ShareMade):
            return self.share_fact(event, arrived_at)
        return self.engagement_fact(event, arrived_at)

    def share_fact(self, event: ShareMade, arrived_at: datetime | None = None) -> Fact:
        occurred_at = self._required(event.event_id, nonzero_time(event.occurred_at))
        share = event.share
        if not share.content_id or not share.advocate_id:
            raise InvalidEvent("share: content_id and advocate_id are required")
        received, too_late = self._arrival(occurred_at, arrived_at)
        network = network_name(share.network)
        doc = fact_document(
            event_id=event.event_id,
            kind="SHARE",
            content_id=share.content_id,
            advocate_id=share.advocate_id,
            team=event.advocate.team,
            leader=event.advocate.leader,
            campaign_id=event.campaign_id,
            network=network,
            occurred_at=occurred_at,
            received_at=received,
            too_late=too_late,
            # The audience counts only if this is its triple's first share (decided in `facts`).
            totals=Totals(shares=1, potential_reach=max(share.audience_size, 0)),
            share_id=share.share_id,
            own_post=share.own_post,
        )
        return Fact(doc, "share-made", reach_key=reach_key(share.content_id, share.advocate_id, network))

    def engagement_fact(self, event: EngagementObserved, arrived_at: datetime | None = None) -> Fact:
        occurred_at = self._required(event.event_id, nonzero_time(event.occurred_at))
        if not event.content_id or not event.advocate.advocate_id:
            raise InvalidEvent("content_id and advocate.advocate_id are required")
        count = max(event.count, 1)
        totals = Totals()
        kind = event.kind
        slot = ""
        if kind == EngagementKind.ENGAGEMENT_KIND_IMPRESSION:
            totals.impressions = count
        elif kind == EngagementKind.ENGAGEMENT_KIND_CLICK:
            if event.is_bot or event.is_self:
                pass  # kept as a fact, never counted
            elif event.actor_fingerprint:
                slot = click_key(event.share_id, event.actor_fingerprint, occurred_at)  # counted if it owns it
            else:
                totals.clicks = count  # an imported aggregate without actors: already unique at its source
        elif kind == EngagementKind.ENGAGEMENT_KIND_REACTION:
            totals.reactions = count
        elif kind == EngagementKind.ENGAGEMENT_KIND_COMMENT:
            totals.comments = count
        elif kind == EngagementKind.ENGAGEMENT_KIND_RESHARE:
            totals.reshares = count
        else:
            raise InvalidEvent("kind: unspecified")
        received, too_late = self._arrival(occurred_at, arrived_at)
        doc = fact_document(
            event_id=event.event_id,
            kind=EngagementKind.Name(kind).removeprefix("ENGAGEMENT_KIND_"),
            content_id=event.content_id,
            advocate_id=event.advocate.advocate_id,
            team=event.advocate.team,
            leader=event.advocate.leader,
            campaign_id=event.campaign_id,
            network=network_name(event.network),
            occurred_at=occurred_at,
            received_at=received,
            too_late=too_late,
            totals=totals,
            share_id=event.share_id,
            comment_text=event.comment_text if kind == EngagementKind.ENGAGEMENT_KIND_COMMENT else "",
            own_post=event.own_post,
        )
        return Fact(doc, "engagement-observed", slot)

    async def facts(self, facts: list[Fact]) -> list[bool]:
        """Stores a batch of facts in two bulk writes (click slots or reach triples, then facts);
        per fact, whether it was new (False: a redelivery). Unique clicks: a slot counts for the
        event that owns it. Potential reach: a share's audience counts only for the event that owns
        its (item, advocate, network) triple, the first processed (`share-made` is keyed by advocate,
        so that is the first in partition order); a later share of the triple counts 0 reach. A
        redelivered event finds the same owner, so it builds the same fact."""
        repo = self._repo()
        owners = await repo.claim_clicks([(f.slot, f.doc["_id"]) for f in facts if f.slot])
        for f in facts:
            if f.slot:
                f.doc["clicks"] = 1 if owners[f.slot] == f.doc["_id"] else 0
        firsts = await repo.claim_reach([(f.reach_key, f.doc["_id"]) for f in facts if f.reach_key])
        for f in facts:
            if f.reach_key and firsts[f.reach_key] != f.doc["_id"]:
                f.doc["potential_reach"] = 0
        stored = await repo.record_facts([f.doc for f in facts])
        for f, new in zip(facts, stored, strict=True):
            self._count(new, f.doc["too_late"], f.topic)
        return stored

    async def origins(self, claims: list[tuple[str, str]]) -> dict[str, str]:
        """Per (event id, this record's origin): the record its stored fact came from first."""
        return await self._repo().origins(claims)

    async def advocate_changed(self, event: AdvocateChanged) -> bool:
        occurred_at = self._required(event.event_id, nonzero_time(event.occurred_at))
        profile = event.advocate.profile
        if not profile.advocate_id:
            raise InvalidEvent("advocate.profile.advocate_id: missing")
        periods = []
        for p in event.enrolments:
            enrolled_at = nonzero_time(p.enrolled_at)
            if enrolled_at is None:
                raise InvalidEvent("enrolments.enrolled_at: missing")
            periods.append(Period(enrolled_at, nonzero_time(p.left_at)))
        state = Member(
            advocate_id=profile.advocate_id,
            team=profile.team,
            location=profile.location,
            language=profile.language,
            role=profile.role,
            leader=profile.leader,
            periods=tuple(periods),
        )
        return await self._repo().upsert_advocate(state, occurred_at)

    async def content_published(self, event: ContentPublished) -> bool:
        occurred_at = self._required(event.event_id, nonzero_time(event.occurred_at))
        item = event.item
        if not item.content_id:
            raise InvalidEvent("item.content_id: missing")
        a = item.audience
        state = ContentState(
            content_id=item.content_id,
            author_id=item.author_id,
            campaign_id=item.campaign_id,
            title=item.title,
            audience=AudienceRule(tuple(a.teams), tuple(a.locations), tuple(a.languages), tuple(a.roles)),
        )
        return await self._repo().upsert_content(state, occurred_at)

    @staticmethod
    def _count(stored: bool, too_late: bool, topic: str) -> None:
        if not stored:
            DUPLICATES.labels(topic).inc()
        elif too_late:
            TOO_LATE.labels(topic).inc()
