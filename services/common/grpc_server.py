"""Runs a grpc.aio server the same way for every service.

Adds bearer-token authentication and the authorization policy (services/common/auth.py, policy.py),
bounds on every request (services/common/validation.py),
the standard `grpc.health.v1` service (so Kubernetes' native `grpc:` probes work),
server reflection (so `grpcurl` works), RED metrics, a mapping of infrastructure errors
to precise status codes, and a graceful stop: NOT_SERVING first, then in-flight calls get
`grace` seconds to finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_interceptor import AsyncServerInterceptor
from grpc_interceptor.exceptions import GrpcException
from grpc_reflection.v1alpha import reflection
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError

from services.common.auth import AuthInterceptor, TokenVerifier, server_credentials, verifier_from_settings
from services.common.config import ServiceSettings
from services.common.logging import get_logger
from services.common.metrics import GRPC_HANDLED, GRPC_HANDLING_SECONDS
from services.common.validation import ValidationInterceptor

log = get_logger(__name__)

DATABASE_CHECK_SECONDS = 1.0

# Errors that mean "a dependency is down, try again": clients should see UNAVAILABLE, not INTERNAL.
_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    ServerSelectionTimeoutError,
    ConnectionFailure,
    ExecutionTimeout,
)


# Services that answer without the database.
_INFRASTRUCTURE_SERVICES = (health.SERVICE_NAME, reflection.SERVICE_NAME, "grpc.reflection.v1.ServerReflection")


class DatabaseDown(Exception):
    """The database watcher saw the database unreachable: answer UNAVAILABLE without trying."""


class ObservabilityInterceptor(AsyncServerInterceptor):
    """Counts and times every call; maps raised GrpcExceptions to their status and outages to UNAVAILABLE."""

    def __init__(self) -> None:
        # Set by the database watcher. While the database is known to be down, calls fail at once
        # instead of each waiting out PyMongo's server selection (its timeout, and again on a retry).
        self.database_down = False

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext, method_name: str
    ) -> Any:
        _, service, rpc = method_name.split("/")
        start = time.perf_counter()
        streaming = False
        code = grpc.StatusCode.OK
        try:
            if self.database_down and service not in _INFRASTRUCTURE_SERVICES:
                raise DatabaseDown("the database is unreachable")
            response = method(request, context)
            if hasattr(response, "__aiter__"):
                # Streaming (e.g. server reflection): observed by its own wrapper while it streams.
                streaming = True
                return self._observe_stream(response, context, service, rpc, start)
            return await response
        except Exception as exc:
            code, details = _status_and_log(exc, context, method_name)
            if isinstance(exc, ServerSelectionTimeoutError | ConnectionFailure):
                # Seen by a call before the watcher's next ping: the calls behind it fail at once.
                self.database_down = True
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await context.abort(code, details)
        finally:
            if not streaming:
                _record(service, rpc, code, start)

    @staticmethod
    async def _observe_stream(
        stream: Any, context: grpc.aio.ServicerContext, service: str, rpc: str, start: float
    ) -> AsyncIterator[Any]:
        code = grpc.StatusCode.OK
        try:
            async for item in stream:
                yield item
        except Exception as exc:
            code, details = _status_and_log(exc, context, f"/{service}/{rpc}")
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await context.abort(code, details)
        finally:
            _record(service, rpc, code, start)


def _record(service: str, rpc: str, code: grpc.StatusCode, start: float) -> None:
    GRPC_HANDLED.labels(service, rpc, code.name).inc()
    GRPC_HANDLING_SECONDS.labels(service, rpc).observe(time.perf_counter() - start)


def status_for(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status a client sees for an exception a servicer raised."""
    if isinstance(exc, GrpcException):
        # Servicers raise InvalidArgument("field: why"), NotFound(...): mapped here, in one place.
        return exc.status_code, exc.details
    if isinstance(exc, (*_UNAVAILABLE_ERRORS, DatabaseDown)):
        return grpc.StatusCode.UNAVAILABLE, f"a backing service is unavailable, retry later ({type(exc).__name__})"
    return grpc.StatusCode.INTERNAL, "internal error"


