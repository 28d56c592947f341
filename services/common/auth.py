"""Authentication for every gRPC API: bearer JWTs, one server interceptor, and the client side.

A caller sends `authorization: Bearer <JWT>`. The token is signed with HS256 (a shared key,
ADVOCACY_AUTH_HS256_KEY) or with a key from a JWKS file (RS256 / ES256 / EdDSA public keys,
ADVOCACY_AUTH_JWKS_FILE); `exp` is required and checked with a small leeway, `iss` / `aud` when
configured. Claims: `sub` (the caller; an advocate's id for advocates) and `role`
(`admin`, `advocate` or `service`). What each role may call is declared once, in
services/common/policy.py; this module only enforces it.

Health and reflection stay open (Kubernetes probes and grpcurl carry no token).

Local development: `make run` and the tests use a random key generated once per checkout in
.local/auth/dev-hs256.key (never a key in the repository); mint a token for it with
`advocacy admin token --role admin --sub alice`. Clients (the `advocacy` CLI,
scripts) send the token found in ADVOCACY_TOKEN.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import time
from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from grpc_interceptor import AsyncServerInterceptor
from grpc_interceptor.exceptions import PermissionDenied, Unauthenticated

from services.common.config import ServiceSettings
from services.common.logging import get_logger
from services.common.policy import ADMIN, ADVOCATE, EVERYONE, POLICY, SERVICE, Rule

log = get_logger(__name__)

ROLES = frozenset(EVERYONE)
__all__ = ["ADMIN", "ADVOCATE", "SERVICE", "Caller", "current_caller", "dev_token"]

# The CLI and scripts read the caller's token from here (`authorization: Bearer $ADVOCACY_TOKEN`).
TOKEN_ENV = "ADVOCACY_TOKEN"
KEY_ENV = "ADVOCACY_AUTH_HS256_KEY"
ROOT = Path(__file__).resolve().parents[2]
DEV_KEY_FILE = ROOT / ".local" / "auth" / "dev-hs256.key"
# Asymmetric algorithms a JWKS key may use; HS256 only ever with the configured shared key.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
MIN_HS256_KEY_BYTES = 32
MAX_TOKEN_CHARS = 8192
MAX_SUBJECT = 128
# Methods callable without a token: the standard health and reflection services.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.")


@dataclass(frozen=True)
class Caller:
    subject: str
    role: str


# The authenticated caller of the RPC being handled (set by AuthInterceptor), for servicers that
# narrow what a role sees (e.g. an advocate reading content).
CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("advocacy_caller", default=None)


def current_caller() -> Caller | None:
    return CALLER.get()


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or lacks a valid claim."""


