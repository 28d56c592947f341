"""`advocacy dlq list|replay`: dead-letter topics, counted by reason and replayed to their topic
(services/common/dlq.py)."""

from __future__ import annotations

import typer
from kafka.errors import KafkaError

from services.cli.context import KAFKA, TOPIC_PREFIX, ToolError, handled, state
from services.cli.output import emit_json, out
from services.common.dlq import UnknownTopic, replay, show, topic_spec
from services.common.topics import dlq_name

dlq_app = typer.Typer(
    no_args_is_help=True, help="Dead-letter topics: count their messages by reason, replay fixed ones."
)
TOPIC = typer.Option(..., "--topic", help="The original topic, e.g. share-made.")


def known(topic: str) -> None:
    try:
        topic_spec(topic)
    except UnknownTopic as exc:
        raise ToolError(str(exc)) from None


@dlq_app.command("list")
@handled
def dlq_list(ctx: typer.Context, topic: str = TOPIC, kafka: str = KAFKA, topic_prefix: str = TOPIC_PREFIX) -> None:
    """Count `<topic>.dlq`'s messages by reason (`dlq.reason`), consuming nothing for anyone."""
    known(topic)
    try:
        reasons = show(kafka, topic, topic_prefix)
    except KafkaError as exc:
        raise ToolError(f"Kafka at {kafka}: {exc!r}") from None
    total = sum(reasons.values())
    if state(ctx).json:
        emit_json({"topic": topic, "dlq": dlq_name(topic), "messages": total, "reasons": dict(reasons)})
        return
    lines = "".join(f"\n  {r}: {n}" for r, n in reasons.items())
    out.print(f"{dlq_name(topic)}: {total} message(s){lines}", highlight=False, markup=False)


@dlq_app.command("replay")
@handled
def dlq_replay(
    ctx: typer.Context,
    topic: str = TOPIC,
    kafka: str = KAFKA,
    topic_prefix: str = TOPIC_PREFIX,
    only_decodable: bool = typer.Option(False, "--only-decodable", help="Replay only messages that now decode."),
) -> None:
    """Send `<topic>.dlq`'s messages back to their topic, up to the DLQ's end as of now (each once:
    the replay's consumer group commits as it goes); with --only-decodable, what still does not decode
    is appended to the DLQ again, counted as kept."""
    known(topic)
    try:
        report = replay(kafka, topic, topic_prefix, only_decodable)
    except KafkaError as exc:
        raise ToolError(f"Kafka at {kafka}: {exc!r}") from None
    if state(ctx).json:
        emit_json({"topic": topic, "replayed": report.replayed, "kept": report.kept})
    else:
        text = f"replayed {report.replayed} to {topic}; kept {report.kept} that still do not decode"
        out.print(text, highlight=False, markup=False)
