"""Settings of the notify service's channels, read from ADVOCACY_NOTIFY_* environment variables.

Separate groups (email, webhooks, unsubscribe links), composed into the service's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import ServiceSettings


class EmailSettings(BaseSettings):
    """ADVOCACY_NOTIFY_SMTP_HOST, _PORT, _TLS, _USERNAME, _PASSWORD, _TIMEOUT_SECONDS, _FROM_ADDRESS,
    _MESSAGE_ID_DOMAIN, _CA_FILE."""

    model_config = SettingsConfigDict(env_prefix="ADVOCACY_NOTIFY_SMTP_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=1025, ge=1, le=65535)
    # "starttls": upgrade a plain connection (port 587); "implicit": TLS from the first byte (465);
    # "none": plain, only for a relay on the same host or network.
    tls: Literal["none", "starttls", "implicit"] = "none"
    # Both empty: no AUTH.
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=10.0, gt=0)
    from_address: str = "Advocacy <advocacy@localhost>"
    # Right-hand side of Message-IDs; empty: the domain of from_address.
    message_id_domain: str = ""
    # CA bundle to verify the server's certificate with (a private CA); unset: the system's.
    ca_file: Path | None = None

    @classmethod
    def from_env(cls) -> Self:
        return cls()


class WebhookSettings(BaseSettings):
    """ADVOCACY_NOTIFY_WEBHOOK_TIMEOUT_SECONDS."""

    model_config = SettingsConfigDict(env_prefix="ADVOCACY_NOTIFY_WEBHOOK_", frozen=True, extra="ignore")

    # Whole request, connect to last byte: a receiver slower than this is retried later.
    timeout_seconds: float = Field(default=10.0, gt=0)

    @classmethod
    def from_env(cls) -> Self:
        return cls()


class UnsubscribeSettings(BaseSettings):
    """ADVOCACY_NOTIFY_UNSUBSCRIBE_SECRET."""

    model_config = SettingsConfigDict(env_prefix="ADVOCACY_NOTIFY_UNSUBSCRIBE_", frozen=True, extra="ignore")

    # Signs unsubscribe links: set a secret in production, or anyone could unsubscribe anyone.
    secret: SecretStr = SecretStr("local-development-unsubscribe-secret")

    @property
    def secret_bytes(self) -> bytes:
        return self.secret.get_secret_value().encode("utf-8")

    @classmethod
    def from_env(cls) -> Self:
        return cls()


class NotifySettings(ServiceSettings):
    """The service's own settings (ADVOCACY_*, as every service's); the channel groups above are
    read beside it."""

    grpc_port: int = 50055
    metrics_port: int = 9105
    # The unsubscribe endpoint (`/unsubscribe/<token>`); empty host: the gRPC interface's. Names of
    # their own: the share service's ADVOCACY_HTTP_PORT / PUBLIC_BASE_URL are for its links.
    unsubscribe_http_host: str = ""
    unsubscribe_http_port: int = Field(default=51055, ge=0, le=65535)
    # Where unsubscribe_http_port is reachable publicly: unsubscribe links in messages point here.
    unsubscribe_base_url: str = "http://127.0.0.1:51055"
    # Thank-yous: an advocate's awards in one window (by the award's occurred_at) become one
    # message, sent when it closed plus the grace: awards reach `points-awarded` after the share or
    # click they reward (the rewards worker's lag, seconds under load), and one arriving after its
    # window's message went out is recorded but not thanked again.
    thank_you_window_seconds: int = Field(default=60, ge=1, le=86400)
    thank_you_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Events older than this (by occurred_at) plan nothing: a first start or a long outage does
    # not send last month's news.
    max_event_age_seconds: float = Field(default=86400.0, gt=0)
    # Digests go at this local hour, in each advocate's timezone (weekly ones on Monday).
    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_tick_seconds: float = Field(default=30.0, gt=0)
    # At most this many messages per advocate in any hour; more wait (never dropped).
    rate_limit_per_hour: int = Field(default=6, ge=1, le=1000)
    # Retries of a failing channel: exponential from the initial wait up to the maximum, until the
    # message is max_age old; then it is dead-lettered.
    retry_initial_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    max_age_seconds: float = Field(default=86400.0, gt=0)
    delivery_concurrency: int = Field(default=8, ge=1, le=100)
    # The local views (advocates, items, awards, shares) count as current while the broker
    # confirmed their end of topic this recently.
    view_max_lag_seconds: float = Field(default=2.0, ge=0)
    # Email is sent only when switched on (ADVOCACY_NOTIFY_SMTP_* say where): the local platform
    # and the demo run without an SMTP server.
    email_enabled: bool = False
