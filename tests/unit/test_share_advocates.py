from datetime import UTC, datetime, timedelta

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.share.v1.share_pb2 import Advocate, NetworkConnection

from services.share.domain import advocates as rules

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def request(team: str = "sales", **networks: int) -> Advocate:
    return Advocate(
        profile=AdvocateSnapshot(advocate_id="aino", team=team, leader=True),
        networks=[NetworkConnection(network=Network.Value(n), audience_size=s) for n, s in networks.items()],
    )


def test_enrol_leave_and_re_enrol_keep_every_period_and_bump_the_version():
    a = rules.enrol(None, request(NETWORK_LINKEDIN=100), T0)
    assert (a.enrolled, a.version, len(a.enrolments)) == (True, 1, 1)
    assert a.networks[0].HasField("refreshed_at")
    b = rules.leave(a, T0 + timedelta(days=10))
    assert b is not None and not b.enrolled and b.version == 2
    assert rules.leave(b, T0 + timedelta(days=11)) is None  # a retried Leave changes nothing
    c = rules.enrol(b, request(team="marketing"), T0 + timedelta(days=20))
    assert c.enrolled and c.version == 3 and c.profile.team == "marketing"
    assert len(c.enrolments) == 2
    assert rules.enrolled_at(c, T0 + timedelta(days=5))
    assert not rules.enrolled_at(c, T0 + timedelta(days=15))
    assert rules.enrolled_at(c, T0 + timedelta(days=25))
    assert not rules.enrolled_at(c, T0 - timedelta(days=1))


def test_enrolling_an_enrolled_advocate_again_opens_no_new_period():
    a = rules.enrol(None, request(), T0)
    b = rules.enrol(a, request(team="hr"), T0 + timedelta(days=1))
    assert len(b.enrolments) == 1 and b.profile.team == "hr"


def test_connect_refreshes_an_existing_network_and_disconnect_removes_it():
    a = rules.enrol(None, request(NETWORK_LINKEDIN=100), T0)
    b = rules.connect_network(a, NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=250), T0)
    c = rules.connect_network(b, NetworkConnection(network=Network.NETWORK_X, audience_size=40), T0)
    assert sorted((n.network, n.audience_size) for n in c.networks) == [
        (Network.NETWORK_LINKEDIN, 250),
        (Network.NETWORK_X, 40),
    ]
    d = rules.disconnect_network(c, Network.NETWORK_X)
    assert d is not None and [n.network for n in d.networks] == [Network.NETWORK_LINKEDIN]
    assert rules.disconnect_network(d, Network.NETWORK_X) is None


def test_reconnecting_a_network_moves_its_refresh_time():
    a = rules.enrol(None, request(NETWORK_LINKEDIN=100), T0)
    assert a.networks[0].refreshed_at.ToDatetime(UTC) == T0
    later = T0 + timedelta(days=1)
    b = rules.connect_network(a, NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=120), later)
    assert (b.networks[0].audience_size, b.networks[0].refreshed_at.ToDatetime(UTC)) == (120, later)
    # A poller may say when it read the audience; that time is kept as given.
    polled = NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=130)
    polled.refreshed_at.FromDatetime(later + timedelta(hours=1))
    c = rules.connect_network(b, polled, later + timedelta(hours=1, minutes=2))
    assert c.networks[0].refreshed_at.ToDatetime(UTC) == later + timedelta(hours=1)


def test_a_refresh_time_in_the_future_is_refused():
    conn = NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=100)
    conn.refreshed_at.FromDatetime(T0 + rules.MAX_CLOCK_SKEW + timedelta(seconds=1))
    with pytest.raises(rules.InvalidAdvocate, match=r"^connection\.refreshed_at: lies in the future"):
        rules.connect_network(rules.enrol(None, request(), T0), conn, T0)
    conn.refreshed_at.FromDatetime(T0 + rules.MAX_CLOCK_SKEW)  # within the allowed skew
    assert rules.connect_network(rules.enrol(None, request(), T0), conn, T0).networks[0].audience_size == 100


def test_update_profile_replaces_profile_and_interests():
    a = rules.enrol(None, request(), T0)
    b = rules.update_profile(a, AdvocateSnapshot(advocate_id="aino", team="hr", leader=False), ["ai", "plants"])
    assert (b.profile.team, b.profile.leader, list(b.interests), b.version) == ("hr", False, ["ai", "plants"], 2)
    assert b.enrolled and len(b.enrolments) == 1


@pytest.mark.parametrize(
    ("advocate", "field"),
    [
        (Advocate(profile=AdvocateSnapshot(advocate_id="")), "advocate.profile.advocate_id"),
        (Advocate(profile=AdvocateSnapshot(advocate_id="a", team="x" * 201)), "advocate.profile.team"),
        (
            Advocate(profile=AdvocateSnapshot(advocate_id="a"), networks=[NetworkConnection(audience_size=1)]),
            "advocate.networks[0].network",
        ),
        (
            Advocate(
                profile=AdvocateSnapshot(advocate_id="a"),
                networks=[NetworkConnection(network=Network.NETWORK_X, audience_size=-1)],
            ),
            "advocate.networks[0].audience_size",
        ),
        (
            Advocate(
                profile=AdvocateSnapshot(advocate_id="a"),
                networks=[NetworkConnection(network=Network.NETWORK_X), NetworkConnection(network=Network.NETWORK_X)],
            ),
            "advocate.networks[1].network",
        ),
    ],
)
def test_invalid_advocates_name_the_field(advocate, field):
    with pytest.raises(rules.InvalidAdvocate, match=field.replace("[", r"\[").replace("]", r"\]")):
        rules.enrol(None, advocate, T0)
