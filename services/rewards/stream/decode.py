"""Raw input messages of the award agent to `Incoming` events (DecodeError / ValueError = poison)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from advocacy.common.v1.common_pb2 import Network
from advocacy.share.v1.share_pb2 import EngagementObserved, ShareMade
from faust.types import EventT

from services.common.events import from_timestamp
from services.common.topics import ENGAGEMENT_OBSERVED, SHARE_MADE
from services.rewards.app.incoming import (
    EARLY_KIND,
    ENGAGEMENT_KIND,
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


def _source(event: EventT) -> tuple[str, int, int]:
    message = event.message
    return f"{message.topic}/{message.partition}", message.offset, message.partition


def _engagement(event: EventT) -> Incoming:
    eng = EngagementObserved.FromString(event.value)
    at = from_timestamp(eng.occurred_at)
    source, offset, partition = _source(event)
    return Incoming(
        event=event,
        kind=ENGAGEMENT_KIND,
        source=source,
        offset=offset,
        partition=partition,
        advocate_id=eng.advocate.advocate_id,
        source_id=eng.event_id,
        at=at,
        day=local_day(at, eng.advocate.timezone).isoformat(),
        campaign_id=eng.campaign_id,
        content_id=eng.content_id,
        snapshot=eng.advocate,
        network=Network.Name(eng.network),
        engagement=eng,
    )


def _share(event: EventT, kind: str) -> Incoming:
    share = ShareMade.FromString(event.value)
    at = from_timestamp(share.occurred_at)
    source, offset, partition = _source(event)
    return Incoming(
        event=event,
        kind=kind,
        source=source,
        offset=offset,
        partition=partition,
        advocate_id=share.share.advocate_id,
        source_id=share.event_id,
        at=at,
        day=local_day(at, share.advocate.timezone).isoformat(),
        campaign_id=share.campaign_id,
        content_id=share.share.content_id,
        snapshot=share.advocate,
        network=Network.Name(share.share.network),
        audience=share.share.audience_size,
        share=share,
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
    source, offset, partition = _source(event)
    return Incoming(
        event=event,
        kind=REDEMPTION_KIND,
        source=source,
        offset=offset,
        partition=partition,
        advocate_id=advocate_id,
        source_id=request.key,
        at=at,
        day=at.date().isoformat(),
        redemption=request,
    )


def _sweep(event: EventT) -> Incoming:
    source, offset, partition = _source(event)
    at = datetime.fromtimestamp(event.message.timestamp or 0, UTC)
    return Incoming(event, SWEEP_KIND, source, offset, partition, "", "", at, at.date().isoformat())
