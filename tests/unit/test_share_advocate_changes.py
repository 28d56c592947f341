"""The advocate use cases over an in-memory advocate store: every change is one new version stored
with its `advocate-changed` event, a lost compare-and-set is re-read and re-applied."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, NetworkConnection
from grpc_interceptor.exceptions import Aborted, InvalidArgument, NotFound

from services.common.outbox import OutboxEvent
from services.share.app.advocates import SAVE_ATTEMPTS, Advocates

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


class MemoryAdvocates:
    """Versions as the repository keeps them: a save succeeds only on top of the stored version.
    `rivals` concurrent writers win the next compare-and-sets (each stores a version first)."""

    def __init__(self) -> None:
        self.versions: dict[str, Advocate] = {}
        self.events: list[OutboxEvent] = []
        self.rivals = 0
        self.saves = 0

    async def get(self, advocate_id: str) -> Advocate | None:
        return self.versions.get(advocate_id)

    async def save(self, advocate: Advocate, event: OutboxEvent) -> bool:
        self.saves += 1
        advocate_id = advocate.profile.advocate_id
        if self.rivals:
            self.rivals -= 1
            rival = Advocate()
            rival.CopyFrom(advocate)  # a concurrent change stored this version first
            rival.profile.display_name = "rival"
            self.versions[advocate_id] = rival
            return False
        stored = self.versions.get(advocate_id)
        if advocate.version != (stored.version if stored else 0) + 1:
            return False
        self.versions[advocate_id] = advocate
        self.events.append(event)
        return True


class Woken(list[None]):
    def __call__(self) -> None:
        self.append(None)


def use_cases(store: MemoryAdvocates, woken: Woken | None = None) -> Advocates:
    return Advocates(store, lambda name: f"t.{name}", woken if woken is not None else Woken(), clock=lambda: NOW)


def aino(team: str = "sales", audience: int = 1240) -> Advocate:
    return Advocate(
        profile=AdvocateSnapshot(advocate_id="aino", display_name="Aino", team=team),
        networks=[NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=audience)],
    )


def changed(event: OutboxEvent) -> AdvocateChanged:
    return AdvocateChanged.FromString(event.value)


async def test_enrolling_stores_version_one_with_its_event_and_wakes_the_relay():
    store, woken = MemoryAdvocates(), Woken()
    advocate = await use_cases(store, woken).enrol(aino())
    assert (advocate.version, advocate.enrolled) == (1, True)
    [event] = store.events
    assert (event.topic, event.key) == ("t.advocate-changed", "aino")
    body = changed(event)
    assert body.version == 1 and body.event_id
    assert body.advocate == advocate and list(body.enrolments) == list(advocate.enrolments)
    assert body.occurred_at.ToDatetime(tzinfo=UTC) == NOW
    assert len(woken) == 1


async def test_each_change_is_the_next_version_with_its_own_event():
    store = MemoryAdvocates()
    advocates = use_cases(store)
    await advocates.enrol(aino())
    await advocates.update_profile(AdvocateSnapshot(advocate_id="aino", team="marketing"), ["green"])
    await advocates.connect_network("aino", NetworkConnection(network=Network.NETWORK_X, audience_size=90))
    await advocates.disconnect_network("aino", Network.NETWORK_LINKEDIN)
    left = await advocates.leave("aino")
    assert [changed(e).version for e in store.events] == [1, 2, 3, 4, 5]
    assert (left.enrolled, left.profile.team, list(left.interests)) == (False, "marketing", ["green"])
    assert [n.network for n in left.networks] == [Network.NETWORK_X]
    assert await advocates.get("aino") == left


async def test_a_change_that_changes_nothing_stores_nothing():
    store, woken = MemoryAdvocates(), Woken()
    advocates = use_cases(store, woken)
    await advocates.enrol(aino())
    left = await advocates.leave("aino")
    assert await advocates.leave("aino") == left  # a retried Leave
    assert await advocates.disconnect_network("aino", Network.NETWORK_X) == left  # never connected
    assert (len(store.events), len(woken)) == (2, 2)


async def test_a_lost_compare_and_set_is_applied_again_on_the_winners_version():
    store = MemoryAdvocates()
    advocates = use_cases(store)
    await advocates.enrol(aino())
    store.rivals = 1
    updated = await advocates.connect_network("aino", NetworkConnection(network=Network.NETWORK_X, audience_size=9))
    assert updated.version == 3 and updated.profile.display_name == "rival"  # on top of the winner
    assert [changed(e).version for e in store.events] == [1, 3]


async def test_a_compare_and_set_lost_every_time_is_aborted_after_the_attempts():
    store, woken = MemoryAdvocates(), Woken()
    advocates = use_cases(store, woken)
    await advocates.enrol(aino())
    store.rivals, store.saves = SAVE_ATTEMPTS, 0
    with pytest.raises(Aborted, match="'aino' is being changed concurrently; retry"):
        await advocates.update_profile(AdvocateSnapshot(advocate_id="aino", team="marketing"), [])
    assert (store.saves, len(store.events), len(woken)) == (SAVE_ATTEMPTS, 1, 1)


async def test_an_invalid_change_is_invalid_argument_naming_the_field_and_stores_nothing():
    store = MemoryAdvocates()
    advocates = use_cases(store)
    await advocates.enrol(aino())
    with pytest.raises(InvalidArgument, match=r"^connection.audience_size"):
        await advocates.connect_network("aino", NetworkConnection(network=Network.NETWORK_X, audience_size=-1))
    with pytest.raises(InvalidArgument, match=r"^advocate.networks\[0\].network"):
        await advocates.enrol(Advocate(profile=AdvocateSnapshot(advocate_id="aino"), networks=[NetworkConnection()]))
    assert (store.saves, len(store.events)) == (1, 1)


async def test_changing_an_advocate_never_enrolled_is_not_found():
    advocates = use_cases(MemoryAdvocates())
    for call in (
        advocates.get("nobody"),
        advocates.leave("nobody"),
        advocates.update_profile(AdvocateSnapshot(advocate_id="nobody"), []),
        advocates.connect_network("nobody", NetworkConnection(network=Network.NETWORK_X)),
        advocates.disconnect_network("nobody", Network.NETWORK_X),
    ):
        with pytest.raises(NotFound, match="advocate 'nobody' not found"):
            await call
