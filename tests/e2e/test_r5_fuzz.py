"""R5: property-based fuzzing of every RPC of every service against the running platform.

Requests are generated from the message descriptors (every scalar type, enums with unknown values,
nested and repeated messages, maps, oneofs, timestamps far outside their range, huge and unicode
strings, negative numbers), so a new RPC or field is fuzzed without editing this file. Calls are
made as admin (past the authorization check, into the handlers). No call may end INTERNAL or
UNKNOWN, and every service must still be alive and SERVING afterwards.

ADVOCACY_FUZZ_EXAMPLES sets the requests per RPC (2,000 by default): hypothesis draws them BATCH at
a time, and they are sent up to IN_FLIGHT at a time.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from typing import Any

import grpc
import pytest
from advocacy.analytics.v1 import analytics_pb2
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, training_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.common.auth import ADMIN
from services.platform.supervisor import Platform, grpc_service_name
from tests.e2e.conftest import connect
from tests.e2e.rpcs import Rpc, all_rpcs

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("ADVOCACY_FUZZ_EXAMPLES", "2000"))
IN_FLIGHT = 16
# Requests per hypothesis example: its engine's work per example (recording, mutating, replaying)
# is shared by BATCH requests (generation, not the calls, limits the rate: ≈ 3x faster so).
BATCH = 10
MAX_DEPTH = 3
# Statuses that mean the service failed rather than refused the request.
FAILURES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}

# Real identifiers (filled in by the `known` fixture), so generated requests reach past
# "not found" into the handlers.
KNOWN_IDS = ["r5-ada", "r5-bob", "GLOBAL", "linkedin", "team-a"]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
# One field in ~HOSTILE_ODDS gets a hostile value; the others plausible ones, so a request is
# usually wrong in one place at a time and gets past the first check into the handler.
HOSTILE_ODDS = 8


def _mostly(sane: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(*([sane] * (HOSTILE_ODDS - 1)), hostile)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [v for v in (0, 1, -1, 2, 10, 100, 101, 500, 501, 1000, 10**6, lo, hi) if lo <= v <= hi]
    sane = st.integers(max(lo, -5), min(hi, 1000))
    return _mostly(sane, st.one_of(st.sampled_from(edges), st.integers(lo, hi)))


def _long(short: st.SearchStrategy[Any], lo: int, hi: int) -> st.SearchStrategy[Any]:
    """A long string / bytes / list: a short drawn one repeated to a drawn length. Drawing thousands
    of elements one by one would make generation, not the calls, the fuzzer's bottleneck (and
    overrun hypothesis' choice buffer); lengths, and what the short part holds, stay random."""
    return st.builds(lambda part, n: (part * (n // max(len(part), 1) + 1))[:n], short, st.integers(lo, hi))


def _text() -> st.SearchStrategy[str]:
    sane = st.one_of(
        st.sampled_from(KNOWN_IDS),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
        st.sampled_from(["https://example.com/x", "2026-11-27", "Europe/Zurich", "en", "a"]),
    )
    hostile = st.one_of(
        st.just(""),
        _long(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20), 100, 3000),
        # Far beyond every field's limit, and control / bidi / emoji / NUL characters.
        st.builds(
            lambda c, n: c * n, st.sampled_from(["a", "\u202e", "\U0001f600", "\x00", " "]), st.integers(9_000, 40_000)
        ),
        st.sampled_from(["javascript:alert(1)", "2026-02-30", "0000-01-01", "$where", "a.b", "../../etc", "%00", "\n"]),
    )
    return _mostly(sane, hostile)


def _element(field: FieldDescriptor, one: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An element of a long repeated field: short strings mostly, so that a request passes gRPC's
    4 MB limit (and reaches the service) most of the time; sometimes any value (over the limit
    with a long string repeated thousands of times: RESOURCE_EXHAUSTED, gRPC's own refusal)."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return _mostly(st.one_of(st.sampled_from(KNOWN_IDS), st.text(max_size=30)), one)
    return one


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t in _INT_RANGES:
        return _ints(*_INT_RANGES[t])
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        width = 64 if t == FieldDescriptor.TYPE_DOUBLE else 32
        return _mostly(st.floats(-10, 1000, width=width), st.floats(allow_nan=True, allow_infinity=True, width=width))
    if t == FieldDescriptor.TYPE_STRING:
        return _text()
    if t == FieldDescriptor.TYPE_BYTES:
        return _mostly(st.binary(max_size=30), _long(st.binary(min_size=1, max_size=20), 100, 2000))
    if t == FieldDescriptor.TYPE_ENUM:
        # Known values mostly, unknown ones (proto3 enums are open) sometimes.
        return _mostly(st.sampled_from([v.number for v in field.enum_type.values]), _ints(-(2**31), 2**31 - 1))
    raise AssertionError(f"unhandled field type {t}")


# Fixed for the run: hypothesis needs a strategy to be the same every time it is built.
NOW = int(time.time())


def _timestamp() -> st.SearchStrategy[dict[str, int]]:
    now = NOW
    sane = st.fixed_dictionaries({"seconds": st.integers(now - 400 * 86400, now + 400 * 86400)})
    hostile = st.fixed_dictionaries(
        {},
        optional={
            "seconds": st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-62_135_596_800, 253_402_300_799)),
            "nanos": st.integers(-(2**31), 2**31 - 1),
        },
    )
    return _mostly(sane, hostile)


def message_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of field values for `descriptor` (fields present or not at random)."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp()
    return st.fixed_dictionaries({}, optional=field_strategies(descriptor, depth))


def field_strategies(descriptor: Descriptor, depth: int = 0) -> dict[str, st.SearchStrategy[Any]]:
    """One strategy per field of `descriptor` (a map's or a message's value as `_fill` takes it)."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key = _scalar(field.message_type.fields_by_name["key"])
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                continue
            optional[field.name] = st.dictionaries(key, _scalar(value_field), max_size=8)
            continue
        if field.message_type is not None:
            if depth >= MAX_DEPTH:
                continue
            one = message_strategy(field.message_type, depth + 1)
        else:
            one = _scalar(field)
        if field.is_repeated:
            small = st.lists(one, max_size=4)
            optional[field.name] = (
                small
                if field.message_type is not None
                else _mostly(small, _long(st.lists(_element(field, one), min_size=1, max_size=4), 100, 3000))
            )
        else:
            optional[field.name] = one
    return optional


def build(descriptor: Descriptor, values: dict[str, Any]) -> Message:
    message = GetMessageClass(descriptor)()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target.update(value)
        elif field.message_type is not None and field.is_repeated:
            for item in value:
                _fill(target.add(), item)
        elif field.message_type is not None:
            target.SetInParent()
            _fill(target, value)
        elif field.is_repeated:
            target.extend(value)
        else:
            setattr(message, name, value)


def seeds(ids: dict[str, str]) -> dict[str, Message]:
    """A valid request per RPC where one is not trivially generated: the fuzzer replaces one or two
    of its fields at a time, so most requests get past the first check into the handler's logic."""
    later = Timestamp(seconds=NOW + 86400)
    earlier = Timestamp(seconds=NOW - 86400)
    item = content_pb2.ContentItem(
        title="Fuzz", url="https://example.com/f", topics=["t"], language="en", publish_at=later, author_id="r5-ada"
    )
    advocate = share_pb2.Advocate(
        profile=AdvocateSnapshot(advocate_id="r5-ada", team="team-a", timezone="Europe/Zurich"),
        interests=["t"],
        networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=10)],
    )
    stats = analytics_pb2.GetStatsRequest(
        dimension=analytics_pb2.DIMENSION_CONTENT, key=ids["content"], granularity=analytics_pb2.GRANULARITY_DAY
    )
    health = analytics_pb2.GetProgramHealthRequest(team="team-a", from_month="2026-01", to_month="2026-06")
    transition = content_pb2.TransitionRequest(content_id=ids["content"], actor_id="r5", reason="r")
    lesson = training_pb2.Lesson(
        title="Fuzz lesson",
        body="b",
        links=[training_pb2.LessonLink(title="g", url="https://example.com/g")],
        audience=content_pb2.Audience(teams=["team-a"]),
        quiz=training_pb2.Quiz(
            questions=[training_pb2.QuizQuestion(text="q", choices=["a", "b"], correct_choice=1)], pass_mark_percent=50
        ),
    )
    lesson_step = training_pb2.LessonTransitionRequest(lesson_id=ids["draft_lesson"], actor_id="r5")
    # History import: r5-ada was enrolled and the item published by the `known` fixture, before now.
    just_now = Timestamp()
    just_now.FromNanoseconds(time.time_ns() - 1_000_000)
    past = Timestamp(seconds=NOW - 30 * 86400)
    imported = share_pb2.ImportedAdvocate(advocate=advocate, enrolled_at=past)
    imported.advocate.profile.advocate_id = "r5-bob"
    return {
        "ContentService/ImportContent": content_pb2.ImportContentRequest(
            items=[content_pb2.ImportedContent(import_key="r5-old", item=item, published_at=past)]
        ),
        "ShareService/ImportAdvocates": share_pb2.ImportAdvocatesRequest(advocates=[imported]),
        "ShareService/ImportShares": share_pb2.ImportSharesRequest(
            shares=[
                share_pb2.ImportedShare(
                    idempotency_key="r5-h1",
                    advocate_id="r5-ada",
                    network=Network.NETWORK_LINKEDIN,
                    message="then",
                    shared_at=just_now,
                    content_id=ids["content"],
                ),
                share_pb2.ImportedShare(
                    idempotency_key="r5-h2",
                    advocate_id="r5-ada",
                    network=Network.NETWORK_LINKEDIN,
                    shared_at=just_now,
                    own_post_url="https://example.com/then",
                ),
            ]
        ),
        "TrainingService/CreateLesson": training_pb2.CreateLessonRequest(lesson=lesson),
        "TrainingService/EditLesson": training_pb2.EditLessonRequest(
            lesson_id=ids["draft_lesson"], expected_version=1, lesson=lesson
        ),
        "TrainingService/PublishLesson": lesson_step,
        "TrainingService/ArchiveLesson": lesson_step,
        "TrainingService/ListMyLessons": training_pb2.ListMyLessonsRequest(advocate_id="r5-ada"),
        "TrainingService/CompleteLesson": training_pb2.CompleteLessonRequest(
            lesson_id=ids["lesson"], advocate_id="r5-ada"
        ),
        "TrainingService/SubmitQuiz": training_pb2.SubmitQuizRequest(
            lesson_id=ids["quiz_lesson"], advocate_id="r5-ada", answers=[1]
        ),
        "TrainingService/SetCampaignPrerequisites": training_pb2.SetCampaignPrerequisitesRequest(
            campaign_id="c1", lesson_ids=[ids["lesson"]]
        ),
        "ContentService/CreateContent": content_pb2.CreateContentRequest(item=item),
        "ContentService/SuggestContent": content_pb2.SuggestContentRequest(item=item, advocate_id="r5-ada"),
        "ContentService/EditContent": content_pb2.EditContentRequest(
            content_id=ids["draft"], expected_version=1, item=item, actor_id="r5"
        ),
        **{
            f"ContentService/{rpc}": transition
            for rpc in ("SubmitForReview", "Approve", "Reject", "Publish", "Archive")
        },
        "ContentService/ListFeed": content_pb2.ListFeedRequest(advocate_id="r5-ada", page_size=5),
        "ShareService/EnrollAdvocate": share_pb2.EnrollAdvocateRequest(advocate=advocate),
        "ShareService/UpdateProfile": share_pb2.UpdateProfileRequest(profile=advocate.profile, interests=["t"]),
        "ShareService/ConnectNetwork": share_pb2.ConnectNetworkRequest(
            advocate_id="r5-ada", connection=share_pb2.NetworkConnection(network=Network.NETWORK_X, audience_size=5)
        ),
        "ShareService/RecordShare": share_pb2.RecordShareRequest(
            content_id=ids["content"], advocate_id="r5-ada", network=Network.NETWORK_LINKEDIN, message="hi"
        ),
        "ShareService/RecordOwnPost": share_pb2.RecordOwnPostRequest(
            advocate_id="r5-ada", network=Network.NETWORK_LINKEDIN, url="https://example.com/own", message="mine"
        ),
        "ShareService/RecordEngagement": share_pb2.RecordEngagementRequest(
            reports=[
                share_pb2.EngagementReport(
                    share_id=ids["share"],
                    kind=share_pb2.ENGAGEMENT_KIND_COMMENT,
                    count=1,
                    source=share_pb2.ENGAGEMENT_SOURCE_NETWORK_WEBHOOK,
                    source_event_id="e1",
                    observed_at=earlier,
                    comment_text="nice",
                )
            ]
        ),
        "RewardsService/GetLeaderboard": rewards_pb2.GetLeaderboardRequest(
            board=rewards_pb2.BOARD_TEAM, period=rewards_pb2.PERIOD_MONTH, team="team-a", limit=10
        ),
        "RewardsService/Redeem": rewards_pb2.RedeemRequest(advocate_id="r5-ada", item_id="mug", idempotency_key="k"),
        "RewardsService/UpsertCatalogItem": rewards_pb2.UpsertCatalogItemRequest(
            item=rewards_pb2.CatalogItem(item_id="mug", name="Mug", cost=1, stock=5)
        ),
        "RewardsService/UpsertCampaign": rewards_pb2.UpsertCampaignRequest(
            campaign=rewards_pb2.Campaign(campaign_id="c1", starts_at=earlier, ends_at=later, multiplier=2)
        ),
        "AnalyticsService/GetStats": stats,
        "AnalyticsService/ExportStatsCsv": stats,
        "AnalyticsService/TopContent": analytics_pb2.TopContentRequest(
            metric=analytics_pb2.TOP_METRIC_ENGAGEMENTS, limit=5, start=earlier, end=later
        ),
        "AnalyticsService/GetProgramHealth": health,
        "AnalyticsService/ExportHealthCsv": health,
        "AnalyticsService/GetTrainingStats": analytics_pb2.GetTrainingStatsRequest(team="team-a"),
        "AnalyticsService/ListComments": analytics_pb2.ListCommentsRequest(
            content_id=ids["content"], requester_id="r5-ada", limit=5
        ),
    }


