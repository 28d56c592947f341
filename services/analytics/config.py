from __future__ import annotations

from services.common.stream import StreamSettings


class AnalyticsSettings(StreamSettings):
    grpc_port: int = 50054
    metrics_port: int = 9104
