"""The demo company's newsroom: an RSS feed (and the article pages it links to, with OpenGraph
tags) served over HTTP by `make run` itself, gaining an entry every few minutes. A feed source
registered for it makes content arrive in the live view by itself, through the same poller,
de-duplication and link previews as a real company blog.

The entries are a pure function of time (entry k appears at start + k x every), so a restart of
the demo serves the same guids again and creates nothing twice.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

from services.demo.company import HEADLINES, TOPICS

FEED_ENTRIES = 20
# The feed's numbering starts at this (fixed) moment, so guids are stable across restarts.
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Story:
    number: int
    title: str
    topic: str
    published: float  # epoch seconds

    @property
    def path(self) -> str:
        return f"/newsroom/{self.number}"


def stories(now: float, every_seconds: float, count: int = FEED_ENTRIES) -> list[Story]:
    """The latest `count` stories at `now`, newest first."""
    latest = int((now - EPOCH) // every_seconds)
    found = []
    for number in range(latest, max(latest - count, -1), -1):
        topic = TOPICS[number % len(TOPICS)]
        headlines = HEADLINES[topic]
        title = f"{headlines[number // len(TOPICS) % len(headlines)]} (newsroom #{number})"
        found.append(Story(number, title, topic, EPOCH + number * every_seconds))
    return found


def rss(base_url: str, items: list[Story]) -> str:
    body = "".join(
        f"<item><title>{xml_escape(s.title)}</title><link>{base_url}{s.path}</link>"
        f'<guid isPermaLink="false">demo-newsroom-{s.number}</guid><category>{s.topic}</category>'
        f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(s.published))}</pubDate>"
        f"<description>{xml_escape(f'<p>News from our {s.topic} team.</p>')}</description></item>"
        for s in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Newsroom</title><link>{base_url}/newsroom</link><description>Company news</description>"
        f"{body}</channel></rss>"
    )


def article(base_url: str, story: Story) -> str:
    title = escape(story.title)
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:description" content="News from our {story.topic} team.">'
        f'<meta property="og:image" content="{base_url}/newsroom/{story.number}.png">'
        f'<meta property="og:site_name" content="Newsroom"></head><body><h1>{title}</h1></body></html>'
    )


class Newsroom:
    """Serves /newsroom/feed.xml (with ETag, answering 304) and the article pages, in a thread."""

    def __init__(self, host: str, port: int, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.base_url = f"http://{host}:{port}"
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._serving = False

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/newsroom/feed.xml"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        newsroom = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = newsroom.answer(self.path, self.headers.get("If-None-Match", ""))
                self.send_response(status)
                if status == 200:
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                if content_type.startswith("application/rss"):
                    self.send_header("ETag", etag(body))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the live view owns the terminal

        return Handler

    def answer(self, path: str, if_none_match: str, now: float | None = None) -> tuple[int, str, bytes]:
        now = time.time() if now is None else now
        if path == "/newsroom/feed.xml":
            body = rss(self.base_url, stories(now, self.every_seconds)).encode()
            status = 304 if if_none_match == etag(body) else 200
            return status, "application/rss+xml; charset=utf-8", body
        for story in stories(now, self.every_seconds):
            if path == story.path:
                return 200, "text/html; charset=utf-8", article(self.base_url, story).encode()
        return 404, "text/plain", b"not found"

    def start(self) -> Newsroom:
        threading.Thread(target=self._server.serve_forever, name="demo-newsroom", daemon=True).start()
        self._serving = True
        return self

    def stop(self) -> None:
        if self._serving:  # shutdown() waits for serve_forever(), which must have been started
            self._server.shutdown()
        self._server.server_close()


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
