"""Safe HTTP fetching of pages and feeds named by users (link previews, feed sources).

- http(s) only; at most `max_redirects` redirects, followed here one hop at a time so that each
  hop's URL is checked like the first;
- every address a hop connects to must be public (services/content/domain/preview.py), checked on
  the resolved addresses the connection then uses (a resolver that refuses, so a name that resolves
  to a public address when checked and a private one when connecting cannot slip through), unless
  private addresses are allowed (ADVOCACY_CONTENT_FETCH_ALLOW_PRIVATE) or the hop's host[:port]
  is listed in ADVOCACY_CONTENT_FETCH_ALLOW_HOSTS (an intranet newsroom, the demo's own feed);
- one time limit for the whole fetch (all hops and the body), and a byte limit on the body as
  decoded (a compressed bomb stops at the limit too).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDict
from yarl import URL

from services.content.domain.preview import is_public_address

USER_AGENT = "AdvocacyBot/1.0 (+link previews and feed sources)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """A fetch that gave nothing usable; `kind` is a bounded label (metrics), the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class RefusedAddress(OSError):
    pass


@dataclass(frozen=True)
class FetchResult:
    status: int  # 200..299, or 304 for a conditional request
    url: str  # after redirects
    headers: Mapping[str, str]
    body: bytes


class _Policy:
    def __init__(self, allow_private: bool, allow_hosts: frozenset[str]) -> None:
        self.allow_private = allow_private
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())

    def exempt(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        return self.allow_private or host in self.allow_hosts or f"{host}:{port}" in self.allow_hosts

    def check(self, host: str, port: int, addresses: list[str]) -> None:
        if self.exempt(host, port):
            return
        for address in addresses:
            if not is_public_address(address):
                raise RefusedAddress(f"{host} resolves to {address}, a non-public address")


class _GuardedResolver(AbstractResolver):
    """Resolves names and refuses non-public results: the check sits where aiohttp connects."""

    def __init__(self, policy: _Policy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)  # type: ignore[arg-type]
        self._policy.check(host, port, [r["host"] for r in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


def _hop_url(url: str, policy: _Policy) -> URL:
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError("refused", f"only absolute http(s) URLs are fetched, not {url[:200]!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if _is_ip(parsed.host):
        # IP literals never reach the resolver: they are checked here.
        try:
            policy.check(parsed.host, port, [parsed.host.strip("[]")])
        except RefusedAddress as exc:
            raise FetchError("refused", f"refused {url[:200]!r}: {exc}") from None
    return parsed


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
    except OSError:
        return False
    return True


class SafeFetcher:
    def __init__(
        self,
        timeout_seconds: float,
        max_redirects: int = 5,
        allow_private: bool = False,
        allow_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._timeout = timeout_seconds
        self._max_redirects = max_redirects
        self._policy = _Policy(allow_private, allow_hosts)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self._policy), use_dns_cache=False, limit=32)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, url: str, max_bytes: int, headers: Mapping[str, str] | None = None) -> FetchResult:
        """GET with the limits above; raises FetchError (kind: refused, timeout, too_large, http, unreachable)."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url, max_bytes, dict(headers or {}))
        except TimeoutError:
            raise FetchError("timeout", f"no complete answer within {self._timeout:g} s") from None

    async def _follow(self, url: str, max_bytes: int, headers: dict[str, str]) -> FetchResult:
        for _ in range(self._max_redirects + 1):
            hop = _hop_url(url, self._policy)
            try:
                async with self._client().get(hop, headers=headers, allow_redirects=False) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        url = urljoin(str(response.url), response.headers["Location"])
                        continue
                    if response.status != 304 and not 200 <= response.status < 300:
                        raise FetchError("http", f"HTTP {response.status} from {str(response.url)[:200]}")
                    body = await _read_limited(response, max_bytes)
                    return FetchResult(response.status, str(response.url), CIMultiDict(response.headers), body)
            except aiohttp.ClientConnectorDNSError as exc:
                if isinstance(exc.os_error, RefusedAddress):
                    raise FetchError("refused", f"refused {url[:200]!r}: {exc.os_error}") from None
                raise FetchError("unreachable", f"cannot resolve {hop.host}: {exc.os_error}") from None
            except aiohttp.ClientError as exc:
                raise FetchError("unreachable", f"{url[:200]}: {exc.__class__.__name__}: {exc}"[:500]) from None
        raise FetchError("refused", f"more than {self._max_redirects} redirects")


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if response.content_length is not None and response.content_length > max_bytes:
        raise FetchError("too_large", f"body of {response.content_length} bytes exceeds the {max_bytes} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("too_large", f"body exceeds the {max_bytes} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