def _paths(message: Message, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every field of the message and of its set sub-messages (the first element of a repeated one)."""
    out = []
    for field in message.DESCRIPTOR.fields:
        out.append((*prefix, field.name))
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        if field.is_repeated:
            if len(getattr(message, field.name)):
                out.extend(_paths(getattr(message, field.name)[0], (*prefix, field.name)))
        elif message.HasField(field.name):
            out.extend(_paths(getattr(message, field.name), (*prefix, field.name)))
    return out


def _parent(message: Message, path: tuple[str, ...]) -> Message:
    for name in path[:-1]:
        child = getattr(message, name)
        message = child[0] if message.DESCRIPTOR.fields_by_name[name].is_repeated else child
    return message


def seeded(seed: Message) -> st.SearchStrategy[Message]:
    """The seed with one or two of its fields (at any depth) replaced by generated values or cleared."""
    strategies = {}
    for path in _paths(seed):
        by_name = field_strategies(_parent(seed, path).DESCRIPTOR)
        if path[-1] in by_name:
            strategies[path] = by_name[path[-1]]
    paths = sorted(strategies)

    @st.composite
    def mutate(draw: st.DrawFn) -> Message:
        message = type(seed)()
        message.CopyFrom(seed)
        chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True))
        for path in sorted(chosen, key=len, reverse=True):  # inner fields first: an outer one may clear them
            parent = _parent(message, path)
            parent.ClearField(path[-1])
            if draw(st.integers(0, 4)):  # 1 in 5: the field left out
                _fill(parent, {path[-1]: draw(strategies[path])})
        return message

    return mutate()


RPCS = all_rpcs()
RUNS: dict[str, Counter[str]] = {}


@pytest.fixture(scope="module")
def known(platform: Platform) -> dict[str, str]:
    """An enrolled advocate, a published item and a share, whose ids the fuzzer then draws."""
    admin = connect(platform)
    try:
        admin.share.EnrollAdvocate(
            share_pb2.EnrollAdvocateRequest(
                advocate=share_pb2.Advocate(
                    profile=AdvocateSnapshot(advocate_id="r5-ada", team="team-a"),
                    networks=[share_pb2.NetworkConnection(network=Network.NETWORK_LINKEDIN, audience_size=10)],
                )
            )
        )
        item = admin.content.CreateContent(
            content_pb2.CreateContentRequest(item=content_pb2.ContentItem(title="R5", url="https://example.com/r5"))
        )
        for step in (admin.content.SubmitForReview, admin.content.Approve, admin.content.Publish):
            item = step(content_pb2.TransitionRequest(content_id=item.content_id, actor_id="r5"))
        share = admin.share.RecordShare(
            share_pb2.RecordShareRequest(
                content_id=item.content_id, advocate_id="r5-ada", network=Network.NETWORK_LINKEDIN
            )
        ).share
        draft = admin.content.CreateContent(
            content_pb2.CreateContentRequest(
                item=content_pb2.ContentItem(title="R5 draft", url="https://example.com/d")
            )
        )
        lessons = _lessons(admin)
    finally:
        admin.close()
    KNOWN_IDS.extend([item.content_id, share.share_id, share.tracked_code, draft.content_id, *lessons.values()])
    return {"content": item.content_id, "share": share.share_id, "draft": draft.content_id, **lessons}


def _lessons(admin) -> dict[str, str]:
    """A published lesson without a quiz, one with a quiz, and a draft."""
    quiz = training_pb2.Quiz(
        questions=[training_pb2.QuizQuestion(text="q", choices=["a", "b"], correct_choice=1)], pass_mark_percent=50
    )
    ids = {}
    for name, lesson in (
        ("lesson", training_pb2.Lesson(title="R5 lesson")),
        ("quiz_lesson", training_pb2.Lesson(title="R5 quiz", quiz=quiz)),
        ("draft_lesson", training_pb2.Lesson(title="R5 draft lesson", quiz=quiz)),
    ):
        created = admin.training.CreateLesson(training_pb2.CreateLessonRequest(lesson=lesson))
        if name != "draft_lesson":
            admin.training.PublishLesson(training_pb2.LessonTransitionRequest(lesson_id=created.lesson_id))
        ids[name] = created.lesson_id
    return ids


@pytest.fixture(scope="module")
def admin_channels(platform: Platform, known: dict[str, str]):
    channels = {name: platform.channel(name, ADMIN, "r5-fuzzer") for name in platform.ports}
    yield channels
    for channel in channels.values():
        channel.close()


@pytest.mark.parametrize("rpc", RPCS, ids=[r.short for r in RPCS])
def test_no_request_makes_a_service_fail(
    rpc: Rpc, admin_channels: dict[str, grpc.Channel], known: dict[str, str], figures
):
    counts = RUNS.setdefault(rpc.short, Counter())
    send = rpc.callable(admin_channels[rpc.service])
    random = message_strategy(rpc.input).map(lambda values: build(rpc.input, values))
    seed = seeds(known).get(rpc.short)
    # Half from a valid seed with a field or two changed, half from scratch.
    requests = st.one_of(seeded(seed), random) if seed is not None else random
    # Up to IN_FLIGHT calls at once: generating the next requests overlaps the service's work on
    # the previous ones (RPCs that write to the database take milliseconds each).
    pending: deque[tuple[grpc.Future, Message]] = deque()
    failures: list[str] = []

    def settle(future: grpc.Future, request: Message) -> None:
        status = future.code()
        counts[status.name] += 1
        if status in FAILURES:
            failures.append(f"{rpc.short} answered {status.name} to {str(request)[:2000]}")

    @settings(
        max_examples=-(-EXAMPLES // BATCH),
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],  # a failure is found after the example returned: nothing to shrink
    )
    @given(batch=st.lists(requests, min_size=BATCH, max_size=BATCH))
    def call(batch: list[Message]) -> None:
        for request in batch:
            if len(pending) >= IN_FLIGHT:
                settle(*pending.popleft())
            pending.append((send.future(request, timeout=30), request))

    started = time.monotonic()
    try:
        call()
    finally:
        while pending:
            settle(*pending.popleft())
    seconds = time.monotonic() - started
    figures(
        f"{sum(counts.values())} cases in {seconds:.1f} s: " + ", ".join(f"{k}={v}" for k, v in counts.most_common())
    )
    assert not failures, f"{len(failures)} failures, the first: {failures[0]}"


def test_every_service_is_alive_and_serving_afterwards(platform: Platform, admin_channels, figures):
    total = sum(sum(c.values()) for c in RUNS.values())
    figures(
        f"R5 fuzzing: {total} generated requests over {len(RUNS)} RPCs ({EXAMPLES} examples asked each; "
        f"fewest {min((sum(c.values()) for c in RUNS.values()), default=0)})"
    )
    time.sleep(1.0)
    assert platform.exited() == {}, f"services exited: {platform.exited()}"
    for name in platform.ports:
        with grpc.insecure_channel(platform.address(name)) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=grpc_service_name(name)), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