class TokenVerifier:
    def __init__(
        self,
        hs256_key: str | None = None,
        jwks: jwt.PyJWKSet | None = None,
        issuer: str = "",
        audience: str = "",
        leeway_seconds: float = 30.0,
    ) -> None:
        if not hs256_key and not jwks:
            raise ValueError("authentication needs ADVOCACY_AUTH_HS256_KEY or ADVOCACY_AUTH_JWKS_FILE")
        if hs256_key is not None and len(hs256_key.encode()) < MIN_HS256_KEY_BYTES:
            raise ValueError(f"ADVOCACY_AUTH_HS256_KEY: at least {MIN_HS256_KEY_BYTES} bytes")
        self._hs256_key = hs256_key
        self._jwks = jwks
        self._issuer = issuer or None
        self._audience = audience or None
        self._leeway = leeway_seconds

    def _key(self, header: dict[str, Any]) -> tuple[Any, str]:
        alg = header.get("alg")
        if alg == "HS256" and self._hs256_key:
            return self._hs256_key, "HS256"
        if alg in ASYMMETRIC and self._jwks is not None:
            kid = header.get("kid")
            keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
            if kid is None and len(keys) != 1:
                raise InvalidToken("token has no 'kid' and the JWKS holds more than one key")
            for key in keys:
                if key.algorithm_name == alg:
                    return key, alg
            raise InvalidToken(f"no key for kid={kid!r} and alg={alg!r}")
        raise InvalidToken(f"algorithm {alg!r} is not accepted")

    def verify(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token too long")
        try:
            key, alg = self._key(jwt.get_unverified_header(token))
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        subject, role = claims.get("sub"), claims.get("role")
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
            raise InvalidToken(f"claim 'sub': 1..{MAX_SUBJECT} characters")
        if role not in ROLES:
            raise InvalidToken(f"claim 'role': one of {', '.join(sorted(ROLES))}")
        return Caller(subject=subject, role=role)


def verifier_from_settings(settings: ServiceSettings) -> TokenVerifier | None:
    """None when authentication is switched off (ADVOCACY_AUTH_ENABLED=false, never the default)."""
    if not settings.auth_enabled:
        return None
    jwks = None
    if settings.auth_jwks_file is not None:
        jwks = jwt.PyJWKSet.from_json(settings.auth_jwks_file.read_text())
    key = settings.auth_hs256_key.get_secret_value() if settings.auth_hs256_key else None
    return TokenVerifier(key, jwks, settings.auth_issuer, settings.auth_audience, settings.auth_leeway_seconds)


def bearer_token(metadata: Iterable[tuple[str, Any]] | None) -> str:
    for name, value in metadata or ():
        if name == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise InvalidToken("authorization metadata must be 'Bearer <token>'")
            return token.strip()
    raise InvalidToken("missing 'authorization: Bearer <token>' metadata")


def _field(request: Any, path: str) -> Any:
    value = request
    for name in path.split("."):
        value = getattr(value, name)
    return value


def authorize(rule: Rule, caller: Caller, request: Any, method: str) -> None:
    """Raises PermissionDenied unless the rule lets this caller make this request."""
    if caller.role not in rule.roles:
        raise PermissionDenied(f"{method}: role {caller.role!r} may not call it (allowed: {', '.join(rule.roles)})")
    if caller.role == ADVOCATE and rule.self_field and _field(request, rule.self_field) != caller.subject:
        raise PermissionDenied(f"{rule.self_field}: an advocate may only act as themself ({caller.subject!r})")


class AuthInterceptor(AsyncServerInterceptor):
    """Authenticates every call except health and reflection, then applies the RPC's policy entry.

    An RPC without an entry in POLICY is refused (deny by default); a unit test keeps the table complete.
    """

    def __init__(self, verifier: TokenVerifier, policy: dict[str, Rule] | None = None) -> None:
        self._verifier = verifier
        self._policy = POLICY if policy is None else policy

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext, method_name: str
    ) -> Any:
        if method_name.startswith(OPEN_SERVICES):
            response = method(request, context)
            return response if hasattr(response, "__aiter__") else await response
        try:
            caller = self._verifier.verify(bearer_token(context.invocation_metadata()))
        except InvalidToken as exc:
            raise Unauthenticated(str(exc)) from None
        rule = self._policy.get(method_name)
        if rule is None:
            raise PermissionDenied(f"{method_name}: no authorization policy for this method")
        authorize(rule, caller, request, method_name)
        token = CALLER.set(caller)
        try:
            response = await method(request, context)
        finally:
            CALLER.reset(token)
        if caller.role == ADVOCATE and rule.advocate_view is not None:
            rule.advocate_view(response)
        return response


# --- tokens -----------------------------------------------------------------------------------


def mint_token(
    key: str, subject: str, role: str, ttl_seconds: float = 3600, issuer: str = "", audience: str = ""
) -> str:
    """An HS256 token: for development, tests and a service's own calls when it holds the shared key."""
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(sorted(ROLES))}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "iat": now, "exp": now + int(ttl_seconds)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm="HS256")


def local_dev_key(path: Path = DEV_KEY_FILE) -> str:
    """This checkout's development key: random, created on first use, readable by its owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def dev_key() -> str:
    """The key the local platform uses: ADVOCACY_AUTH_HS256_KEY when set, else this checkout's dev key."""
    return os.environ.get(KEY_ENV) or local_dev_key()


