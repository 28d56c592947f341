"""NotifyService's translation of preferences: every invalid request is INVALID_ARGUMENT naming
the field; what is stored reads back the same."""

from __future__ import annotations

import asyncio
import re

import pytest
from advocacy.notify.v1 import notify_pb2
from grpc_interceptor.exceptions import InvalidArgument

from services.notify.api.servicer import NotifyServicer, from_proto, to_proto
from services.notify.app.preferences import PreferencesService
from tests.unit.notify_fakes import FakePreferencesStore

EMAIL = notify_pb2.ChannelSetting(channel=notify_pb2.CHANNEL_EMAIL, address="ada@example.com")
TOPIC = notify_pb2.ChannelSetting(channel=notify_pb2.CHANNEL_TOPIC)


def prefs(**fields: object) -> notify_pb2.Preferences:
    base: dict[str, object] = {
        "channels": [EMAIL, TOPIC],
        "kinds": [notify_pb2.NOTIFICATION_KIND_THANK_YOU],
        "digest_frequency": notify_pb2.DIGEST_FREQUENCY_DAILY,
    }
    return notify_pb2.Preferences(**{**base, **fields})  # type: ignore[arg-type]


def test_round_trip() -> None:
    message = prefs(quiet_hours_start="22:00", quiet_hours_end="07:30")
    assert to_proto(from_proto(message)) == message


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (prefs(channels=[EMAIL, EMAIL]), "preferences.channels[1]"),
        (prefs(channels=[notify_pb2.ChannelSetting()]), "preferences.channels[0].channel"),
        (prefs(kinds=[notify_pb2.NOTIFICATION_KIND_UNSPECIFIED]), "preferences.kinds[0]"),
        (prefs(digest_frequency=notify_pb2.DIGEST_FREQUENCY_UNSPECIFIED), "preferences.digest_frequency"),
        (prefs(quiet_hours_start="25:00", quiet_hours_end="07:00"), "preferences.quiet_hours_start"),
    ],
)
def test_invalid_preferences_name_the_field(message: notify_pb2.Preferences, field: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(field)):
        from_proto(message)


def test_update_validates_addresses_and_opt_out_keeps_the_rest() -> None:
    async def scenario() -> None:
        servicer = NotifyServicer(PreferencesService(FakePreferencesStore()))
        bad = notify_pb2.UpdatePreferencesRequest(
            advocate_id="ada",
            preferences=prefs(channels=[notify_pb2.ChannelSetting(channel=notify_pb2.CHANNEL_SLACK, address="x")]),
        )
        with pytest.raises(InvalidArgument, match=re.escape("preferences.channels.slack")):
            await servicer.UpdatePreferences(bad, None)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="advocate_id"):
            await servicer.OptOut(notify_pb2.OptOutRequest(), None)  # type: ignore[arg-type]
        before = await servicer.GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id="ada"), None)  # type: ignore[arg-type]
        assert before.company_default and not before.preferences.opted_out
        await servicer.UpdatePreferences(
            notify_pb2.UpdatePreferencesRequest(advocate_id="ada", preferences=prefs()), None
        )  # type: ignore[arg-type]
        out = await servicer.OptOut(notify_pb2.OptOutRequest(advocate_id="ada"), None)  # type: ignore[arg-type]
        assert out.preferences.opted_out and list(out.preferences.channels) == [EMAIL, TOPIC]
        after = await servicer.GetPreferences(notify_pb2.GetPreferencesRequest(advocate_id="ada"), None)  # type: ignore[arg-type]
        assert after.preferences.opted_out and not after.company_default

    asyncio.run(scenario())
