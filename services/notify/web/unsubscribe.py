"""The unsubscribe endpoint every email links to: `GET /unsubscribe/<token>` shows a page with a
confirm button; `POST /unsubscribe/<token>` opts the advocate out of everything (RFC 8058 one-click:
mail clients POST `List-Unsubscribe=One-Click` without showing the page). The token is signed, so
only the link's owner can use it; GET changes nothing (link scanners open every link)."""

from __future__ import annotations

import html
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.common.logging import get_logger
from services.notify.app.preferences import PreferencesService

log = get_logger(__name__)

UNSUBSCRIBES = Counter(
    "advocacy_notify_unsubscribe_requests_total",
    "Unsubscribe requests by outcome (shown, done, invalid, error)",
    ["outcome"],
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""
CONFIRM_FORM = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit">Unsubscribe</button></form>'
)


def page(title: str, text: str, form: str = "", status: int = 200) -> web.Response:
    body = PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    # Never cached, never indexed: the URL carries the advocate's token.
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


class UnsubscribePage:
    def __init__(self, preferences: PreferencesService, verify: Callable[[str], str]) -> None:
        self._prefs = preferences
        # Token -> advocate id; raises ValueError for a token that is not ours.
        self._verify = verify

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4096)
        app.router.add_get("/unsubscribe/{token}", self.confirm, allow_head=False)
        app.router.add_post("/unsubscribe/{token}", self.unsubscribe)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _advocate(self, request: web.Request) -> str | None:
        try:
            return self._verify(request.match_info["token"])
        except ValueError:
            UNSUBSCRIBES.labels("invalid").inc()
            return None

    async def confirm(self, request: web.Request) -> web.Response:
        if self._advocate(request) is None:
            return page("Link not valid", "This unsubscribe link is not valid.", status=404)
        UNSUBSCRIBES.labels("shown").inc()
        return page("Unsubscribe", "Stop all advocacy notifications (email, chat and app)?", CONFIRM_FORM)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        advocate_id = self._advocate(request)
        if advocate_id is None:
            return page("Link not valid", "This unsubscribe link is not valid.", status=404)
        try:
            await self._prefs.opt_out(advocate_id)
        except PyMongoError as exc:
            log.warning("unsubscribe_failed", error=str(exc)[:200])
            UNSUBSCRIBES.labels("error").inc()
            return page("Try again", "We could not save this right now. Please try again.", status=503)
        UNSUBSCRIBES.labels("done").inc()
        log.info("unsubscribed", advocate_id=advocate_id)
        return page("Unsubscribed", "You will receive no more advocacy notifications.")
