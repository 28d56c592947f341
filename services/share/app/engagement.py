"""Use cases: record engagement reported by networks (RecordEngagement) and count a click on a
tracked link (the redirect). Both build their `engagement-observed` events here, in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from advocacy.share.v1.share_pb2 import (
    EngagementKind,
    EngagementObserved,
    EngagementReport,
    EngagementSource,
)
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.topics import ENGAGEMENT_OBSERVED
from services.share.app.ports import (
    ClickWindows,
    EngagementRecord,
    EngagementStore,
    Notify,
    TrackedShare,
    TrackedShares,
)
from services.share.domain.engagement import MAX_BATCH, InvalidReport, idempotency_id, validate_report
from services.share.domain.links import CODE_PATTERN, ClickClass, classify, fingerprint


def engagement_event(
    share: TrackedShare,
    *,
    kind: int,
    count: int,
    source: int,
    occurred_at: Timestamp,
    actor_fingerprint: str = "",
    comment_text: str = "",
    click: ClickClass | None = None,
) -> EngagementObserved:
    """The `engagement-observed` event of one observation on a share (carrying what consumers need)."""
    return EngagementObserved(
        event_id=new_event_id(),
        occurred_at=occurred_at,
        share_id=share.share_id,
        content_id=share.content_id,
        advocate=share.advocate,
        network=share.network,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        count=count,
        source=source,  # type: ignore[arg-type]
        actor_fingerprint=actor_fingerprint,
        comment_text=comment_text,
        campaign_id=share.campaign_id,
        is_bot=click.is_bot if click else False,
        is_self=click.is_self if click else False,
        own_post=share.own_post,
    )


class EngagementEvents:
    """Builds engagement events and their outbox entries (topic, key = the sharer)."""

    def __init__(self, topic: Callable[[str], str]) -> None:
        self._topic = topic(ENGAGEMENT_OBSERVED.name)

    def outbox(self, event: EngagementObserved) -> OutboxEvent:
        return OutboxEvent.of(event, self._topic, key=event.advocate.advocate_id)


@dataclass(frozen=True)
class EngagementResult:
    event_id: str
    created: bool
    share_id: str


class RecordEngagement:
    def __init__(
        self,
        shares: TrackedShares,
        store: EngagementStore,
        events: EngagementEvents,
        salt: str,
        notify: Notify,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._shares = shares
        self._store = store
        self._events = events
        self._salt = salt
        self._notify = notify
        self._clock = clock

    async def __call__(self, reports: list[EngagementReport]) -> list[EngagementResult]:
        if not 1 <= len(reports) <= MAX_BATCH:
            raise InvalidArgument(f"reports: 1..{MAX_BATCH} per call")
        now = self._clock()
        # Everything is validated and every share resolved before anything is written.
        for i, report in enumerate(reports):
            try:
                validate_report(report, f"reports[{i}]", now)
            except InvalidReport as exc:
                raise InvalidArgument(str(exc)) from exc
        targets = await self._resolve(reports)
        records = []
        for report, share in zip(reports, targets, strict=True):
            event = engagement_event(
                share,
                kind=report.kind,
                count=report.count,
                source=report.source,
                occurred_at=report.observed_at if report.HasField("observed_at") else to_timestamp(now),
                actor_fingerprint=fingerprint(self._salt, "actor", report.actor_id) if report.actor_id else "",
                comment_text=report.comment_text,
            )
            outbox = [self._events.outbox(event).to_document()]
            records.append(EngagementRecord(idempotency_id(report), share.share_id, event.event_id, outbox))
        stored = await self._store.insert_many(records)
        results = []
        for record, (event_id, created) in zip(records, stored, strict=True):
            if created:
                self._notify(record.record_id, record.outbox)
            results.append(EngagementResult(event_id, created, record.share_id))
        return results

    async def _resolve(self, reports: list[EngagementReport]) -> list[TrackedShare]:
        # A share id and a tracked code are both the share's `_id` (old-shape shares: an alias).
        refs = [getattr(report, report.WhichOneof("target") or "share_id") for report in reports]
        distinct = list(dict.fromkeys(refs))
        found = dict(zip(distinct, await asyncio.gather(*(self._shares.by_id(r) for r in distinct)), strict=True))
        targets = []
        for i, (report, ref) in enumerate(zip(reports, refs, strict=True)):
            share = found[ref]
            if share is None:
                raise NotFound(f"reports[{i}].{report.WhichOneof('target')}: no such share")
            targets.append(share)
        return targets


@dataclass(frozen=True)
class Click:
    """The outcome of one request of a tracked link: where to send the reader (None: unknown
    link) and what became of the click (`counted`, `bot`, `self`, `repeat`, `unknown`)."""

    target_url: str | None
    outcome: str
    event_id: str = ""
    share_id: str = ""


UNKNOWN = Click(None, "unknown")


class CountClick:
    """A click on a tracked link: classified (bot by user agent, the sharer's own by fingerprint),
    then through the (share, actor fingerprint) window, so consumers see exactly one CLICK per
    fingerprint per share per window, marked `is_bot` / `is_self` when it does not count."""

    def __init__(
        self,
        shares: TrackedShares,
        windows: ClickWindows,
        events: EngagementEvents,
        salt: str,
        window: timedelta,
        notify: Notify,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._shares = shares
        self._windows = windows
        self._events = events
        self._salt = salt
        self._window = window
        self._notify = notify
        self._clock = clock

    async def target(self, code: str) -> str | None:
        """Where the link leads (HEAD: no click)."""
        share = await self._shares.by_id(code) if CODE_PATTERN.match(code) else None
        return share.target_url if share else None

    async def __call__(self, code: str, client_ip: str, user_agent: str) -> Click:
        """Database errors while recording are raised after the lookup: the caller still knows
        where to send the reader (`ClickNotRecorded.target_url`)."""
        if not CODE_PATTERN.match(code):
            return UNKNOWN
        share = await self._shares.by_id(code)
        if share is None:
            return UNKNOWN
        actor = fingerprint(self._salt, client_ip, user_agent)
        kind = classify(user_agent=user_agent, actor_fingerprint=actor, sharer_fingerprint=share.sharer_fingerprint)
        now = self._clock()
        event = engagement_event(
            share,
            kind=EngagementKind.ENGAGEMENT_KIND_CLICK,
            count=1,
            source=EngagementSource.ENGAGEMENT_SOURCE_LINK_TRACKER,
            occurred_at=to_timestamp(now),
            actor_fingerprint=actor,
            click=kind,
        )
        try:
            opened = await self._windows.open_window(
                share.share_id, actor, now, self._window, self._events.outbox(event)
            )
        except Exception as exc:
            raise ClickNotRecorded(share.target_url, share.share_id) from exc
        if opened is None:
            return Click(share.target_url, "repeat", share_id=share.share_id)
        self._notify(*opened)
        return Click(share.target_url, kind.outcome, event.event_id, share.share_id)


class ClickNotRecorded(Exception):
    def __init__(self, target_url: str, share_id: str) -> None:
        super().__init__(f"click on {share_id} not recorded")
        self.target_url = target_url
        self.share_id = share_id
