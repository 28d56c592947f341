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

    # Fetching pages (link previews) and feeds (sources): services/content/adapters/fetch.py.
    # Private, loopback and link-local addresses are refused unless allowed here (local stack, tests).
    content_fetch_allow_private: bool = False
    # Comma-separated host or host:port values exempt from that check (an intranet newsroom, the demo feed).
    content_fetch_allow_hosts: str = ""
    content_fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    content_fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    # Pages are read up to this many bytes (a preview needs only the head), feeds up to the second.
    content_preview_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    content_feed_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    content_previews_enabled: bool = True
    content_preview_concurrency: int = Field(default=2, ge=1, le=32)
    content_sources_enabled: bool = True
    # The poller looks for due sources this often, and lists the sources again this often.
    content_source_tick_seconds: float = Field(default=1.0, gt=0)
    content_source_refresh_seconds: float = Field(default=10.0, gt=0)
    content_source_min_interval_seconds: int = Field(default=60, ge=1)
    content_source_max_backoff_seconds: float = Field(default=6 * 3600.0, gt=0)
    # A poll claim older than this is free again (its replica died); longer than a fetch can take.
    content_source_lease_seconds: float = Field(default=120.0, gt=0)
    content_source_concurrency: int = Field(default=8, ge=1, le=64)

    def fetch_allow_hosts(self) -> frozenset[str]:
        return frozenset(h.strip() for h in self.content_fetch_allow_hosts.split(",") if h.strip())
