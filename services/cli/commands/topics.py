"""`advocacy topics`: create the Kafka topics of the registry (services/common/topics.py)."""

from __future__ import annotations

import typer
from kafka.errors import KafkaError

from services.cli.context import KAFKA, TOPIC_PREFIX, ToolError, handled, state
from services.cli.output import emit_json, out
from services.common.topics import provision


@handled
def topics(
    ctx: typer.Context,
    kafka: str = KAFKA,
    topic_prefix: str = TOPIC_PREFIX,
    wait: float = typer.Option(60.0, "--wait", min=1, help="Seconds to wait for the broker and new leaders."),
) -> None:
    """Create the missing Kafka topics and their `.dlq` siblings; existing topics are left alone,
    so it is safe on every start."""
    try:
        created = provision(kafka, topic_prefix, wait)
    except KafkaError as exc:
        raise ToolError(f"Kafka at {kafka}: {exc!r}") from None
    if state(ctx).json:
        emit_json({"created": created})
    else:
        listed = f" ({', '.join(created)})" if created else ", all present"
        out.print(f"topics: {len(created)} created{listed}", highlight=False, markup=False)
