"""Clients of the Advocacy gRPC APIs, shared by the `advocacy` CLI, the demo, the platform runner
and the benchmarks: addresses, channels, stubs, the bearer token on every call, and failures as
`ServiceError` (a sentence a person can act on)."""

from services.clients.channels import (
    DEFAULT_ADDRESSES,
    DEFAULT_TIMEOUT_SECONDS,
    SERVICES,
    STUBS,
    TOKEN_ENV,
    Clients,
    Rpc,
    ServiceStub,
    address_env,
    addresses_from_env,
)
from services.clients.errors import ServiceError, explain

__all__ = [
    "DEFAULT_ADDRESSES",
    "DEFAULT_TIMEOUT_SECONDS",
    "SERVICES",
    "STUBS",
    "TOKEN_ENV",
    "Clients",
    "Rpc",
    "ServiceError",
    "ServiceStub",
    "address_env",
    "addresses_from_env",
    "explain",
]
