"""A failed call, explained for people: which service, where, and what to do about it."""

from __future__ import annotations

import os

import grpc

TOKEN_ENV = "ADVOCACY_TOKEN"


class ServiceError(Exception):
    """A call failed; `str()` is a message for people, `code` the gRPC status."""

    def __init__(self, service: str, address: str, method: str, code: grpc.StatusCode, details: str) -> None:
        self.service, self.address, self.method, self.code, self.details = service, address, method, code, details
        super().__init__(explain(service, address, method, code, details))


def explain(service: str, address: str, method: str, code: grpc.StatusCode, details: str) -> str:
    where = f"{service} service at {address}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"the {where} is unavailable ({details or 'no answer'}); is `make run` running, or is the address right?"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the {where} did not answer {method} in time; it may be overloaded or still starting"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = "no token: set ADVOCACY_TOKEN or pass --token" if not os.environ.get(TOKEN_ENV) else "token refused"
        return f"{hint} ({where} said: {details or 'unauthenticated'})"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"your token may not call {method} ({where} said: {details or 'permission denied'})"
    return f"{method}: {code.name}: {details}"
