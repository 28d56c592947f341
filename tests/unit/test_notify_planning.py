"""Who is told what and when: thank-you windows, audience / interest / language matching, leaders
going first once per item and person, digest send times per timezone, quiet hours, rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.notify.domain.delivery import RateLimiter, Send, Skip, Wait, backoff_seconds, decide
from services.notify.domain.notification import ChannelName, Kind
from services.notify.domain.planning import (
    Advocate,
    Audience,
    Award,
    DigestPeriod,
    Item,
    ShareFact,
    digest_data,
    digest_period,
    plan_leader_shared,
    plan_new_content,
    plan_thank_you,
    rank_of,
    thank_you_data,
)
from services.notify.domain.preferences import DigestFrequency, Preferences, quiet_until, validated

NOW = datetime(2026, 12, 7, 10, 0, 30, tzinfo=UTC)  # a Monday


def award(
    points: int, at: datetime, rule: str = "share", units: int = 0, content: str = "c1", entry: str = ""
) -> Award:
    return Award(entry or f"e-{rule}-{at.timestamp()}", "ada", points, rule, at, units=units, content_id=content)


class TestThankYou:
    def test_awards_of_one_window_plan_the_same_message(self) -> None:
        first = plan_thank_you(award(10, NOW), 60, 5)
        later = plan_thank_you(award(1, NOW + timedelta(seconds=20), rule="click"), 60, 5)
        assert first is not None and later is not None
        assert first.notification_id == later.notification_id == "thanks:ada:20261207T100000Z"
        assert first.due_at == datetime(2026, 12, 7, 10, 1, 5, tzinfo=UTC)  # window end + grace
        assert first.kind is Kind.THANK_YOU

    def test_the_next_window_is_another_message(self) -> None:
        a = plan_thank_you(award(10, NOW), 60, 5)
        b = plan_thank_you(award(10, NOW + timedelta(seconds=60)), 60, 5)
        assert a is not None and b is not None and a.notification_id != b.notification_id

    def test_zero_points_alone_send_nothing(self) -> None:
        assert plan_thank_you(award(0, NOW), 60, 5) is None

    def test_content_counts_points_reach_and_clicks(self) -> None:
        awards = [
            award(10, NOW, content="c1"),
            award(2, NOW, rule="click", units=2, content="c1"),
            award(1, NOW, rule="click", units=1, content="c1"),
            award(0, NOW, rule="reaction", content="c1"),
        ]
        shares = [ShareFact("ada", "c1", 1500, NOW), ShareFact("ada", "c2", 700, NOW)]
        data = thank_you_data(awards, shares)
        assert data["points"] == 13
        assert data["clicks"] == 3
        assert data["reach"] == 1500  # only the shares the awards were for
        assert len(data["entries"]) == 4  # type: ignore[arg-type]


ITEM = Item("c9", "Our new product", topics=frozenset({"ai", "cloud"}), language="en")


class TestNewContent:
    def people(self) -> list[Advocate]:
        return [
            Advocate("any", interests=frozenset()),
            Advocate("ai-fan", interests=frozenset({"ai"})),
            Advocate("sports", interests=frozenset({"sports"})),
            Advocate("gone", enrolled=False),
            Advocate("finn", language="fi", interests=frozenset({"ai"})),
            Advocate("brit", language="en-GB", team="sales"),
        ]

    def test_everyone_in_audience_with_matching_interests_and_language(self) -> None:
        planned = plan_new_content(ITEM, self.people(), NOW)
        assert {p.advocate_id for p in planned} == {"any", "ai-fan", "brit"}
        assert {p.notification_id for p in planned} == {"new:c9:any", "new:c9:ai-fan", "new:c9:brit"}
        assert planned[0].data["title"] == "Our new product"

    def test_audience_dimensions_restrict(self) -> None:
        item = Item("c1", "T", audience=Audience(teams=frozenset({"sales"})))
        assert [p.advocate_id for p in plan_new_content(item, self.people(), NOW)] == ["brit"]

    def test_audience_naming_a_language_offers_the_item_to_it(self) -> None:
        item = Item("c1", "T", language="en", audience=Audience(languages=frozenset({"fi", "en"})))
        ids = {p.advocate_id for p in plan_new_content(item, self.people(), NOW)}
        assert "finn" in ids and "sports" in ids


class TestLeaderFirst:
    def test_teammates_who_did_not_share_are_told_once(self) -> None:
        leader = Advocate("boss", team="sales", leader=True, display_name="Boss")
        team = [leader, Advocate("a", team="sales"), Advocate("b", team="sales"), Advocate("c", team="ops")]
        planned = plan_leader_shared(leader, ITEM, team, sharers={"b"}, now=NOW)
        assert [p.notification_id for p in planned] == ["leader:c9:a"]
        assert planned[0].data["leader_name"] == "Boss"
        # A second leader of the team sharing the item plans the very same id: one message per person.
        other = Advocate("boss2", team="sales", leader=True)
        again = plan_leader_shared(other, ITEM, [*team, other], sharers={"b", "boss"}, now=NOW)
        assert {p.notification_id for p in again} == {"leader:c9:a"}


class TestDigest:
    def test_daily_at_eight_in_helsinki(self) -> None:
        # 05:59 UTC is 07:59 in Helsinki (UTC+2 in December): not yet.
        assert (
            digest_period(DigestFrequency.DAILY, "Europe/Helsinki", datetime(2026, 12, 7, 5, 59, tzinfo=UTC), 8) is None
        )
        period = digest_period(DigestFrequency.DAILY, "Europe/Helsinki", datetime(2026, 12, 7, 6, 0, tzinfo=UTC), 8)
        assert period is not None
        assert period.key == "2026-12-07"
        assert period.end == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
        assert period.start == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)

    def test_the_same_instant_is_another_local_day_elsewhere(self) -> None:
        at = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)
        helsinki = digest_period(DigestFrequency.DAILY, "Europe/Helsinki", at, 8)  # 08:30 on the 7th
        assert helsinki is not None and helsinki.key == "2026-12-07"
        assert digest_period(DigestFrequency.DAILY, "America/New_York", at, 8) is None  # 01:30 on the 7th
        ny = digest_period(DigestFrequency.DAILY, "America/New_York", at + timedelta(hours=7), 8)  # 08:30
        assert ny is not None and ny.key == "2026-12-07" and ny.end == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)

    def test_summer_time_moves_the_utc_hour(self) -> None:
        period = digest_period(DigestFrequency.DAILY, "Europe/Helsinki", datetime(2026, 7, 1, 5, 0, tzinfo=UTC), 8)
        assert period is not None and period.end == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # UTC+3

    def test_weekly_on_monday_iso_week(self) -> None:
        sunday = datetime(2026, 12, 13, 12, 0, tzinfo=UTC)
        period = digest_period(DigestFrequency.WEEKLY, "Europe/Helsinki", sunday, 8)
        assert period is not None and period.key == "2026-W50"
        assert period.end == datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
        assert period.end - period.start == timedelta(days=7)

    def test_off_plans_nothing(self) -> None:
        assert digest_period(DigestFrequency.OFF, "UTC", NOW, 8) is None

    def test_content_items_points_rank_and_reach(self) -> None:
        period = DigestPeriod("2026-12-07", NOW - timedelta(days=1), NOW)
        finn = Advocate("finn", language="fi", timezone="Europe/Helsinki", interests=frozenset({"ai"}))
        items = [
            Item("old", "Old", topics=frozenset({"ai"}), language="fi", published_at=NOW - timedelta(days=2)),
            Item("new", "Uusi", topics=frozenset({"ai"}), language="fi", published_at=NOW - timedelta(hours=3)),
            Item("en", "English", topics=frozenset({"ai"}), language="en", published_at=NOW - timedelta(hours=3)),
        ]
        shares = [
            ShareFact("finn", "new", 800, NOW - timedelta(hours=2)),
            ShareFact("finn", "x", 5, NOW - timedelta(days=3)),
        ]
        data = digest_data(finn, period, items, {"finn": 30, "a": 50, "b": 30, "c": 0}, shares)
        assert [i["content_id"] for i in data["new_items"]] == ["new"]  # type: ignore[union-attr]
        assert data["points"] == 30 and data["rank"] == 2 and data["reach"] == 800 and data["shares"] == 1

    def test_rank_ties_share(self) -> None:
        assert rank_of("x", {"x": 5, "y": 5, "z": 9}) == 2


PREFS = Preferences(channels={ChannelName.TOPIC: ""}, quiet_start=time(22, 0), quiet_end=time(7, 0))


class TestQuietHoursAndLimits:
    def test_quiet_hours_delay_to_their_local_end(self) -> None:
        # 21:30 UTC = 23:30 in Helsinki: inside 22-07, released at 07:00 local = 05:00 UTC.
        at = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
        assert quiet_until(PREFS, at, "Europe/Helsinki") == datetime(2026, 12, 8, 5, 0, tzinfo=UTC)
        # The same instant is 21:30 in London (UTC+0): outside.
        assert quiet_until(PREFS, at, "Europe/London") is None

    def test_quiet_hours_in_the_morning_part(self) -> None:
        at = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 05:00 Helsinki
        assert quiet_until(PREFS, at, "Europe/Helsinki") == datetime(2026, 12, 8, 5, 0, tzinfo=UTC)

    def test_decide(self) -> None:
        limiter = RateLimiter(2)
        quiet_night = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
        assert decide(PREFS, Kind.THANK_YOU, "Europe/Helsinki", quiet_night, limiter, "ada") == Wait(
            datetime(2026, 12, 8, 5, 0, tzinfo=UTC), "quiet_hours"
        )
        assert decide(PREFS.opt_out(), Kind.THANK_YOU, "UTC", NOW, limiter, "ada") == Skip("opted_out")
        only_digest = Preferences(kinds=frozenset({Kind.DIGEST}))
        assert decide(only_digest, Kind.THANK_YOU, "UTC", NOW, limiter, "ada") == Skip("kind_disabled")
        assert isinstance(decide(PREFS, Kind.THANK_YOU, "UTC", NOW, limiter, "ada"), Send)

    def test_rate_limit_delays_the_excess_until_the_hour_passed(self) -> None:
        limiter = RateLimiter(2)
        limiter.record("ada", NOW)
        limiter.record("ada", NOW + timedelta(minutes=10))
        assert limiter.next_slot("ada", NOW + timedelta(minutes=20)) == NOW + timedelta(hours=1)
        assert limiter.next_slot("bob", NOW) is None
        assert limiter.next_slot("ada", NOW + timedelta(hours=1)) is None

    def test_backoff_grows_to_the_cap(self) -> None:
        assert [backoff_seconds(n, 2, 20) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 16, 20]


class TestValidation:
    @pytest.mark.parametrize(
        ("prefs", "message"),
        [
            (Preferences(channels={ChannelName.EMAIL: "not-an-address"}), "channels.email"),
            (Preferences(channels={ChannelName.SLACK: "ftp://x"}), "channels.slack"),
            (Preferences(quiet_start=time(22, 0)), "quiet_hours"),
        ],
    )
    def test_bad_settings_name_the_field(self, prefs: Preferences, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            validated(prefs)


def test_the_demo_view_shows_the_last_notifications() -> None:
    from advocacy.notify.v1.notify_pb2 import NotificationSent
    from rich.console import Console

    from services.demo.view import NotificationFeed, Snapshot, render

    feed = NotificationFeed("127.0.0.1:1", "notification-sent", keep=2)  # never started: no broker needed
    for n in range(3):
        event = NotificationSent(event_id=f"new:c{n}:ada", advocate_id="ada", kind="new_content", language="fi")
        event.subject = f"Uutta jaettavaa: {n}"
        line = feed.line(event.SerializeToString())
        assert line is not None
        feed.lines.append(line)
    console = Console(width=120, record=True)
    console.print(render(Snapshot(), "Advocacy", {}, notifications=feed))
    shown = console.export_text()
    assert "Latest notifications" in shown and "Uutta jaettavaa: 2" in shown and "Uutta jaettavaa: 0" not in shown
