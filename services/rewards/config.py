from __future__ import annotations

from pydantic import Field

from services.common.stream import StreamSettings


class RewardsSettings(StreamSettings):
    grpc_port: int = 50053
    metrics_port: int = 9103
    # How stale the agent's copy of the active rule set and campaigns may get (admin changes, no deploy).
    rules_refresh_seconds: float = Field(default=5.0, ge=0)
    # Leaderboards: a replica answers a board it read (one document per partition) from memory
    # for this long (0 = read on every call); one unread for the max-stale time is read first.
    leaderboard_cache_seconds: float = Field(default=0.5, ge=0)
    leaderboard_max_stale_seconds: float = Field(default=30.0, ge=0)
    # How long Redeem waits for the award agent's outcome before answering UNAVAILABLE (a retry
    # with the same idempotency key is safe: the agent decides a key once).
    redemption_timeout_seconds: float = Field(default=30.0, gt=0)
    # GetBalance and GetBadges read the accounts view (the compacted `rewards-accounts` topic in
    # memory): it answers while the broker confirmed it at the topic's end this recently, and a
    # call waits up to the wait for that before answering UNAVAILABLE.
    account_view_max_lag_seconds: float = Field(default=2.0, gt=0)
    account_view_wait_seconds: float = Field(default=5.0, ge=0)
