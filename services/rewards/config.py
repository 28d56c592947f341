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
    # A redemption still PENDING after this long was cut short by a crash: the recovery sweep
    # completes it (if its debit was written) or rolls it back (gives its stock unit back).
    redemption_recovery_after_seconds: float = Field(default=60.0, gt=0)
    redemption_recovery_interval_seconds: float = Field(default=30.0, gt=0)