def dev_token(subject: str, role: str, key: str | None = None, ttl_seconds: float = 12 * 3600) -> str:
    """A token for the local platform (`make run`, tests, the CLI in development)."""
    return mint_token(key or dev_key(), subject, role, ttl_seconds)


class TokenSource:
    """A token for outgoing calls: a fixed one, or one minted (and renewed before expiry) from a key."""

    def __init__(self, fixed: str | None = None, key: str | None = None, subject: str = "", role: str = SERVICE):
        self._fixed, self._key, self._subject, self._role = fixed, key, subject, role
        self._token, self._renew_at = "", 0.0

    def __call__(self) -> str:
        if self._fixed is not None:
            return self._fixed
        if self._key is None:
            return ""
        if time.monotonic() >= self._renew_at:
            self._token = mint_token(self._key, self._subject, self._role, ttl_seconds=3600)
            self._renew_at = time.monotonic() + 3000
        return self._token


def service_token_source(settings: ServiceSettings, service_name: str) -> TokenSource:
    """The token a service sends to the others: ADVOCACY_AUTH_SERVICE_TOKEN, else minted with the shared key."""
    if settings.auth_service_token is not None:
        return TokenSource(fixed=settings.auth_service_token.get_secret_value())
    key = settings.auth_hs256_key.get_secret_value() if settings.auth_hs256_key else None
    return TokenSource(key=key, subject=service_name, role=SERVICE)


class _CallDetails(
    namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    """grpc's ClientCallDetails is abstract: the pattern from grpc's own interceptor examples."""


def _with_token(details: Any, token: str) -> _CallDetails:
    return _CallDetails(
        details.method,
        details.timeout,
        [*(details.metadata or ()), ("authorization", f"Bearer {token}")],
        details.credentials,
        getattr(details, "wait_for_ready", None),
        getattr(details, "compression", None),
    )


class BearerAuth(grpc.UnaryUnaryClientInterceptor):
    """Sync client side: adds `authorization: Bearer <token>` to every unary call."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(_with_token(client_call_details, self._token()), request)


class AioBearerAuth(grpc.aio.UnaryUnaryClientInterceptor):
    """grpc.aio client side: adds `authorization: Bearer <token>` to every unary call."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            grpc.aio.Metadata(*(client_call_details.metadata or ()), ("authorization", f"Bearer {self._token()}")),
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def _source(token: str | Callable[[], str]) -> Callable[[], str]:
    return (lambda: token) if isinstance(token, str) else token


def authorized_channel(address: str, token: str | Callable[[], str]) -> grpc.Channel:
    """A sync channel that sends the token on every call (tests, scripts, the CLI)."""
    return grpc.intercept_channel(grpc.insecure_channel(address), BearerAuth(_source(token)))


def authorized_aio_channel(
    address: str, token: str | Callable[[], str], credentials: grpc.ChannelCredentials | None = None
) -> grpc.aio.Channel:
    """A grpc.aio channel that sends the token on every call; TLS when `credentials` are given."""
    interceptors = [AioBearerAuth(_source(token))]
    if credentials is None:
        return grpc.aio.insecure_channel(address, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, interceptors=interceptors)


# --- TLS ----------------------------------------------------------------------------------------


def server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    """TLS for the gRPC server when a cert and key are configured; mutual TLS when a client CA is."""
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("ADVOCACY_TLS_CERT_FILE and ADVOCACY_TLS_KEY_FILE go together")
    pair = (settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)


def service_channel(address: str, settings: ServiceSettings, service_name: str) -> grpc.aio.Channel:
    """A service's channel to another service: its service token on every call; TLS (with this
    service's certificate as the client certificate, for mTLS) when ADVOCACY_TLS_CA_FILE is set."""
    credentials = None
    if settings.tls_ca_file is not None:
        key = settings.tls_key_file.read_bytes() if settings.tls_key_file else None
        cert = settings.tls_cert_file.read_bytes() if settings.tls_cert_file else None
        credentials = grpc.ssl_channel_credentials(settings.tls_ca_file.read_bytes(), key, cert)
    return authorized_aio_channel(address, service_token_source(settings, service_name), credentials)
