from __future__ import annotations

from services.common.stream import StreamSettings


class RewardsSettings(StreamSettings):
    grpc_port: int = 50053
    metrics_port: int = 9103
