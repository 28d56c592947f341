"""Admin: import a previous tool's history from JSON Lines files, one entry per line in the proto's
JSON form (`ImportedContent`, `ImportedAdvocate`, `ImportedShare`), sent in batches. Entries an
earlier run recorded are answered, not repeated, so a file can be imported again after a fix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import typer
from advocacy.content.v1 import content_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.json_format import Parse, ParseError
from google.protobuf.message import Message

from services.cli.context import UsageError, handled, state
from services.cli.output import emit_json, out
from services.clients import Clients, ServiceError

import_app = typer.Typer(
    no_args_is_help=True, help="Admin: import a previous tool's history (JSON Lines, one entry per line)."
)
# What the services answer about the entries themselves.
REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
FILE = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="A .jsonl file.")


@dataclass(frozen=True)
class Kind:
    entry: type[Message]
    batch: int
    send: Callable[[Clients, list[Any]], Sequence[Any]]  # a batch -> its results (with `created`)


KINDS = {
    "content": Kind(
        content_pb2.ImportedContent,
        100,
        lambda c, b: c.content.ImportContent(content_pb2.ImportContentRequest(items=b)).results,
    ),
    "advocates": Kind(
        share_pb2.ImportedAdvocate,
        500,
        lambda c, b: c.share.ImportAdvocates(share_pb2.ImportAdvocatesRequest(advocates=b)).results,
    ),
    "shares": Kind(
        share_pb2.ImportedShare,
        500,
        lambda c, b: c.share.ImportShares(share_pb2.ImportSharesRequest(shares=b), timeout=120).results,
    ),
}


def read_entries(path: Path, entry: type[Message]) -> list[tuple[int, Message]]:
    """(line number, entry) of every non-blank line; UsageError naming the first bad line."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                entries.append((number, Parse(line, entry())))
            except (ParseError, ValueError) as exc:
                raise UsageError(f"{path}:{number}: not an {entry.DESCRIPTOR.name} ({str(exc)[:200]})") from None
    return entries


def run_import(ctx: typer.Context, path: Path, name: str) -> None:
    s = state(ctx)
    kind = KINDS[name]
    entries = read_entries(path, kind.entry)
    created = 0
    content_ids: dict[str, str] = {}  # import key -> content id: what a shares file refers to
    for start in range(0, len(entries), kind.batch):
        batch = entries[start : start + kind.batch]
        try:
            results = kind.send(s.clients, [e for _, e in batch])
            created += sum(r.created for r in results)
            if name == "content":
                keys = [getattr(e, "import_key") for _, e in batch]  # noqa: B009 (an ImportedContent)
                content_ids.update(zip(keys, (r.item.content_id for r in results), strict=True))
        except ServiceError as exc:
            if exc.code not in REFUSALS:
                raise  # unreachable, not allowed...: explained as for any command
            # The service names the entry by its place in the batch: say which lines that was.
            raise UsageError(
                f"{path}: lines {batch[0][0]}..{batch[-1][0]} refused, none of them recorded "
                f"({start} entries before were): {exc}"
            ) from None
    summary: dict[str, Any] = {"entries": len(entries), "created": created, "existing": len(entries) - created}
    if content_ids:
        summary["content_ids"] = content_ids
    if s.json:
        emit_json(summary)
        return
    out.print(f"{name}: {created} imported, {len(entries) - created} recorded before ({len(entries)} entries)")
    for key, content_id in content_ids.items():
        out.print(f"  {key} -> {content_id}")


@import_app.command("content")
@handled
def import_content(ctx: typer.Context, path: Path = FILE) -> None:
    """Items published in the past (ImportedContent: import_key, item, published_at)."""
    run_import(ctx, path, "content")


@import_app.command("advocates")
@handled
def import_advocates(ctx: typer.Context, path: Path = FILE) -> None:
    """Advocates enrolled since a past time (ImportedAdvocate: advocate, enrolled_at)."""
    run_import(ctx, path, "advocates")


@import_app.command("shares")
@handled
def import_shares(ctx: typer.Context, path: Path = FILE) -> None:
    """Past shares and own posts (ImportedShare: idempotency_key, advocate_id, network, message,
    shared_at, content_id or own_post_url)."""
    run_import(ctx, path, "shares")
