"""The award agent's batch (app/processor.py) over in-memory fakes of its ports: exactly-once in
effect across redeliveries and crashes, the daily cap, period totals and redemptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Share, ShareMade

from services.rewards.app.boards import BoardKeeper
from services.rewards.app.incoming import (
    EARLY_KIND,
    LESSON_KIND,
    REDEMPTION_KIND,
    SHARE_KIND,
    SWEEP_KIND,
    Incoming,
    RedemptionRequest,
)
from services.rewards.app.processor import AwardProcessor
from services.rewards.domain.account import INSUFFICIENT_POINTS, OUT_OF_STOCK, REDEEMED
from services.rewards.domain.rules import DEFAULT_RULES, AdvocateState, Campaign, RuleSet

AT = datetime(2026, 10, 14, 9, tzinfo=UTC)


class Crash(Exception):
    pass


@dataclass
class Fakes:
    rules_set: RuleSet = DEFAULT_RULES
    tables: dict[str, dict] = field(default_factory=dict)  # durable (changelog acknowledged)
    written: dict[str, dict] = field(default_factory=dict)  # put, not acknowledged yet
    through: dict[int, dict[str, int]] = field(default_factory=dict)
    fail_changelog: bool = False
    announced: list[dict] = field(default_factory=list)
    outcomes: dict[str, dict] = field(default_factory=dict)
    summaries: dict[str, dict[str, int]] = field(default_factory=dict)
    stock: int = 100
    claims: dict[str, str] = field(default_factory=dict)
    fail_summaries: bool = False
    board_documents: dict[str, dict] = field(default_factory=dict)
    keeper: BoardKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.keeper = BoardKeeper(self)

    async def rules(self) -> RuleSet:
        return self.rules_set

    async def campaign(self, campaign_id: str) -> Campaign | None:
        return None

    def get(self, advocate_id: str) -> dict | None:
        return self.written.get(advocate_id, self.tables.get(advocate_id))

    def put(self, advocate_id: str, state: dict, event: Any) -> None:
        self.written[advocate_id] = state

    async def changelog_acknowledged(self) -> None:
        if self.fail_changelog:
            raise Crash("changelog not acknowledged")
        self.tables.update(self.written)
        self.written.clear()

    def restart(self) -> None:
        """A SIGKILL: what was not durable in the changelog is gone."""
        self.written.clear()

    def announced_through(self, partition: int) -> dict[str, int]:
        return self.through.get(partition, {})

    def record_announced(self, partition: int, through: dict[str, int], event: Any) -> None:
        self.through[partition] = through

    def by_partition(self, partitions: set[int]) -> dict[int, list[tuple[str, dict]]]:
        return {p: list({**self.tables, **self.written}.items()) if p == 0 else [] for p in partitions}

    async def write(self, documents: Sequence[dict]) -> None:
        self.board_documents.update((d["_id"], d) for d in documents)

    async def announce(self, announcements: Sequence[tuple[dict, str]]) -> None:
        self.announced += [doc for doc, _ in announcements]

    async def claim(self, item_id: str, key: str) -> str | None:
        if key not in self.claims and len(self.claims) < self.stock:
            self.claims[key] = f"{item_id}:{len(self.claims)}"
        return self.claims.get(key)

    async def record_outcomes(self, outcomes: Sequence[dict]) -> None:
        for doc in outcomes:
            self.outcomes.setdefault(doc["_id"], doc)  # an insert by `_id`: the first one stays

    async def publish_summaries(self, summaries: dict[str, dict[str, int]]) -> None:
        if self.fail_summaries:
            raise Crash("database down")
        for a, fields in summaries.items():
            old = self.summaries.setdefault(a, {})
            for k, v in fields.items():
                old[k] = max(old.get(k, v), v)

    def processor(self) -> AwardProcessor:
        return AwardProcessor(self, self, self, self, self, self.keeper)

    def state(self, advocate_id: str = "aino") -> AdvocateState:
        return AdvocateState.from_dict(self.get(advocate_id))

    def ids(self) -> list[str]:
        return [d["_id"] for d in self.announced]


def share(offset: int, event_id: str, content: str = "c1", at: datetime = AT, advocate: str = "aino") -> Incoming:
    snapshot = AdvocateSnapshot(advocate_id=advocate, display_name="Aino A", team="sales", timezone="UTC")
    msg = ShareMade(event_id=event_id, share=Share(content_id=content, advocate_id=advocate), advocate=snapshot)
    return Incoming(
        event=object(),
        kind=SHARE_KIND,
        source="share-made/0",
        offset=offset,
        partition=0,
        advocate_id=advocate,
        source_id=event_id,
        at=at,
        day=at.date().isoformat(),
        content_id=content,
        snapshot=snapshot,
        network="NETWORK_LINKEDIN",
        share=msg,
    )


def lesson(offset: int, event_id: str, lesson_id: str = "tone", at: datetime = AT) -> Incoming:
    snapshot = AdvocateSnapshot(advocate_id="aino", display_name="Aino A", team="sales", leader=True, timezone="UTC")
    return Incoming(
        event=object(),
        kind=LESSON_KIND,
        source="lesson-completed/0",
        offset=offset,
        partition=0,
        advocate_id="aino",
        source_id=event_id,
        at=at,
        day=at.date().isoformat(),
        content_id=lesson_id,
        snapshot=snapshot,
    )


def redeem(offset: int, key: str, cost: int, request_id: str = "") -> Incoming:
    return Incoming(
        event=object(),
        kind=REDEMPTION_KIND,
        source="redemptions/0",
        offset=offset,
        partition=0,
        advocate_id="aino",
        source_id=key,
        at=AT,
        day=AT.date().isoformat(),
        redemption=RedemptionRequest(key, request_id or f"r{offset}", "mug", cost),
    )


def sweep(offset: int = 0) -> Incoming:
    return Incoming(object(), SWEEP_KIND, "redemptions/0", offset, 0, "", "", AT, AT.date().isoformat())


async def test_a_redelivered_event_changes_nothing_and_the_same_event_at_another_offset_counts_once():
    f = Fakes()
    await f.processor().process([share(0, "sh-1"), share(1, "sh-2", content="c2")])
    state = f.state()
    assert state.balance == 30 and f.ids() == ["sh-1:share", "sh-1:first_share", "sh-2:share", "sh-2:first_share"]
    effects = await f.processor().process([share(0, "sh-1"), share(1, "sh-2", content="c2")])
    # The same account; the outbox (announced) is emptied.
    assert effects.replayed == 2 and f.state() == replace(state, outbox=[]) and len(f.announced) == 4
    effects = await f.processor().process([share(7, "sh-1")])  # sent twice by an at-least-once producer
    assert effects.replayed == 1 and f.state().balance == 30 and len(f.announced) == 4
    assert f.summaries["aino"]["earned"] == 30 and f.summaries["aino"]["shares"] == 2


async def test_an_early_bonus_re_sent_days_later_in_event_time_counts_once():
    f = Fakes()
    early = replace(share(0, "sh-1"), kind=EARLY_KIND, source="early-sharers/0")
    later = [share(i, f"sh-{i}", content=f"c{i}", at=AT + timedelta(days=i)) for i in range(2, 6)]
    await f.processor().process([share(1, "sh-1"), early, *later])
    balance = f.state().balance
    # The ranking re-sends the bonus after its own restart, at a new offset, when the advocate's
    # newest event is days past it.
    effects = await f.processor().process([replace(early, offset=1)])
    assert effects.replayed == 1 and f.state().balance == balance
    assert [i for i in f.ids() if i.endswith(":early_sharer")] == ["sh-1:early_sharer"]


async def test_a_crash_before_the_state_is_durable_is_re_evaluated_from_the_prefix_with_the_same_entries():
    f = Fakes()
    await f.processor().process([share(0, "sh-1")])
    f.fail_changelog = True
    batch = [share(1, "sh-2", content="c2"), share(2, "sh-3", content="c3")]
    with pytest.raises(Crash):
        await f.processor().process(batch)
    assert len(f.announced) == 2  # nothing of the batch went out before its state was durable
    f.restart()
    assert f.state().balance == 15  # the prefix
    f.fail_changelog = False
    await f.processor().process(batch)
    assert f.ids()[2:] == ["sh-2:share", "sh-2:first_share", "sh-3:share", "sh-3:first_share"]
    assert f.state().balance == 45


async def test_a_crash_after_the_state_is_durable_announces_its_outbox_again_without_new_events():
    f = Fakes()
    f.fail_summaries = True  # the effects fail after the state write
    with pytest.raises(Crash):
        await f.processor().process([share(0, "sh-1")])
    f.fail_summaries = False
    f.restart()
    f.announced.clear()
    effects = await f.processor().process([sweep()])  # the new owner's sweep of the partition
    assert effects.carried == 2 and f.ids() == ["sh-1:share", "sh-1:first_share"]
    assert f.summaries["aino"]["earned"] == 15 and f.state().balance == 15
    effects = await f.processor().process([sweep()])
    assert effects.carried == 0 and len(f.announced) == 2  # announced: not again


async def test_the_daily_cap_and_period_totals_come_from_the_state():
    f = Fakes(rules_set=RuleSet(daily_cap=40))
    await f.processor().process([share(i, f"sh-{i}", content=f"c{i}") for i in range(4)])
    state = f.state()
    assert state.balance == 40 and state.days == {"2026-10-14": 40}
    assert sum(d["capped"] for d in f.announced) == 4 * 15 - 40
    assert state.totals == {"week:2026-10-12": 40, "month:2026-10-01": 40, "quarter:2026-10-01": 40, "all_time": 40}


async def test_redemptions_never_overdraw_and_a_key_is_decided_once():
    f = Fakes()
    await f.processor().process([share(i, f"sh-{i}", content=f"c{i}") for i in range(7)])  # 105 points
    assert f.state().balance == 105
    await f.processor().process([redeem(i, f"k{i}", 30) for i in range(10)])
    statuses = [f.outcomes[f"k{i}"]["status"] for i in range(10)]
    assert statuses == [REDEEMED] * 3 + [INSUFFICIENT_POINTS] * 7
    assert f.state().balance == 15 and len(f.claims) == 3
    assert sum(d["points"] for d in f.announced) == 15  # the ledger agrees: three -30 entries
    await f.processor().process([redeem(10, "k0", 30, request_id="retry")])  # the same key again
    assert f.outcomes["k0"]["request_id"] == "r0" and f.state().balance == 15 and len(f.claims) == 3


async def test_out_of_stock_debits_nothing():
    f = Fakes(stock=1)
    await f.processor().process([share(i, f"sh-{i}", content=f"c{i}") for i in range(4)])  # 60 points
    await f.processor().process([redeem(0, "k0", 20), redeem(1, "k1", 20)])
    assert [f.outcomes[k]["status"] for k in ("k0", "k1")] == [REDEEMED, OUT_OF_STOCK]
    assert f.state().balance == 40 and f.outcomes["k1"]["entry"] is None


async def test_a_replay_in_another_order_after_a_partly_announced_batch_keeps_the_ledger_within_the_cap():
    f = Fakes(rules_set=RuleSet(daily_cap=15))
    first = share(0, "sh-1")  # share-made: 10 + first share 5
    bonus = replace(share(0, "sh-9", content="c9"), kind=EARLY_KIND, source="early-sharers/0")
    acked: list[dict] = []

    async def killed_after_two(announcements: Sequence[tuple[dict, str]]) -> None:
        acked.extend(doc for doc, _ in announcements[:2])  # SIGKILL while the rest is in flight
        raise Crash("killed mid-announce")

    f.announce = killed_after_two  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await f.processor().process([first, bonus])
    del f.announce  # the restarted worker's announcer
    f.restart()
    # After the restart Faust re-fetches each topic from its committed offset: the early-sharer
    # topic's record may now come first.
    await f.processor().process([bonus, first])
    ledger: dict[str, int] = {}
    for doc in [*acked, *f.announced]:
        ledger.setdefault(doc["_id"], doc["points"])  # the sink keeps the first entry of an id
    assert f.state().balance == 15
    assert sum(ledger.values()) == f.state().balance


async def test_a_lesson_is_awarded_once_per_event_and_once_per_advocate_and_lesson():
    f = Fakes()
    await f.processor().process([lesson(0, "lc-1")])
    assert f.ids() == ["lc-1:lesson"] and f.state().balance == 20
    assert f.announced[0]["content_id"] == "tone" and f.announced[0]["team"] == "sales"
    effects = await f.processor().process([lesson(0, "lc-1")])  # redelivered (same offset)
    assert effects.replayed == 1
    effects = await f.processor().process([lesson(1, "lc-1")])  # retried by its producer (another offset)
    assert effects.replayed == 1
    # A second completion event of the same lesson, days later, under another id: nothing.
    effects = await f.processor().process([lesson(2, "lc-2", at=AT + timedelta(days=5))])
    assert effects.replayed == 1 and f.ids() == ["lc-1:lesson"] and f.state().balance == 20
    await f.processor().process([lesson(3, "lc-3", lesson_id="hashtags")])  # another lesson pays
    assert f.ids() == ["lc-1:lesson", "lc-3:lesson"] and f.state().balance == 40
    assert f.summaries["aino"]["lessons"] == 2 and f.state().lessons_done == {"tone", "hashtags"}


async def test_lesson_points_are_outside_the_daily_cap_and_count_on_the_boards():
    f = Fakes(rules_set=RuleSet(daily_cap=15))
    # The day is full after the first share; the lesson is granted whole and takes no room.
    await f.processor().process([share(0, "sh-1"), lesson(0, "lc-1"), share(1, "sh-2", content="c2")])
    entries = {d["_id"]: (d["points"], d["capped"]) for d in f.announced}
    assert entries["lc-1:lesson"] == (20, 0) and entries["sh-2:share"] == (0, 10)
    state = f.state()
    assert state.balance == 35 and state.days == {"2026-10-14": 15}
    assert state.totals["week:2026-10-12"] == 35 and state.team_totals["sales|all_time"] == 35
    assert state.leader_totals["all_time"] == 20  # the completion's snapshot says leader
    # Lesson first: the shares of that day still get the whole cap.
    g = Fakes(rules_set=RuleSet(daily_cap=15))
    await g.processor().process([lesson(0, "lc-1"), share(0, "sh-1")])
    assert g.state().balance == 35 and g.state().days == {"2026-10-14": 15}


async def test_a_crash_after_a_lesson_s_state_is_durable_announces_it_again_never_awards_it_twice():
    f = Fakes()
    f.fail_summaries = True
    with pytest.raises(Crash):
        await f.processor().process([lesson(0, "lc-1")])
    f.fail_summaries = False
    f.restart()
    f.announced.clear()
    effects = await f.processor().process([lesson(0, "lc-1"), lesson(1, "lc-2")])  # redelivered, plus a repeat
    assert effects.carried == 1 and f.ids() == ["lc-1:lesson"] and f.state().balance == 20


async def test_an_own_post_share_made_is_booked_under_its_own_rule_and_counts_as_a_share_for_badges():
    f = Fakes(rules_set=RuleSet(own_post_points=3))
    post = share(0, "own-1", content="own:abc")
    assert post.share is not None
    post.share.share.own_post = True
    post.share.personal_wording = True  # even if a producer set it: no bonus for an own post
    await f.processor().process([post, share(1, "sh-1")])
    assert {d["_id"]: d["points"] for d in f.announced} == {
        "own-1:own_post": 3,
        "own-1:first_share": 5,
        "sh-1:share": 10,
        "sh-1:first_share": 5,
    }
    assert f.state().shares == 2 and f.state().balance == 23
