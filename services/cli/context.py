"""What every command shares besides output: the root options' state, errors as exit codes, and
parsing of networks, times and NETWORK=VALUE pairs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import typer
from advocacy.common.v1.common_pb2 import Network
from rich.table import Table

from services.cli.output import (
    ALL_PAGES,
    PAGE_TOKEN,
    collect,
    emit_json,
    err,
    more_pages,
    out,
    page_size_option,
)
from services.clients import Clients, ServiceError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH = 1, 2, 3, 4
ADVOCATE = typer.Option(..., "--as", envvar="ADVOCACY_ADVOCATE", help="Advocate id (ADVOCACY_ADVOCATE).")
# The operator commands' Kafka options; --bootstrap / --prefix are the argparse tools' spellings.
KAFKA = typer.Option(
    "127.0.0.1:9092", "--kafka", "--bootstrap", envvar="ADVOCACY_KAFKA_BOOTSTRAP", help="Kafka bootstrap."
)
TOPIC_PREFIX = typer.Option(
    "", "--topic-prefix", "--prefix", envvar="ADVOCACY_TOPIC_PREFIX", help="Topic prefix (tests)."
)


@dataclass
class State:
    clients: Clients
    json: bool


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


class UsageError(Exception):
    pass


class ServiceErrorLine(UsageError):
    """An already-explained service failure (e.g. from the live view's snapshot)."""


class ToolError(Exception):
    """A failure of an operator tool (Kafka unreachable, an unknown topic, no token to decode): one
    line and exit 1, the code the argparse tools these commands replace exited with."""


def handled(fn: F) -> F:
    """Service errors become one clear line on stderr and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            if exc.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise typer.Exit(EXIT_UNREACHABLE) from None
            if exc.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise typer.Exit(EXIT_AUTH) from None
            raise typer.Exit(EXIT_REFUSED) from None
        except ServiceErrorLine as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(EXIT_UNREACHABLE if "unavailable" in str(exc) else EXIT_REFUSED) from None
        except UsageError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except ToolError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None

    return wrapper  # type: ignore[return-value]


def list_command(
    app: typer.Typer,
    doc: str,
    fetch: Callable[[Clients, int, str], Any],
    field: str,
    render: Callable[[list[Any]], Table],
) -> None:
    """Adds `list` to `app`: the elements `field` of the pages `fetch(clients, page_size, page_token)`
    answers, as JSON or as the table `render` makes of them."""

    @app.command("list", help=doc)
    @handled
    def list_elements(
        ctx: typer.Context,
        page_size: int = page_size_option(0),
        page_token: str = PAGE_TOKEN,
        every_page: bool = ALL_PAGES,
    ) -> None:
        s = state(ctx)
        elements, token = collect(lambda t: fetch(s.clients, page_size, t), field, page_token, every_page)
        if s.json:
            emit_json(elements)
        else:
            out.print(render(elements))
        more_pages(token)


def parse_network(name: str) -> int:
    try:
        return int(Network.Value("NETWORK_" + name.strip().upper()))
    except ValueError:
        raise UsageError(f"unknown network {name!r} (linkedin, x, facebook, xing, instagram)") from None


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (UTC if no offset) or relative: +30s, +10m, +2h, +3d."""
    if not text:
        return None
    if m := re.fullmatch(r"\+(\d+)([smhd])", text.strip()):
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: int(m.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r}: use ISO 8601 (2026-12-01T09:00) or +30m / +2h / +1d") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    result = []
    for v in values:
        key, sep, rest = v.partition("=")
        if not sep or not rest:
            raise UsageError(f"{what} {v!r}: expected NETWORK=VALUE")
        result.append((key, rest))
    return result
