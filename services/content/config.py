from __future__ import annotations

from services.common.config import ServiceSettings


class ContentSettings(ServiceSettings):
    grpc_port: int = 50051
    metrics_port: int = 9101
