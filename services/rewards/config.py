from __future__ import annotations

from pydantic import Field

from services.common.stream import StreamSettings


class RewardsSettings(StreamSettings):
    grpc_port: int = 50053
    metrics_port: int = 9103
    # How stale the agent's copy of the active rule set and campaigns may get (admin changes, no deploy).
    rules_refresh_seconds: float = Field(default=5.0, ge=0)
    # Leaderboards: each replica recomputes a board it was asked for from the ledger at most this
    # often (0 = on every read) and answers from memory meanwhile (services/common/read_cache.py).
    leaderboard_cache_seconds: float = Field(default=5.0, ge=0)
    # A board not read for this long is recomputed before it is answered (not served stale).
    leaderboard_max_stale_seconds: float = Field(default=300.0, ge=0)
    # How long one board's computation (a ledger aggregation) may take before the read fails.
    leaderboard_timeout_seconds: float = Field(default=120.0, gt=0)
    # How long Redeem waits for the award agent's outcome before answering UNAVAILABLE (a retry
    # with the same idempotency key is safe: the agent decides a key once).
    redemption_timeout_seconds: float = Field(default=30.0, gt=0)
