from __future__ import annotations

from pydantic import Field

from services.common.stream import StreamSettings


class RewardsSettings(StreamSettings):
    grpc_port: int = 50053
    metrics_port: int = 9103
    # How stale the agent's copy of the active rule set and campaigns may get (admin changes, no deploy).
    rules_refresh_seconds: float = Field(default=5.0, ge=0)