def _status_and_log(exc: Exception, context: grpc.aio.ServicerContext, method_name: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, grpc.aio.AbortError):
        # The servicer aborted the call itself; its status is already on the context.
        return context.code() or grpc.StatusCode.UNKNOWN, context.details() or ""
    code, details = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unhandled_error", method=method_name, exc_info=exc)
    elif code is grpc.StatusCode.UNAVAILABLE:
        log.warning("dependency_unavailable", method=method_name, error=str(exc)[:300])
    return code, details


class GrpcServer:
    """A grpc.aio server with health, reflection, metrics and authentication; `start()` then `stop()`.

    `auth` None serves without authentication (only when switched off explicitly); `credentials`
    None listens without TLS.
    """

    def __init__(
        self,
        host: str,
        port: int,
        service_names: Iterable[str],
        auth: TokenVerifier | None,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        # Observability outermost: refused calls are counted and mapped to their status like any other.
        self._observability = ObservabilityInterceptor()
        interceptors: list[AsyncServerInterceptor] = [self._observability]
        if auth is not None:
            interceptors.append(AuthInterceptor(auth))
        else:
            log.warning("authentication_disabled", reason="ADVOCACY_AUTH_ENABLED=false")
        interceptors.append(ValidationInterceptor())
        self._server = grpc.aio.server(interceptors=interceptors)
        self._health = health.aio.HealthServicer()
        self._service_names = list(service_names)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        address = f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {host}:{port} (port in use?)")

    @classmethod
    def from_settings(cls, settings: ServiceSettings, service_names: Iterable[str]) -> GrpcServer:
        """Listens on the configured address with the configured authentication and TLS."""
        return cls(
            settings.grpc_host,
            settings.grpc_port,
            service_names,
            auth=verifier_from_settings(settings),
            credentials=server_credentials(settings),
        )

    @property
    def server(self) -> grpc.aio.Server:
        return self._server

    async def start(self) -> None:
        """Starts listening: alive, but not ready until `set_ready(True)`."""
        await self._health.set("", _SERVING)
        await self.set_ready(False)
        await self._server.start()

    async def set_ready(self, ready: bool) -> None:
        """Readiness, per service name: NOT_SERVING while a dependency is down or state is recovering.

        The overall status "" (liveness) stays SERVING until shutdown, so Kubernetes takes a pod
        out of the Service during a database outage instead of restarting it.
        """
        status = _SERVING if ready else _NOT_SERVING
        for name in self._service_names:
            await self._health.set(name, status)

    def set_database_available(self, available: bool) -> None:
        self._observability.database_down = not available

    async def stop(self, grace: float) -> None:
        await self._health.enter_graceful_shutdown()  # every status NOT_SERVING, and stays so
        await self._server.stop(grace)


_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def follow_database(
    server: GrpcServer,
    mongo: AsyncMongoClient,
    stopping: asyncio.Event,
    recovered: Callable[[], bool] | None = None,
) -> None:
    """Readiness follows the database: NOT_SERVING while a ping fails, SERVING when it answers again.
    With `recovered`, not SERVING before it first says the service's state was rebuilt (then latched:
    a later lag of that state does not take the API out of service)."""
    ready: bool | None = None
    reachable = False
    state_ready = recovered is None
    while not stopping.is_set():
        try:
            await mongo.admin.command("ping")
            healthy = True
        except Exception as exc:
            healthy = False
            if reachable or ready is None:  # once per outage
                log.warning("database_unreachable", error=str(exc)[:200])
        # Every round, not only on a change: a call may have marked the database down in between.
        server.set_database_available(healthy)
        if not state_ready and recovered is not None and recovered():
            state_ready = True
            log.info("state_recovered")
        if healthy and not reachable:
            log.info("database_reachable")
        reachable = healthy
        if (healthy and state_ready) != ready:
            ready = healthy and state_ready
            await server.set_ready(ready)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=DATABASE_CHECK_SECONDS)
        except TimeoutError:
            pass
