"""One event's fact as it is stored: the unit every figure is summed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.analytics.domain.metrics import COUNTER_FIELDS, Totals
from services.analytics.domain.windows import Granularity, window_start

# The ORIGIN dimension's keys: shares of company items, and advocates' own posts (Share.own_post).
COMPANY, OWN = "company", "own"
ORIGINS = (COMPANY, OWN)


def fact_document(
    *,
    event_id: str,
    kind: str,
    content_id: str,
    advocate_id: str,
    team: str,
    leader: bool,
    campaign_id: str,
    network: str,
    occurred_at: datetime,
    received_at: datetime,
    too_late: bool,
    totals: Totals,
    share_id: str = "",
    comment_text: str = "",
    own_post: bool = False,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": event_id,
        "kind": kind,
        "content_id": content_id,
        "advocate_id": advocate_id,
        "team": team,
        "leader": leader,
        "campaign_id": campaign_id,
        "network": network,
        "share_id": share_id,
        # (Not "origin": that names the Kafka record a stored fact came from.)
        "post_origin": OWN if own_post else COMPANY,
        "occurred_at": occurred_at,
        "hour": window_start(occurred_at, Granularity.HOUR),
        "day": window_start(occurred_at, Granularity.DAY),
        "received_at": received_at,
        # Too late for its hour/day windows: counted in all-time figures only.
        "too_late": too_late,
    }
    for name in COUNTER_FIELDS:
        doc[name] = getattr(totals, name)
    if comment_text:
        doc["comment_text"] = comment_text
        doc["has_comment"] = True
    return doc
