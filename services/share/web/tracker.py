"""The tracked-link HTTP endpoint: `GET /l/{code}` → 302 to the item's URL (with UTM parameters),
and a CLICK engagement through the click-window outbox (`services.share.app.engagement.CountClick`
decides; this only translates HTTP)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.common.logging import get_logger
from services.share.app.engagement import ClickNotRecorded, CountClick

log = get_logger(__name__)

CLICKS = Counter(
    "advocacy_share_link_clicks_total",
    "Tracked-link requests by outcome (counted, bot, self, repeat = within the window, unknown, error).",
    ["outcome"],
)
MAX_USER_AGENT = 1000


class LinkTracker:
    def __init__(self, count_click: CountClick, trust_forwarded_for: bool) -> None:
        self._count = count_click
        self._trust_xff = trust_forwarded_for

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
        url = await self._count.target(request.match_info["code"])
        return self._redirect(url) if url else web.Response(status=404)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def click(self, request: web.Request) -> web.Response:
        user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
        try:
            click = await self._count(request.match_info["code"], self._client_ip(request), user_agent)
        except ClickNotRecorded as exc:
            # The reader still gets the page; this click is lost, and counted as such.
            log.warning("click_not_recorded", share_id=exc.share_id, error=str(exc.__cause__)[:200])
            CLICKS.labels("error").inc()
            return self._redirect(exc.target_url)
        except PyMongoError as exc:
            log.warning("link_lookup_failed", error=str(exc)[:200])
            CLICKS.labels("error").inc()
            return web.Response(status=503, text="try again")
        CLICKS.labels(click.outcome).inc()
        if click.target_url is None:
            return web.Response(status=404, text="unknown link")
        if click.event_id:
            log.info("click", share_id=click.share_id, event_id=click.event_id, outcome=click.outcome)
        return self._redirect(click.target_url)
