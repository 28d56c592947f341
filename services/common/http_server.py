"""An aiohttp site started and stopped with a service (share's link tracker, notify's unsubscribe page)."""

from __future__ import annotations

from aiohttp import web

from services.common.logging import get_logger

log = get_logger(__name__)


class HttpServer:
    """One aiohttp application served on host:port, with a graceful stop."""

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
        # Stops listening, then waits (up to shutdown_timeout) for in-flight requests to finish.
        await self._runner.cleanup()
