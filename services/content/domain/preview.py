"""Link previews (pure): what a page says about itself in OpenGraph / Twitter-card tags, and which
addresses the service may fetch from."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

MAX_PREVIEW_TITLE = 300
MAX_PREVIEW_DESCRIPTION = 1000
MAX_PREVIEW_URL = 2048


@dataclass(frozen=True)
class Preview:
    title: str = ""
    description: str = ""
    image_url: str = ""
    site_name: str = ""

    def is_empty(self) -> bool:
        return not (self.title or self.description or self.image_url or self.site_name)


def _meta(soup: BeautifulSoup, *names: str) -> str:
    """The first non-empty content of <meta property|name=...> among `names`, in that order."""
    for name in names:
        for attr in ("property", "name"):
            tag = soup.find("meta", attrs={attr: name})
            content = tag.get("content") if tag is not None else None
            if isinstance(content, str) and content.strip():
                return " ".join(content.split())
    return ""


def _absolute_http(url: str, base_url: str) -> str:
    if not url:
        return ""
    absolute = urljoin(base_url, url)
    return absolute if absolute.startswith(("http://", "https://")) and len(absolute) <= MAX_PREVIEW_URL else ""


def extract_preview(page: str | bytes, base_url: str) -> Preview:
    """OpenGraph first, then Twitter card, then the page's <title> / meta description (what the
    networks fall back to as well). Relative image URLs are resolved against the page's URL."""
    from bs4 import BeautifulSoup  # here, not at the top: needed only once a page is read (start-up time)

    soup = BeautifulSoup(page, "html.parser")
    title = _meta(soup, "og:title", "twitter:title")
    if not title and soup.title is not None and soup.title.string:
        title = " ".join(soup.title.string.split())
    description = _meta(soup, "og:description", "twitter:description", "description")
    image = _meta(soup, "og:image:secure_url", "og:image", "og:image:url", "twitter:image", "twitter:image:src")
    return Preview(
        title=title[:MAX_PREVIEW_TITLE],
        description=description[:MAX_PREVIEW_DESCRIPTION],
        image_url=_absolute_http(image, base_url),
        site_name=_meta(soup, "og:site_name", "application-name")[:MAX_PREVIEW_TITLE],
    )


def is_public_address(address: str) -> bool:
    """False for loopback, private (RFC 1918, ULA), link-local (incl. cloud metadata 169.254.169.254),
    carrier-grade NAT, multicast, reserved and unspecified addresses, also when IPv4-mapped in IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
