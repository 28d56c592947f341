"""Raw input messages of the award agent to `Incoming` events (DecodeError / ValueError = poison)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from advocacy.common.v1.common_pb2 import Network
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.share.v1.share_pb2 import EngagementObserved, ShareMade
from faust.types import EventT

from services.common.events import from_timestamp
from services.common.topics import ENGAGEMENT_OBSERVED, LESSON_COMPLETED, SHARE_MADE
from services.rewards.app.incoming import (
    EARLY_KIND,
    ENGAGEMENT_KIND,
    LESSON_KIND,
    REDEMPTION_KIND,
    SHARE_KIND,
    SWEEP_KIND,
    Incoming,
    RedemptionRequest,
)
from services.rewards.domain.rules import local_day

SHARES_BY_CONTENT = "rewards-shares-by-content"
EARLY_SHARERS = "rewards-early-sharers"
REDEMPTION_REQUESTS = "rewards-redemption-requests"


def decode(event: EventT, topic: str) -> Incoming:
    """`topic` is the base name (without the test prefix)."""
    if topic == ENGAGEMENT_OBSERVED.name:
        incoming = _engagement(event)
    elif topic == REDEMPTION_REQUESTS:
        incoming = _redemption(event)
    elif topic == LESSON_COMPLETED.name:
        incoming = _lesson(event)
    else:
        incoming = _share(event, SHARE_KIND if topic == SHARE_MADE.name else EARLY_KIND)
    if incoming.kind != SWEEP_KIND and not (incoming.advocate_id and incoming.source_id):
        raise ValueError("advocate_id and event_id are required")
    return incoming


def redemption_message(request: RedemptionRequest) -> bytes:
    """The value of a redemption request (keyed by the advocate id), as `_redemption` reads it."""
    body = {"key": request.key, "request_id": request.request_id, "item_id": request.item_id, "cost": request.cost}
    return json.dumps(body).encode()


def sweep_message() -> bytes:
    """The value of a sweep request (sent to one partition of the redemption-request topic)."""
    return json.dumps({"sweep": True}).encode()


def _incoming(
    event: EventT, kind: str, advocate_id: str, source_id: str, at: datetime, day: str, **fields: Any
) -> Incoming:
    """An `Incoming` at its message's place: the states record offsets per "<topic>/<partition>"."""
    message = event.message
    source = f"{message.topic}/{message.partition}"
    return Incoming(event, kind, source, message.offset, message.partition, advocate_id, source_id, at, day, **fields)


def _by_advocate(
    event: EventT,
    kind: str,
    msg: EngagementObserved | ShareMade,
    advocate_id: str,
    content_id: str,
    network: int,
    **fields: Any,
) -> Incoming:
    """A share or an engagement: at its occurrence, on the advocate's local day."""
    at = from_timestamp(msg.occurred_at)
    return _incoming(
        event,
        kind,
        advocate_id,
        msg.event_id,
        at,
        local_day(at, msg.advocate.timezone).isoformat(),
        campaign_id=msg.campaign_id,
        content_id=content_id,
        snapshot=msg.advocate,
        network=Network.Name(network),
        **fields,
    )


def _engagement(event: EventT) -> Incoming:
    eng = EngagementObserved.FromString(event.value)
    return _by_advocate(
        event, ENGAGEMENT_KIND, eng, eng.advocate.advocate_id, eng.content_id, eng.network, engagement=eng
    )


def _share(event: EventT, kind: str) -> Incoming:
    made = ShareMade.FromString(event.value)
    share = made.share
    return _by_advocate(
        event, kind, made, share.advocate_id, share.content_id, share.network, audience=share.audience_size, share=made
    )


def _lesson(event: EventT) -> Incoming:
    done = LessonCompleted.FromString(event.value)
    if not done.lesson_id:
        raise ValueError("lesson_id is required")
    at = from_timestamp(done.occurred_at)
    day = local_day(at, done.advocate.timezone).isoformat()
    # The lesson goes where the ledger names what an award was for (content_id).
    return _incoming(
        event,
        LESSON_KIND,
        done.advocate.advocate_id,
        done.event_id,
        at,
        day,
        content_id=done.lesson_id,
        snapshot=done.advocate,
        lesson=done,
    )


def _redemption(event: EventT) -> Incoming:
    try:
        body = json.loads(event.value)
        if isinstance(body, dict) and body.get("sweep") is True:
            return _sweep(event)
        request = RedemptionRequest(str(body["key"]), str(body["request_id"]), str(body["item_id"]), int(body["cost"]))
        advocate_id = (event.message.key or b"").decode()
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"redemption request: {exc}") from None
    at = datetime.fromtimestamp(event.message.timestamp or 0, UTC)
    return _incoming(event, REDEMPTION_KIND, advocate_id, request.key, at, at.date().isoformat(), redemption=request)


def _sweep(event: EventT) -> Incoming:
    at = datetime.fromtimestamp(event.message.timestamp or 0, UTC)
    return _incoming(event, SWEEP_KIND, "", "", at, at.date().isoformat())
