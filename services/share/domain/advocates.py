"""Pure rules for an advocate's state: enrol / leave (kept as enrolment periods), profile and networks.

Every change returns a new `Advocate` with `version` + 1; the caller stores it with an
`advocate-changed` event in one write, so consumers can rebuild who was enrolled *when*.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1.share_pb2 import Advocate, EnrolmentPeriod, NetworkConnection

from services.common.events import from_timestamp, optional_time, to_timestamp
from services.common.ids import check_id

MAX_TEXT = 200
MAX_INTERESTS = 50
MAX_AUDIENCE = 1_000_000_000
# A network's refresh time may come from the caller's clock (a poller); allow that much skew.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class InvalidAdvocate(ValueError):
    """A field is malformed; the message starts with the field's name."""


class NotEnrolled(Exception):
    pass


def validate_profile(profile: AdvocateSnapshot, interests: Iterable[str], field: str) -> None:
    check_id(profile.advocate_id, f"{field}.advocate_id", error=InvalidAdvocate)
    for name in ("display_name", "team", "location", "language", "role", "timezone"):
        if len(getattr(profile, name)) > MAX_TEXT:
            raise InvalidAdvocate(f"{field}.{name}: at most {MAX_TEXT} characters")
    interests = list(interests)
    if len(interests) > MAX_INTERESTS:
        raise InvalidAdvocate(f"interests: at most {MAX_INTERESTS}")
    for i, interest in enumerate(interests):
        if not interest or len(interest) > MAX_TEXT:
            raise InvalidAdvocate(f"interests[{i}]: 1..{MAX_TEXT} characters")


def validate_connection(conn: NetworkConnection, field: str, now: datetime) -> None:
    if conn.network == Network.NETWORK_UNSPECIFIED or conn.network not in Network.values():
        raise InvalidAdvocate(f"{field}.network: must name a known network")
    if not 0 <= conn.audience_size <= MAX_AUDIENCE:
        raise InvalidAdvocate(f"{field}.audience_size: must be 0..{MAX_AUDIENCE}")
    # A future refresh time would make the audience size look fresh long after it went stale.
    if conn.HasField("refreshed_at") and from_timestamp(conn.refreshed_at) > now + MAX_CLOCK_SKEW:
        raise InvalidAdvocate(f"{field}.refreshed_at: lies in the future ({conn.refreshed_at.ToJsonString()})")


def _connection(conn: NetworkConnection, now: datetime) -> NetworkConnection:
    out = NetworkConnection()
    out.CopyFrom(conn)
    if not out.HasField("refreshed_at"):
        out.refreshed_at.CopyFrom(to_timestamp(now))
    return out


def _next(current: Advocate | None) -> Advocate:
    nxt = Advocate()
    if current is not None:
        nxt.CopyFrom(current)
    nxt.version = (current.version if current is not None else 0) + 1
    return nxt


def enrol(current: Advocate | None, request: Advocate, now: datetime) -> Advocate:
    """Creates or re-enrols an advocate with the given profile, interests and networks.
    A new enrolment period opens only when the advocate is not enrolled already."""
    validate_profile(request.profile, request.interests, "advocate.profile")
    seen: set[int] = set()
    for i, conn in enumerate(request.networks):
        validate_connection(conn, f"advocate.networks[{i}]", now)
        if conn.network in seen:
            raise InvalidAdvocate(f"advocate.networks[{i}].network: listed twice")
        seen.add(conn.network)
    nxt = _next(current)
    nxt.profile.CopyFrom(request.profile)
    nxt.interests[:] = list(request.interests)
    del nxt.networks[:]
    nxt.networks.extend(_connection(c, now) for c in request.networks)
    if not nxt.enrolments or nxt.enrolments[-1].HasField("left_at"):
        nxt.enrolments.append(EnrolmentPeriod(enrolled_at=to_timestamp(now)))
    nxt.enrolled = True
    return nxt


class HasHistory(Exception):
    """An imported enrolment would rewrite an advocate's existing enrolment history."""


def import_enrolment(
    current: Advocate | None, request: Advocate, enrolled_at: datetime, now: datetime
) -> Advocate | None:
    """An advocate migrated from a previous tool: enrolled as `enrol` would, but since `enrolled_at`.
    Only for an advocate without enrolment history; None when the same import was recorded before
    (its first period starts at `enrolled_at`, still open), HasHistory for any other history."""
    if current is not None and current.enrolments:
        first = current.enrolments[0]
        if len(current.enrolments) == 1 and current.enrolled and from_timestamp(first.enrolled_at) == enrolled_at:
            return None
        raise HasHistory(
            f"advocate {current.profile.advocate_id!r} has an enrolment history already "
            f"(since {first.enrolled_at.ToJsonString()}): only advocates without one can be imported"
        )
    nxt = enrol(current, request, now)
    nxt.enrolments[-1].enrolled_at.CopyFrom(to_timestamp(enrolled_at))
    return nxt


def leave(current: Advocate, now: datetime) -> Advocate | None:
    """Closes the open enrolment period; None when there is none (a retried Leave changes nothing)."""
    if not current.enrolled:
        return None
    nxt = _next(current)
    if nxt.enrolments and not nxt.enrolments[-1].HasField("left_at"):
        nxt.enrolments[-1].left_at.CopyFrom(to_timestamp(now))
    nxt.enrolled = False
    return nxt


def update_profile(current: Advocate, profile: AdvocateSnapshot, interests: Iterable[str]) -> Advocate:
    interests = list(interests)
    validate_profile(profile, interests, "profile")
    nxt = _next(current)
    nxt.profile.CopyFrom(profile)
    nxt.interests[:] = interests
    return nxt


def connect_network(current: Advocate, conn: NetworkConnection, now: datetime) -> Advocate:
    """Connects a network, or refreshes its audience size and refresh time when already connected."""
    validate_connection(conn, "connection", now)
    nxt = _next(current)
    others = [c for c in nxt.networks if c.network != conn.network]
    del nxt.networks[:]
    nxt.networks.extend([*others, _connection(conn, now)])
    return nxt


def disconnect_network(current: Advocate, network: int) -> Advocate | None:
    """None when the network was not connected (nothing changes)."""
    if network == Network.NETWORK_UNSPECIFIED or network not in Network.values():
        raise InvalidAdvocate("network: must name a known network")
    if all(c.network != network for c in current.networks):
        return None
    nxt = _next(current)
    others = [c for c in nxt.networks if c.network != network]
    del nxt.networks[:]
    nxt.networks.extend(others)
    return nxt


def enrolled_at(advocate: Advocate, when: datetime) -> bool:
    """Was the advocate enrolled at `when`? (What consumers of `advocate-changed` compute.)"""
    for period in advocate.enrolments:
        start, end = from_timestamp(period.enrolled_at), optional_time(period, "left_at")
        if start <= when and (end is None or when < end):
            return True
    return False
