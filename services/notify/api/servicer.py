"""gRPC NotifyService: preferences and company defaults. Who may call what is the policy table's
(services/common/policy.py: an advocate only for themself, admins for anyone); this translates."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import time

import grpc
from advocacy.notify.v1 import notify_pb2, notify_pb2_grpc
from grpc_interceptor.exceptions import InvalidArgument

from services.common.validation import check_request_id
from services.notify.app.preferences import PreferencesService
from services.notify.domain.notification import ChannelName, Kind
from services.notify.domain.preferences import DigestFrequency, Preferences, parse_local_time

_CHANNELS = {
    notify_pb2.CHANNEL_EMAIL: ChannelName.EMAIL,
    notify_pb2.CHANNEL_SLACK: ChannelName.SLACK,
    notify_pb2.CHANNEL_TEAMS: ChannelName.TEAMS,
    notify_pb2.CHANNEL_TOPIC: ChannelName.TOPIC,
}
_KINDS = {
    notify_pb2.NOTIFICATION_KIND_THANK_YOU: Kind.THANK_YOU,
    notify_pb2.NOTIFICATION_KIND_NEW_CONTENT: Kind.NEW_CONTENT,
    notify_pb2.NOTIFICATION_KIND_LEADER_SHARED: Kind.LEADER_SHARED,
    notify_pb2.NOTIFICATION_KIND_DIGEST: Kind.DIGEST,
}
_DIGESTS = {
    notify_pb2.DIGEST_FREQUENCY_OFF: DigestFrequency.OFF,
    notify_pb2.DIGEST_FREQUENCY_DAILY: DigestFrequency.DAILY,
    notify_pb2.DIGEST_FREQUENCY_WEEKLY: DigestFrequency.WEEKLY,
}


def from_proto(message: notify_pb2.Preferences) -> Preferences:
    """Validated domain preferences; InvalidArgument names the field."""
    channels: dict[ChannelName, str] = {}
    for i, setting in enumerate(message.channels):
        channel = _CHANNELS.get(setting.channel)
        if channel is None:
            raise InvalidArgument(f"preferences.channels[{i}].channel: required")
        if channel in channels:
            raise InvalidArgument(f"preferences.channels[{i}]: {channel.value} given twice")
        channels[channel] = setting.address
    kinds = set()
    for i, kind in enumerate(message.kinds):
        if kind not in _KINDS:
            raise InvalidArgument(f"preferences.kinds[{i}]: required")
        kinds.add(_KINDS[kind])
    digest = _DIGESTS.get(message.digest_frequency)
    if digest is None:
        raise InvalidArgument("preferences.digest_frequency: OFF, DAILY or WEEKLY")
    try:
        start = parse_local_time(message.quiet_hours_start, "preferences.quiet_hours_start")
        end = parse_local_time(message.quiet_hours_end, "preferences.quiet_hours_end")
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    return Preferences(channels, frozenset(kinds), digest, start, end, message.opted_out)


def to_proto(prefs: Preferences) -> notify_pb2.Preferences:
    channel_enum = {v: k for k, v in _CHANNELS.items()}
    kind_enum = {v: k for k, v in _KINDS.items()}
    digest_enum = {v: k for k, v in _DIGESTS.items()}

    def hhmm(value: time | None) -> str:
        return value.strftime("%H:%M") if value else ""

    return notify_pb2.Preferences(
        channels=[notify_pb2.ChannelSetting(channel=channel_enum[c], address=a) for c, a in prefs.channels.items()],
        kinds=sorted(kind_enum[k] for k in prefs.kinds),
        digest_frequency=digest_enum[prefs.digest],
        quiet_hours_start=hhmm(prefs.quiet_start),
        quiet_hours_end=hhmm(prefs.quiet_end),
        opted_out=prefs.opted_out,
    )


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, preferences: PreferencesService) -> None:
        self._prefs = preferences

    async def GetPreferences(
        self, request: notify_pb2.GetPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.AdvocatePreferences:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        prefs, default = await self._prefs.effective(advocate_id)
        return notify_pb2.AdvocatePreferences(
            advocate_id=advocate_id, preferences=to_proto(prefs), company_default=default
        )

    async def UpdatePreferences(
        self, request: notify_pb2.UpdatePreferencesRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.AdvocatePreferences:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        if not request.HasField("preferences"):
            raise InvalidArgument("preferences: required")
        prefs = await self._validated(self._prefs.update(advocate_id, from_proto(request.preferences)))
        return notify_pb2.AdvocatePreferences(advocate_id=advocate_id, preferences=to_proto(prefs))

    async def OptOut(
        self, request: notify_pb2.OptOutRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.AdvocatePreferences:
        advocate_id = check_request_id(request.advocate_id, "advocate_id")
        prefs = await self._prefs.opt_out(advocate_id)
        return notify_pb2.AdvocatePreferences(advocate_id=advocate_id, preferences=to_proto(prefs))

    async def GetCompanyDefaults(
        self, request: notify_pb2.GetCompanyDefaultsRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.Preferences:
        return to_proto(await self._prefs.company_defaults())

    async def PutCompanyDefaults(
        self, request: notify_pb2.PutCompanyDefaultsRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.Preferences:
        if not request.HasField("preferences"):
            raise InvalidArgument("preferences: required")
        return to_proto(await self._validated(self._prefs.put_company_defaults(from_proto(request.preferences))))

    @staticmethod
    async def _validated(write: Awaitable[Preferences]) -> Preferences:
        try:
            return await write
        except ValueError as exc:  # the domain's validation, naming the field
            raise InvalidArgument(f"preferences.{exc}") from exc
