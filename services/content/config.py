from __future__ import annotations

from pydantic import Field

from services.common.config import ServiceSettings


class ContentSettings(ServiceSettings):
    grpc_port: int = 50051
    metrics_port: int = 9101
    # How often the scheduler looks for items due to publish or expire (ADVOCACY_SCHEDULER_INTERVAL_SECONDS).
    scheduler_interval_seconds: float = Field(default=1.0, gt=0)
    # Builds the feed's advocate and shared-item views from `advocate-changed` and `share-made`.
    feed_views_enabled: bool = True
