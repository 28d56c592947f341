"""Typed, frozen settings read from ADVOCACY_* environment variables.

Defaults point at the local embedded stack started by `infra/stack.py`; a bad value
fails at start-up, not at first use.
"""

from __future__ import annotations

from pathlib import Path

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
    # With PyMongo's re-check step shortened to 0.1 s (services/common/mongo.py), a call answers
    # within ≈ 0.1 s of this timeout.
    mongo_timeout_ms: int = Field(default=500, ge=100)
    # How often an outbox relay looks for events nobody told it about (a crashed process's, another
    # replica's): its own writes it sends at once by `_id`. On FerretDB the sweep reads the whole
    # collection, so it is rare; a restarted process sweeps at start anyway.
    outbox_sweep_seconds: float = Field(default=60.0, gt=0)

    # Authentication (services/common/auth.py): on unless switched off explicitly; a service with
    # neither key refuses to start. The local platform passes a generated development key.
    auth_enabled: bool = True
    auth_hs256_key: SecretStr | None = None
    # JWKS file with the public keys (RS256 / ES256 / EdDSA) of the identity provider.
    auth_jwks_file: Path | None = None
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    # The token this service sends to other services; minted from auth_hs256_key when unset.
    auth_service_token: SecretStr | None = None
    # TLS for the gRPC server; mutual TLS when tls_client_ca_file is set (clients need a cert it signed).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # TLS for this service's own gRPC clients: the CA of the other services' certificates (the
    # tls_cert_file / tls_key_file pair is presented as the client certificate).
    tls_ca_file: Path | None = None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
