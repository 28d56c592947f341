from __future__ import annotations

from pydantic import Field, SecretStr

from services.common.config import ServiceSettings


class ShareSettings(ServiceSettings):
    grpc_port: int = 50052
    metrics_port: int = 9102
    # The content service, asked whether an item may be shared by an advocate.
    content_addr: str = "127.0.0.1:50051"
    # How long a *published* item, as GetContent answered, is reused for further shares (0: ask
    # every time). Expiry is still checked against the clock on every share; an item archived or
    # retargeted meanwhile is seen at most this late. Unpublished or unknown items are never kept.
    content_cache_seconds: float = Field(default=1.0, ge=0)
    # RecordShare reads items and advocates from local views of `content-published` and
    # `advocate-changed`; a view answers only while the broker confirmed it at the end of its topic
    # this recently, else the source is asked (GetContent; the advocate by `_id`).
    view_max_lag_seconds: float = Field(default=2.0, ge=0)
    # A share refused for a campaign's required lessons first waits at most this long for the view
    # of `lesson-completed` to read what Kafka held when it was asked (a lesson completed just
    # before sharing); only refusals wait.
    completion_wait_seconds: float = Field(default=1.0, ge=0, le=10)
    # Group commit: inserts of concurrent calls coalesced into one insert_many per collection,
    # at most this many documents per batch and this many batches in the database at once.
    group_commit_max_batch: int = Field(default=500, ge=1, le=5000)
    group_commit_concurrency: int = Field(default=2, ge=1, le=16)
    # The tracked-link endpoint (`GET /l/<code>`), served from this process.
    # Empty: the same interface as gRPC (ADVOCACY_GRPC_HOST), so one setting opens the pod to both.
    http_host: str = ""
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Base of tracked links handed to advocates (`<base>/l/<code>`): where http_port is reachable publicly.
    public_base_url: str = "http://127.0.0.1:8080"
    # Salt of actor fingerprints (SHA-256 of salt + client IP + user agent). Set a secret in
    # production: with a known salt, fingerprints of guessable clients could be recomputed.
    fingerprint_salt: SecretStr = SecretStr("local-development-salt")
    # One counted click per actor fingerprint per share per window.
    click_window_seconds: int = Field(default=1800, ge=1)
    # Behind an ingress / load balancer the client is the left-most X-Forwarded-For address;
    # only trust it when such a proxy sets it (otherwise anyone could pick their fingerprint).
    trust_forwarded_for: bool = False
