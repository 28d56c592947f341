"""The stream workers' logging: Faust's terminal spinner must not turn the root logger to DEBUG."""

from __future__ import annotations

import logging

import faust

from services.common.logging import logging_config
from services.common.stream_worker import ServiceWorker, WorkerLifecycle


async def _nothing() -> None:
    return None


def test_a_worker_at_warning_keeps_the_root_logger_at_warning():
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    app = faust.App("logging-test", broker="kafka://127.0.0.1:1", web_enabled=False, autodiscover=False)
    worker = ServiceWorker(
        app,
        WorkerLifecycle(_nothing, _nothing, _nothing, _nothing),
        loglevel="warning",
        logging_config=logging_config("WARNING"),
    )
    try:
        worker._setup_logging()
        assert root.level == logging.WARNING
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
