"""The tracked-link HTTP endpoint: `GET /l/{code}` → 302 to the item's URL (with UTM parameters),
and a CLICK engagement through the click-window outbox.

A click is classified (bot by user agent, the sharer's own by fingerprint) and then goes through
the (share, actor fingerprint) window: the first click of a window is emitted, marked `is_bot` /
`is_self` when it does not count; further clicks within the window emit nothing. So consumers
count exactly one CLICK per fingerprint per share per window, and never a bot's or the sharer's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, EngagementSource
from aiohttp import web
from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.logging import get_logger
from services.common.outbox import OutboxEvent
from services.common.topics import ENGAGEMENT_OBSERVED
from services.share.adapters.repository import ClickWindowRepository, ShareRepository
from services.share.domain.links import CODE_PATTERN, classify, fingerprint

log = get_logger(__name__)

CLICKS = Counter(
    "advocacy_share_link_clicks_total",
    "Tracked-link requests by outcome (counted, bot, self, repeat = within the window, unknown, error).",
    ["outcome"],
)
MAX_USER_AGENT = 1000


class LinkTracker:
    def __init__(
        self,
        shares: ShareRepository,
        windows: ClickWindowRepository,
        topic: Callable[[str], str],
        salt: str,
        window: timedelta,
        trust_forwarded_for: bool,
        on_outbox_write: Callable[[str, list[dict[str, Any]]], None],
    ) -> None:
        self._shares = shares
        self._windows = windows
        self._topic = topic
        self._salt = salt
        self._window = window
        self._trust_xff = trust_forwarded_for
        self._notify = on_outbox_write

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/l/{code}", self.click, allow_head=False)
        # HEAD (link checkers) redirects too but is no click.
        app.router.add_head("/l/{code}", self.head)
        app.router.add_get("/healthz", self.healthz)
        return app

    def _client_ip(self, request: web.Request) -> str:
        if self._trust_xff:
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                # The left-most address is the client as the first (trusted) proxy saw it.
                return forwarded.split(",")[0].strip()
        return request.remote or ""

    @staticmethod
    def _redirect(url: str) -> web.Response:
        # no-store: every click must reach us, a cached redirect would hide it.
        return web.Response(
            status=302, headers={"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        )

    async def head(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        share = await self._shares.by_code(code) if CODE_PATTERN.match(code) else None
        if share is None:
            return web.Response(status=404)
        return self._redirect(share.target_url)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def click(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        if not CODE_PATTERN.match(code):
            CLICKS.labels("unknown").inc()
            return web.Response(status=404, text="unknown link")
        try:
            share = await self._shares.by_code(code)
        except PyMongoError as exc:
            log.warning("link_lookup_failed", error=str(exc)[:200])
            CLICKS.labels("error").inc()
            return web.Response(status=503, text="try again")
        if share is None:
            CLICKS.labels("unknown").inc()
            return web.Response(status=404, text="unknown link")

        user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
        actor = fingerprint(self._salt, self._client_ip(request), user_agent)
        kind = classify(user_agent=user_agent, actor_fingerprint=actor, sharer_fingerprint=share.sharer_fingerprint)
        now = utcnow()
        event = EngagementObserved(
            event_id=new_event_id(),
            occurred_at=to_timestamp(now),
            share_id=share.share_id,
            content_id=share.content_id,
            advocate=share.advocate,
            network=share.network,  # type: ignore[arg-type]
            kind=EngagementKind.ENGAGEMENT_KIND_CLICK,
            count=1,
            source=EngagementSource.ENGAGEMENT_SOURCE_LINK_TRACKER,
            actor_fingerprint=actor,
            campaign_id=share.campaign_id,
            is_bot=kind.is_bot,
            is_self=kind.is_self,
        )
        outbox = OutboxEvent(
            event_id=event.event_id,
            topic=self._topic(ENGAGEMENT_OBSERVED.name),
            key=share.advocate_id,
            value=event.SerializeToString(),
        )
        try:
            opened = await self._windows.open_window(share.share_id, actor, now, self._window, outbox)
        except PyMongoError as exc:
            # The reader still gets the page; this click is lost, and counted as such.
            log.warning("click_not_recorded", share_id=share.share_id, error=str(exc)[:200])
            CLICKS.labels("error").inc()
            return self._redirect(share.target_url)
        if opened:
            self._notify(*opened)
            log.info("click", share_id=share.share_id, event_id=event.event_id, outcome=kind.outcome)
        CLICKS.labels(kind.outcome if opened else "repeat").inc()
        return self._redirect(share.target_url)


class HttpServer:
    """The tracker's aiohttp site, started and stopped with the service."""

    def __init__(self, app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
        self._runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        log.info("http_started", port=self._port)

    async def stop(self) -> None:
        # Stops listening, then waits (up to shutdown_timeout) for in-flight clicks to finish.
        await self._runner.cleanup()
