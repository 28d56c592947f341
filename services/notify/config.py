"""Settings of the notify service's channels, read from ADVOCACY_NOTIFY_* environment variables.

Separate groups (email, webhooks, unsubscribe links), composed into the service's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
