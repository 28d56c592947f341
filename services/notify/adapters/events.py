"""Input events (protobuf) in the domain's terms; an event missing what planning needs is invalid
(`ValueError`), which the consumer loop dead-letters."""

from __future__ import annotations

from advocacy.content.v1.content_pb2 import ContentItem
from advocacy.rewards.v1.rewards_pb2 import PointsAwarded
from advocacy.share.v1.share_pb2 import AdvocateChanged, ShareMade

from services.common.events import from_timestamp, optional_time
from services.notify.domain.planning import Advocate, Audience, Award, Item, ShareFact


def award(event: PointsAwarded) -> Award:
    entry = event.entry
    if not entry.entry_id or not entry.advocate_id:
        raise ValueError("points-awarded: entry_id and advocate_id are required")
    occurred = entry.occurred_at if entry.HasField("occurred_at") else event.occurred_at
    return Award(
        entry_id=entry.entry_id,
        advocate_id=entry.advocate_id,
        points=entry.points,
        rule=entry.rule,
        occurred_at=from_timestamp(occurred),
        local_day=entry.local_day,
        units=entry.units,
        content_id=entry.content_id,
    )


def item(message: ContentItem) -> Item:
    if not message.content_id:
        raise ValueError("content-published: item.content_id is required")
    audience = message.audience
    return Item(
        content_id=message.content_id,
        title=message.title,
        url=message.url,
        summary=message.summary,
        topics=frozenset(message.topics),
        language=message.language,
        audience=Audience(
            frozenset(audience.teams),
            frozenset(audience.locations),
            frozenset(audience.languages),
            frozenset(audience.roles),
        ),
        published_at=optional_time(message, "published_at"),
    )


def share(event: ShareMade) -> ShareFact:
    s = event.share
    if not s.content_id or not s.advocate_id:
        raise ValueError("share-made: share.content_id and share.advocate_id are required")
    at = s.shared_at if s.HasField("shared_at") else event.occurred_at
    return ShareFact(s.advocate_id, s.content_id, s.audience_size, from_timestamp(at))


def advocate(event: AdvocateChanged) -> Advocate:
    a = event.advocate
    p = a.profile
    if not p.advocate_id:
        raise ValueError("advocate-changed: advocate.profile.advocate_id is required")
    return Advocate(
        advocate_id=p.advocate_id,
        display_name=p.display_name,
        team=p.team,
        location=p.location,
        language=p.language or "en",
        role=p.role,
        leader=p.leader,
        timezone=p.timezone or "UTC",
        interests=frozenset(a.interests),
        enrolled=a.enrolled,
    )
