"""The ONE place where Advocacy clients (the CLI, the demo driver, the live view, the benchmarks)
create gRPC channels and stubs.

Addresses come from options or ADVOCACY_<SERVICE>_ADDR (defaults: the `make run` ports). A token
(`--token` or ADVOCACY_TOKEN) is sent on every call as `authorization: Bearer <token>`; this module
never signs tokens. Every failed call becomes a `ServiceError` naming the service, its address and
a sentence a person can act on, so callers print it instead of a traceback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import grpc
from advocacy.analytics.v1 import analytics_pb2_grpc
from advocacy.content.v1 import content_pb2_grpc, training_pb2_grpc
from advocacy.notify.v1 import notify_pb2_grpc
from advocacy.rewards.v1 import rewards_pb2_grpc
from advocacy.share.v1 import share_pb2_grpc
from google.protobuf.message import Message

from services.clients.errors import TOKEN_ENV, ServiceError

SERVICES = ("content", "share", "rewards", "analytics", "notify")
DEFAULT_ADDRESSES = {name: f"127.0.0.1:{50051 + i}" for i, name in enumerate(SERVICES)}
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "content": content_pb2_grpc.ContentServiceStub,
    "share": share_pb2_grpc.ShareServiceStub,
    "rewards": rewards_pb2_grpc.RewardsServiceStub,
    "analytics": analytics_pb2_grpc.AnalyticsServiceStub,
    "notify": notify_pb2_grpc.NotifyServiceStub,
    "training": training_pb2_grpc.TrainingServiceStub,
}
# gRPC services served by another service's process (and so at its address, over its channel).
SERVED_BY = {"training": "content"}
DEFAULT_TIMEOUT_SECONDS = 10.0
__all__ = ["TOKEN_ENV", "Clients", "Rpc", "ServiceStub", "address_env", "addresses_from_env"]


def address_env(service: str) -> str:
    return f"ADVOCACY_{service.upper()}_ADDR"


def addresses_from_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Per service: the explicit override, else ADVOCACY_<SERVICE>_ADDR, else the `make run` port."""
    env, overrides = os.environ, overrides or {}
    return {s: overrides.get(s) or env.get(address_env(s)) or DEFAULT_ADDRESSES[s] for s in SERVICES}


class Rpc(Protocol):
    """One unary method of a service: the token and a deadline are added, failures raise `ServiceError`.
    `Clients.content` and the others are typed as the generated stubs (their `.pyi` from
    mypy-protobuf), so each method's request and reply types are checked."""

    def __call__(self, request: Message, timeout: float | None = None) -> Any: ...


class ServiceStub:
    """A service's stub whose methods are `Rpc`s: called as the generated stub's are (request,
    `timeout=`), so it stands in for that stub's type."""

    def __init__(self, service: str, address: str, stub: Any, metadata: tuple[tuple[str, str], ...], timeout: float):
        self._service, self._address, self._stub = service, address, stub
        self._metadata, self._timeout = metadata, timeout

    def __getattr__(self, method: str) -> Rpc:
        rpc = getattr(self._stub, method)

        def call(request: Message, timeout: float | None = None) -> Any:
            try:
                return rpc(request, metadata=self._metadata, timeout=timeout or self._timeout)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
                details = exc.details() if hasattr(exc, "details") else str(exc)
                raise ServiceError(self._service, self._address, method, code, details or "") from None

        return call


@dataclass
class Clients:
    """Stubs of the five services, created lazily, closed together."""

    addresses: dict[str, str] = field(default_factory=addresses_from_env)
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)
    _stubs: dict[str, ServiceStub] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the demo seeds from a thread pool

    @classmethod
    def from_env(cls, token: str | None = None, **addresses: str | None) -> Clients:
        return cls(addresses_from_env(addresses), token if token is not None else os.environ.get(TOKEN_ENV))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The auth metadata sent on every call."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def stub(self, service: str) -> ServiceStub:
        with self._lock:
            if service not in self._stubs:
                process = SERVED_BY.get(service, service)
                address = self.addresses[process]
                if process not in self._channels:
                    self._channels[process] = grpc.insecure_channel(address)
                stub = STUBS[service](self._channels[process])
                self._stubs[service] = ServiceStub(service, address, stub, self.metadata, self.timeout)
            return self._stubs[service]

    @property
    def content(self) -> content_pb2_grpc.ContentServiceStub:
        return cast(content_pb2_grpc.ContentServiceStub, self.stub("content"))

    @property
    def share(self) -> share_pb2_grpc.ShareServiceStub:
        return cast(share_pb2_grpc.ShareServiceStub, self.stub("share"))

    @property
    def rewards(self) -> rewards_pb2_grpc.RewardsServiceStub:
        return cast(rewards_pb2_grpc.RewardsServiceStub, self.stub("rewards"))

    @property
    def analytics(self) -> analytics_pb2_grpc.AnalyticsServiceStub:
        return cast(analytics_pb2_grpc.AnalyticsServiceStub, self.stub("analytics"))

    @property
    def notify(self) -> notify_pb2_grpc.NotifyServiceStub:
        return cast(notify_pb2_grpc.NotifyServiceStub, self.stub("notify"))

    @property
    def training(self) -> training_pb2_grpc.TrainingServiceStub:
        return cast(training_pb2_grpc.TrainingServiceStub, self.stub("training"))

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        self._stubs.clear()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
