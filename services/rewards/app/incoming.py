"""One decoded input event of the award agent, with what its evaluation and its entries need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import LessonCompleted
from advocacy.share.v1.share_pb2 import EngagementKind, EngagementObserved, ShareMade

from services.rewards.domain.account import ledger_document
from services.rewards.domain.rules import (
    REDEMPTION,
    AdvocateState,
    Award,
    Campaign,
    EngagementFacts,
    RuleSet,
    ShareFacts,
    campaign_factor,
    early_sharer_award,
    evaluate_engagement,
    evaluate_share,
    lesson_award,
)

SHARE_KIND, ENGAGEMENT_KIND, EARLY_KIND, REDEMPTION_KIND = "share", "engagement", "early", "redemption"
LESSON_KIND = "lesson"
# A message to one partition that only makes its owner search its states for outboxes not
# announced (sent for partitions with no other traffic after they moved; app/processor.py).
SWEEP_KIND = "sweep"


@dataclass(frozen=True)
class RedemptionRequest:
    """`Redeem` asks the advocate's partition owner to debit: `key` identifies the redemption
    (a retry reuses it), `request_id` the call (the outcome names the call that decided it)."""

    key: str
    request_id: str
    item_id: str
    cost: int

    def entry(self, advocate_id: str, at: datetime) -> dict:
        return ledger_document(
            source_event_id=self.key,
            rule=REDEMPTION,
            advocate_id=advocate_id,
            points=-self.cost,
            rule_set_version=0,
            campaign_id="",
            content_id=self.item_id,
            occurred_at=at,
        )


@dataclass
class Incoming:
    event: Any  # the Faust event: its partition's changelog takes the advocate's state
    kind: str  # SHARE_KIND, ENGAGEMENT_KIND, EARLY_KIND, LESSON_KIND or REDEMPTION_KIND
    source: str  # "<topic>/<partition>": the offsets the state records are per source
    offset: int
    partition: int  # of the advocate-keyed topics (all co-partitioned)
    advocate_id: str
    source_id: str  # the source event id: ledger entry ids are "<source id>:<rule>"
    at: datetime
    day: str  # the advocate's local day
    campaign_id: str = ""
    content_id: str = ""  # the item shared; of a LESSON_KIND event, the lesson
    snapshot: AdvocateSnapshot | None = None
    network: str = ""
    audience: int = 0
    share: ShareMade | None = None
    engagement: EngagementObserved | None = None
    redemption: RedemptionRequest | None = None
    lesson: LessonCompleted | None = None

    @property
    def first_name(self) -> str:
        name = self.snapshot.display_name if self.snapshot is not None else ""
        return name.split(" ")[0] if name else ""

    def evaluate(self, state: AdvocateState, rules: RuleSet, campaign: Campaign | None) -> list[Award]:
        """The event's awards before the daily cap (pure domain code; updates `state`)."""
        if self.kind == LESSON_KIND:
            return lesson_award(rules)  # (a completion belongs to no campaign)
        factor = campaign_factor(campaign, self.at)
        if self.engagement is not None:
            eng = self.engagement
            facts = EngagementFacts(
                kind=EngagementKind.Name(eng.kind),
                count=eng.count,
                share_id=eng.share_id,
                occurred_at=self.at,
                actor_fingerprint=eng.actor_fingerprint,
                is_bot=eng.is_bot,
                is_self=eng.is_self,
            )
            return evaluate_engagement(state, facts, rules, factor)
        if self.kind == SHARE_KIND:
            assert self.share is not None and self.snapshot is not None
            share_facts = ShareFacts(
                self.network,
                self.share.personal_wording,
                self.content_id,
                self.at,
                self.snapshot.timezone,
                own_post=self.share.share.own_post,
            )
            return evaluate_share(state, share_facts, rules, factor)
        return early_sharer_award(rules, factor)

    def ledger_document(self, award: Award, rule_set_version: int) -> dict:
        snapshot = self.snapshot or AdvocateSnapshot()
        return ledger_document(
            source_event_id=self.source_id,
            rule=award.rule,
            advocate_id=self.advocate_id,
            points=award.points,
            capped=award.capped,
            rule_set_version=rule_set_version,
            campaign_id=self.campaign_id,
            content_id=self.content_id,
            occurred_at=self.at,
            team=snapshot.team,
            leader=snapshot.leader,
            local_day=self.day,
            units=award.units,
        )
