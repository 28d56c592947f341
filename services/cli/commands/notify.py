"""An advocate's notification settings."""

from __future__ import annotations

import typer
from advocacy.notify.v1 import notify_pb2

from services.cli.context import ADVOCATE, handled, state
from services.cli.output import emit_json, enum_name, out


@handled
def notifications(
    ctx: typer.Context,
    advocate: str = ADVOCATE,
    opt_out: bool = typer.Option(False, "--opt-out", help="Turn every notification off (as the unsubscribe link)."),
) -> None:
    """My notification settings: channels, kinds, digest, quiet hours (--opt-out: everything off)."""
    s = state(ctx)
    if opt_out:
        reply = s.clients.notify.OptOut(notify_pb2.OptOutRequest(advocate_id=advocate))
    else:
        reply = s.clients.notify.GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id=advocate))
    if s.json:
        emit_json(reply)
        return
    p = reply.preferences
    channels = ", ".join(
        enum_name(notify_pb2.Channel, c.channel, "CHANNEL_") + (f" {c.address}" if c.address else "")
        for c in p.channels
    )
    kinds = ", ".join(enum_name(notify_pb2.NotificationKind, k, "NOTIFICATION_KIND_") for k in p.kinds)
    quiet = f"{p.quiet_hours_start}-{p.quiet_hours_end}" if p.quiet_hours_start else "none"
    digest = enum_name(notify_pb2.DigestFrequency, p.digest_frequency, "DIGEST_FREQUENCY_")
    source = " (company defaults)" if reply.company_default else ""
    out.print(f"{advocate}{source}: {'OPTED OUT; ' if p.opted_out else ''}channels {channels or 'none'}")
    out.print(f"  kinds {kinds or 'none'}; digest {digest}; quiet hours {quiet}")
