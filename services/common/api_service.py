"""The shared main loop of an API service (content, share): gRPC server, metrics, background
tasks such as the outbox relay, database health, and a graceful stop on SIGTERM / SIGINT.

Stop order matters: health turns NOT_SERVING, the gRPC server lets in-flight calls finish
within the grace period, *then* background tasks get their own stop (so the outbox relay can
still send what those last calls wrote), then clients close.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from services.common.config import ServiceSettings
from services.common.grpc_server import GrpcServer, follow_database
from services.common.logging import configure_logging, get_logger
from services.common.memory import trace_allocations
from services.common.metrics import serve_metrics
from services.common.runtime import freeze_startup_objects

log = get_logger(__name__)


@dataclass
class ApiComponents:
    """What a service's composition root hands to the runner."""

    register: Callable[[GrpcServer], None]
    service_names: list[str]
    mongo: AsyncMongoClient
    # Long-running coroutines (outbox relays, schedulers); each paired with a stop callback.
    background: list[tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], None]]] = field(default_factory=list)
    start: Callable[[], Awaitable[None]] | None = None
    # Stops other entry points (e.g. an HTTP listener) together with the gRPC server, so what
    # their last requests wrote is still sent by the background tasks' final drain.
    stop: Callable[[], Awaitable[None]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    # Whether state rebuilt at start (local views read from topics) is ready: SERVING waits for it.
    recovered: Callable[[], bool] | None = None


async def run_api_service(name: str, settings: ServiceSettings, build: Callable[[], Awaitable[ApiComponents]]) -> None:
    configure_logging(name, settings.log_level)
    serve_metrics(settings.metrics_port)
    components = await build()
    server = GrpcServer.from_settings(settings, components.service_names)
    components.register(server)
    if components.start:
        await components.start()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(run(), name=f"{name}-bg-{i}") for i, (run, _) in enumerate(components.background)
    ]
    await server.start()
    watcher = asyncio.create_task(follow_database(server, components.mongo, stopping, components.recovered))
    freeze_startup_objects()
    trace_allocations()
    log.info("started", grpc_port=server.port, metrics_port=settings.metrics_port)

    await stopping.wait()
    log.info("stopping", grace_seconds=settings.shutdown_grace_seconds)
    if components.stop:
        await asyncio.gather(server.stop(settings.shutdown_grace_seconds), components.stop())
    else:
        await server.stop(settings.shutdown_grace_seconds)
    await watcher
    for _, stop in components.background:
        stop()
    _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    if components.close:
        await components.close()
    await components.mongo.close()
    log.info("stopped")
