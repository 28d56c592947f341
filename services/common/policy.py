"""Who may call what: the authorization policy of every RPC of every service, in one table.

Roles (the `role` claim of the caller's token):
- `admin`: program managers and reviewers; may call everything, on behalf of anyone.
- `service`: internal apps and the services themselves (the intranet portal that records a share for
  the employee it signed in, network webhooks reporting engagement, share -> content lookups); may call
  everything except the admin-only RPCs, on behalf of anyone.
- `advocate`: an employee acting only as themself: where `self_field` is set, that request field must
  equal the token's `sub`; some responses are narrowed to their public fields (`advocate_view`).

An RPC missing here is refused to everybody (services/common/auth.py), and tests/unit/test_policy.py
fails when a service descriptor has an RPC without an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

ADMIN = "admin"
ADVOCATE = "advocate"
SERVICE = "service"
ADMIN_ONLY = (ADMIN,)
STAFF = (ADMIN, SERVICE)
EVERYONE = (ADMIN, SERVICE, ADVOCATE)


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    # For the advocate role: the request field (dotted path) that must equal the caller's subject.
    self_field: str | None = None
    # For the advocate role: narrows the response in place (e.g. to public fields).
    advocate_view: Callable[[Any], None] | None = None


def public_fields(allowed: Mapping[str, frozenset[str]]) -> Callable[[Any], None]:
    """Keeps only the listed fields of the listed message types (recursively) and clears the rest:
    a field added to such a message later stays hidden from advocates until it is listed here."""

    def narrow(message: Message) -> None:
        keep = allowed.get(message.DESCRIPTOR.full_name)
        for field, value in message.ListFields():
            if keep is not None and field.name not in keep:
                message.ClearField(field.name)
            elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
                for child in value if field.is_repeated else [value]:
                    narrow(child)

    return narrow


# A leaderboard row names an advocate (or team) with rank and points: that is public to every
# advocate; anything else added to these messages is not, until listed.
LEADERBOARD_PUBLIC = public_fields(
    {
        "advocacy.rewards.v1.Leaderboard": frozenset({"rows", "first_day", "last_day"}),
        "advocacy.rewards.v1.LeaderboardRow": frozenset({"rank", "key", "points", "active_advocates", "score"}),
    }
)


def _service(name: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
    return {f"/{name}/{rpc}": rule for rpc, rule in rules.items()}


POLICY: dict[str, Rule] = {
    **_service(
        "advocacy.content.v1.ContentService",
        {
            # Authoring and review are the program team's.
            "CreateContent": Rule(ADMIN_ONLY),
            "SubmitForReview": Rule(ADMIN_ONLY),
            "Approve": Rule(ADMIN_ONLY),
            "Reject": Rule(ADMIN_ONLY),
            "Publish": Rule(ADMIN_ONLY),
            "EditContent": Rule(ADMIN_ONLY),
            "Archive": Rule(ADMIN_ONLY),
            # Advocates read items (they share them); the content servicer hides unpublished items
            # from advocates except their own suggestions.
            "GetContent": Rule(EVERYONE),
            "SuggestContent": Rule(EVERYONE, self_field="advocate_id"),
            # Every status, including drafts and rejected items.
            "ListContent": Rule(STAFF),
            "ListFeed": Rule(EVERYONE, self_field="advocate_id"),
            # Feed sources create content on the program's behalf.
            "CreateSource": Rule(ADMIN_ONLY),
            "ListSources": Rule(ADMIN_ONLY),
            "PauseSource": Rule(ADMIN_ONLY),
            "DeleteSource": Rule(ADMIN_ONLY),
            # Migrating a previous tool's history writes the past: the program team's alone.
            "ImportContent": Rule(ADMIN_ONLY),
        },
    ),
    **_service(
        "advocacy.content.v1.TrainingService",
        {
            # Writing lessons, and every read that carries the quizzes' correct choices, are the
            # program team's alone (an internal app showing lessons to advocates uses ListMyLessons).
            "CreateLesson": Rule(ADMIN_ONLY),
            "EditLesson": Rule(ADMIN_ONLY),
            "PublishLesson": Rule(ADMIN_ONLY),
            "ArchiveLesson": Rule(ADMIN_ONLY),
            "GetLesson": Rule(ADMIN_ONLY),
            "ListLessons": Rule(ADMIN_ONLY),
            "SetCampaignPrerequisites": Rule(ADMIN_ONLY),
            # What a campaign requires is no secret (the share service and advocates read it).
            "GetCampaignPrerequisites": Rule(EVERYONE),
            # An advocate's own lessons and progress (answers are checked server-side).
            "ListMyLessons": Rule(EVERYONE, self_field="advocate_id"),
            "CompleteLesson": Rule(EVERYONE, self_field="advocate_id"),
            "SubmitQuiz": Rule(EVERYONE, self_field="advocate_id"),
        },
    ),
    **_service(
        "advocacy.share.v1.ShareService",
        {
            # Enrolment comes from the program team or the HR / directory sync.
            "EnrollAdvocate": Rule(STAFF),
            "GetAdvocate": Rule(EVERYONE, self_field="advocate_id"),
            "Leave": Rule(EVERYONE, self_field="advocate_id"),
            "UpdateProfile": Rule(EVERYONE, self_field="profile.advocate_id"),
            "ConnectNetwork": Rule(EVERYONE, self_field="advocate_id"),
            "DisconnectNetwork": Rule(EVERYONE, self_field="advocate_id"),
            "RecordShare": Rule(EVERYONE, self_field="advocate_id"),
            # As RecordShare: an advocate posts as themself, an internal app on behalf of anyone.
            "RecordOwnPost": Rule(EVERYONE, self_field="advocate_id"),
            "ListSharesByAdvocate": Rule(EVERYONE, self_field="advocate_id"),
            # Lists other advocates' shares.
            "ListSharesByContent": Rule(STAFF),
            # Network webhooks, pollers and imports.
            "RecordEngagement": Rule(STAFF),
            # Migrating a previous tool's history writes the past: the program team's alone.
            "ImportAdvocates": Rule(ADMIN_ONLY),
            "ImportShares": Rule(ADMIN_ONLY),
        },
    ),
    **_service(
        "advocacy.rewards.v1.RewardsService",
        {
            "GetBalance": Rule(EVERYONE, self_field="advocate_id"),
            "ListLedger": Rule(EVERYONE, self_field="advocate_id"),
            "GetBadges": Rule(EVERYONE, self_field="advocate_id"),
            "GetLeaderboard": Rule(EVERYONE, advocate_view=LEADERBOARD_PUBLIC),
            "ListCatalog": Rule(EVERYONE),
            "Redeem": Rule(EVERYONE, self_field="advocate_id"),
            # The rules are public (advocates should know how points are earned); changing them is not.
            "GetRuleSet": Rule(EVERYONE),
            "PutRuleSet": Rule(ADMIN_ONLY),
            "UpsertCampaign": Rule(ADMIN_ONLY),
            "UpsertCatalogItem": Rule(ADMIN_ONLY),
        },
    ),
    **_service(
        "advocacy.analytics.v1.AnalyticsService",
        {
            # Program figures (every advocate's activity inside) are for the program team and its apps.
            "GetContentStats": Rule(STAFF),
            "GetStats": Rule(STAFF),
            "TopContent": Rule(STAFF),
            "GetProgramOverview": Rule(STAFF),
            "ExportStatsCsv": Rule(STAFF),
            # Programme health and training (issue 23): aggregates, no advocate named.
            "GetProgramHealth": Rule(STAFF),
            "ExportHealthCsv": Rule(STAFF),
            "GetTrainingStats": Rule(STAFF),
            # Customers' comments go to the item's author (the servicer checks authorship).
            "ListComments": Rule(EVERYONE, self_field="requester_id"),
            # What EMV is priced with: the program team's to read and change.
            "GetRateCard": Rule(ADMIN_ONLY),
            "PutRateCard": Rule(ADMIN_ONLY),
        },
    ),
    **_service(
        "advocacy.notify.v1.NotifyService",
        {
            # An advocate's own notification settings; admins and internal apps for anyone.
            "GetPreferences": Rule(EVERYONE, self_field="advocate_id"),
            "UpdatePreferences": Rule(EVERYONE, self_field="advocate_id"),
            "OptOut": Rule(EVERYONE, self_field="advocate_id"),
            # What everybody without settings of their own gets: the program team's.
            "GetCompanyDefaults": Rule(ADMIN_ONLY),
            "PutCompanyDefaults": Rule(ADMIN_ONLY),
        },
    ),
}
