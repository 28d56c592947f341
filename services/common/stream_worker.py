"""How a stream service runs: a Faust worker (`ServiceWorker`) that also runs the service's gRPC
API on the same event loop: listening (NOT_SERVING) from the start, SERVING only after table
recovery, and stopped gracefully before the agents on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import faust
from pymongo import AsyncMongoClient

from services.common.grpc_server import GrpcServer, follow_database
from services.common.logging import configure_logging, get_logger, logging_config
from services.common.memory import report_store_memory, trace_allocations
from services.common.metrics import STREAM_READY, serve_metrics
from services.common.runtime import freeze_startup_objects
from services.common.stream import StreamSettings

log = get_logger(__name__)


class WorkerLifecycle:
    """What a stream service runs beside its agents (its gRPC API, database client).

    `stop` runs before the agents stop (the API stops taking calls); `close` after they stopped,
    so an agent finishing its batch still has its database client.
    """

    def __init__(
        self,
        start: Callable[[], Awaitable[None]],
        ready: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.start = start
        self.ready = ready
        self.stop = stop
        self.close = close


class ServiceWorker(faust.Worker):
    def __init__(self, app: faust.App, lifecycle: WorkerLifecycle, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._lifecycle = lifecycle

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # No terminal spinner: at a level of WARNING or above Faust's spinner set the root logger
        # to DEBUG, so every library's debug record was built (3% of the award agent's CPU).
        self.spinner = None

    async def on_first_start(self) -> None:
        await self._lifecycle.start()
        await super().on_first_start()

    async def on_startup_finished(self) -> None:
        # Faust calls this once tables are recovered and agents run: only now are we ready.
        await super().on_startup_finished()
        await self._lifecycle.ready()

    async def on_stop(self) -> None:
        await self._lifecycle.stop()
        await super().on_stop()

    async def on_shutdown(self) -> None:
        # mode calls this after the children (the app and its agents) have stopped.
        await super().on_shutdown()
        await self._lifecycle.close()


@dataclass
class StreamComponents:
    """What a stream service's composition root builds once the worker's event loop runs."""

    register: Callable[[GrpcServer], None]
    service_names: list[str]
    mongo: AsyncMongoClient
    # (run, stop) of tasks beside the API (e.g. views following a topic), started with it.
    background: list[tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], None]]] = field(default_factory=list)


def run_stream_service(
    name: str,
    settings: StreamSettings,
    app: faust.App,
    build: Callable[[], Awaitable[StreamComponents]],
) -> None:
    """Runs the Faust worker with the service's gRPC API on the same loop; exits 0 on SIGTERM."""
    configure_logging(name, settings.log_level)
    serve_metrics(settings.metrics_port)
    running: dict[str, Any] = {}
    stopping = asyncio.Event()

    async def start() -> None:
        components = await build()
        server = GrpcServer.from_settings(settings, components.service_names)
        components.register(server)
        await server.start()
        # Listening (alive) from here on, but not ready until tables are recovered.
        running.update(server=server, mongo=components.mongo, background=components.background)
        running["tasks"] = [asyncio.create_task(run()) for run, _ in components.background]
        log.info("grpc_listening", grpc_port=server.port, metrics_port=settings.metrics_port)

    async def ready() -> None:
        # Tables recovered and agents running: from now on readiness follows the database.
        STREAM_READY.set(1)
        freeze_startup_objects()
        if tracing := trace_allocations():
            running["stores"] = asyncio.create_task(report_store_memory(app.tables, tracing.interval_seconds, stopping))
        running["watcher"] = asyncio.create_task(follow_database(running["server"], running["mongo"], stopping))
        log.info("ready")

    async def stop() -> None:
        stopping.set()
        for task in ("watcher", "stores"):
            if task in running:
                await running[task]
        if "server" in running:
            await running["server"].stop(settings.shutdown_grace_seconds)
        for _, stop_task in running.get("background", []):
            stop_task()
        await asyncio.gather(*running.get("tasks", []), return_exceptions=True)

    async def close() -> None:
        if "mongo" in running:
            await running["mongo"].close()
        log.info("stopped")

    worker = ServiceWorker(
        app,
        WorkerLifecycle(start, ready, stop, close),
        loglevel=settings.log_level.lower(),
        logging_config=logging_config(settings.log_level),
    )
    worker.execute_from_commandline()
