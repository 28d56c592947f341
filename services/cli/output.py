"""What every command prints with: the consoles, JSON, tables, times and enum names, and pages
(google.aip.dev/158)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from services.common.events import from_timestamp

out = Console(soft_wrap=True)
err = Console(stderr=True)


def as_dict(msg: Message) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def emit_json(value: Any) -> None:
    if isinstance(value, Message):
        value = as_dict(value)
    elif isinstance(value, list):
        value = [as_dict(v) if isinstance(v, Message) else v for v in value]
    out.print_json(json.dumps(value, default=str))


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def when(ts: Any) -> str:
    return from_timestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts is not None and ts.ByteSize() else ""


def enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


# --- pages ----------------------------------------------------------------------------------------

ALL_PAGES = typer.Option(False, "--all", help="Follow next_page_token to the last page.")
PAGE_TOKEN = typer.Option("", "--page-token", help="Continue from a previous page's next_page_token.")


def page_size_option(default: int, what: str = "per page") -> Any:
    return typer.Option(default, "--page-size", min=0, help=f"Elements {what} (0 = the service's default).")


def collect(fetch: Callable[[str], Any], field: str, page_token: str, every_page: bool) -> tuple[list[Any], str]:
    """The elements of one page from `page_token` (or of every page to the end with `every_page`),
    and the next page's token ("" at the end)."""
    items: list[Any] = []
    token = page_token
    while True:
        reply = fetch(token)
        items.extend(getattr(reply, field))
        token = reply.next_page_token
        if not token or not every_page:
            return items, token


def more_pages(token: str) -> None:
    """Tells where the next page starts (on stderr: --json output stays one JSON document)."""
    if token:
        err.print(f"next_page_token: {token}  (next page: --page-token {token}; every page: --all)", highlight=False)
