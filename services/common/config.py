"""Typed, frozen settings read from ADVOCACY_* environment variables.

Defaults point at the local embedded stack started by `infra/stack.py`; a bad value
fails at start-up, not at first use.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADVOCACY_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongo_db: str = "advocacy"
    # Prefix for every topic name: lets tests run isolated on one broker.
    topic_prefix: str = ""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    log_level: str = "INFO"
    # Time in-flight RPCs get to finish after SIGTERM.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # How long to wait for a reachable database before answering UNAVAILABLE (well under 1 s).
    mongo_timeout_ms: int = Field(default=800, ge=100)
    # How often an outbox relay looks for events nobody told it about (a crashed process's, another
    # replica's): its own writes it sends at once by `_id`. On FerretDB the sweep reads the whole
    # collection, so it is rare; a restarted process sweeps at start anyway.
    outbox_sweep_seconds: float = Field(default=60.0, gt=0)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
