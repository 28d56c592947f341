"""Campaign prerequisites when sharing (issue 23): the share service's views of
`campaign-prerequisites` and `lesson-completed`, and RecordShare refusing a share of an item whose
campaign requires lessons the advocate has not completed."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Sequence

import pytest
from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.content.v1.content_pb2 import CampaignPrerequisitesChanged, LessonCompleted
from grpc_interceptor.exceptions import FailedPrecondition, Unavailable

from services.share.adapters.training_views import CompletionsView, PrerequisitesView
from services.share.app.ports import ContentUnavailable
from services.share.app.shares import LessonCheck, RecordShare
from tests.unit.test_share_app import NOW, Advocates, Content, Notified, Shares, advocate, item, request


class Source:
    """GetCampaignPrerequisites as the content service answers it (or cannot)."""

    def __init__(self, **required: Sequence[str]) -> None:
        self.required = required
        self.down = False
        self.asked: list[str] = []

    async def prerequisites(self, campaign_id: str) -> Sequence[str]:
        self.asked.append(campaign_id)
        if self.down:
            raise ContentUnavailable("content service: UNAVAILABLE")
        return tuple(self.required.get(campaign_id, ()))


def views(wait_seconds: float = 0.3) -> tuple[PrerequisitesView, CompletionsView, Source]:
    source = Source()
    prerequisites = PrerequisitesView("unused:9092", "campaign-prerequisites", source)
    completions = CompletionsView("unused:9092", "lesson-completed", wait_seconds=wait_seconds)
    for view in (prerequisites, completions):
        view.follower.current_at = time.time()  # confirmed at the end of the topic just now
    return prerequisites, completions, source


def prerequisites_record(campaign_id: str, version: int, *lesson_ids: str) -> bytes:
    return CampaignPrerequisitesChanged(
        event_id=f"e{version}", campaign_id=campaign_id, lesson_ids=lesson_ids, version=version
    ).SerializeToString()


def completion_record(advocate_id: str, lesson_id: str) -> bytes:
    return LessonCompleted(
        event_id=f"{advocate_id}|{lesson_id}", lesson_id=lesson_id, advocate=AdvocateSnapshot(advocate_id=advocate_id)
    ).SerializeToString()


def recording(prerequisites: PrerequisitesView, completions: CompletionsView) -> tuple[RecordShare, Shares]:
    shares = Shares()
    use_case = RecordShare(
        Advocates(advocate()),
        Content(item()),  # campaign "q4"
        shares,
        lambda name: f"p-{name}",
        "https://go.example",
        "salt",
        Notified(),
        clock=lambda: NOW,
        lessons=LessonCheck(prerequisites, completions),
    )
    return use_case, shares


async def test_the_views_keep_the_latest_list_and_every_completion():
    prerequisites, completions, _ = views()
    prerequisites.follower._apply(prerequisites_record("q4", 2, "guidelines", "tone"))
    prerequisites.follower._apply(prerequisites_record("q4", 1, "old"))  # an older version resent: ignored
    prerequisites.follower._apply(b"\xff\xffnot protobuf")  # ignored, not raised
    assert list(await prerequisites.required("q4")) == ["guidelines", "tone"]
    assert list(await prerequisites.required("other")) == []
    prerequisites.follower._apply(prerequisites_record("q4", 3))  # cleared: requires nothing
    assert list(await prerequisites.required("q4")) == []
    completions.follower._apply(completion_record("aino", "tone"))
    completions.follower._apply(completion_record("aino", "tone"))  # a resent event changes nothing
    completions.follower._apply(completion_record("ben", "guidelines"))
    completions.follower._apply(b"\x00garbage")
    assert completions.missing("aino", ["guidelines", "tone", "never-seen"]) == ["guidelines", "never-seen"]
    assert completions.missing("ben", ["guidelines", "tone"]) == ["tone"]
    assert completions.missing("nobody", ["tone"]) == ["tone"]


async def test_a_view_that_is_not_current_asks_the_content_service_for_the_list():
    prerequisites, _, source = views()
    prerequisites.follower._apply(prerequisites_record("q4", 1, "held"))
    prerequisites.follower.current_at = float("-inf")  # starting, or Kafka down
    source.required["q4"] = ("asked",)
    assert list(await prerequisites.required("q4")) == ["asked"]
    assert source.asked == ["q4"]
    prerequisites.follower.current_at = time.time()
    assert list(await prerequisites.required("q4")) == ["held"]
    assert source.asked == ["q4"]  # current again: a dict lookup, no call


async def test_a_share_is_refused_naming_the_missing_lessons_until_they_are_completed():
    prerequisites, completions, _ = views(wait_seconds=0.05)
    prerequisites.apply("q4", 1, ("guidelines", "tone"))
    completions.apply("aino", "tone")
    use_case, shares = recording(prerequisites, completions)
    with pytest.raises(FailedPrecondition, match=r"requires lessons not completed yet: guidelines \(") as refused:
        await use_case(request(key="k1"))
    assert "a lesson completed a moment ago counts within seconds" in str(refused.value.details)
    assert shares.stored == {}  # nothing written, nothing emitted
    completions.apply("aino", "guidelines")
    share, created = await use_case(request(key="k1"))
    assert created and share.campaign_id == "q4" and len(shares.stored) == 1


async def test_a_campaign_without_prerequisites_and_an_item_without_campaign_are_unaffected():
    prerequisites, completions, source = views()
    prerequisites.apply("other", 1, ("guidelines",))
    use_case, _ = recording(prerequisites, completions)
    assert (await use_case(request(key="k1")))[1]
    use_case._content = Content(item(campaign_id=""))
    assert (await use_case(request(key="k2")))[1]
    assert source.asked == []


async def test_a_completion_that_arrives_while_a_refusal_waits_lets_the_share_through():
    prerequisites, completions, _ = views(wait_seconds=2.0)
    prerequisites.apply("q4", 1, ("guidelines",))
    completions.follower.current_at = time.time() - 0.5  # last confirmed before the share was asked
    use_case, _ = recording(prerequisites, completions)

    async def the_view_reads_the_completion() -> None:
        await asyncio.sleep(0.1)
        completions.apply("aino", "guidelines")
        completions.follower.current_at = time.time()

    started = time.monotonic()
    _, (share, created) = await asyncio.gather(the_view_reads_the_completion(), use_case(request(key="k1")))
    assert created and share.share_id
    assert time.monotonic() - started < 1.0  # waited for the view, not for the whole wait


async def test_completions_that_cannot_be_checked_are_unavailable_not_refused():
    prerequisites, completions, source = views(wait_seconds=0.05)
    prerequisites.apply("q4", 1, ("guidelines",))
    completions.follower.current_at = float("-inf")  # a replica still reading the topic
    use_case, _ = recording(prerequisites, completions)
    with pytest.raises(Unavailable, match="completed lessons cannot be checked now"):
        await use_case(request(key="k1"))
    completions.apply("aino", "guidelines")  # the view holds it: no need to be current to accept
    prerequisites.follower.current_at = float("-inf")
    source.required["q4"] = ("guidelines",)
    assert (await use_case(request(key="k1")))[1]
    source.down = True  # the list itself cannot be read: UNAVAILABLE, never a silent yes
    with pytest.raises(Unavailable, match="required lessons cannot be read now"):
        await use_case(request(key="k2"))


async def test_a_retry_of_a_share_recorded_before_the_campaign_required_lessons_gets_that_share():
    prerequisites, completions, _ = views(wait_seconds=0.05)
    use_case, _ = recording(prerequisites, completions)
    first, created = await use_case(request(key="k1"))
    assert created
    prerequisites.apply("q4", 1, ("guidelines",))
    again, created = await use_case(request(key="k1"))
    assert (again.share_id, created) == (first.share_id, False)
    with pytest.raises(FailedPrecondition, match="guidelines"):
        await use_case(request(key="k2"))


def test_completions_of_100k_advocates_stay_small():
    completions = CompletionsView("unused:9092", "lesson-completed")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(100_000):
        for lesson in ("lesson-guidelines-2026", "lesson-personal-wording", "lesson-networks")[: 1 + n % 3]:
            # A fresh id string per event, as decoding a record gives.
            completions.apply(f"employee-{n:08d}"[:], lesson)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert completions.missing("employee-00000002", ["lesson-networks"]) == []
    assert completions.missing("employee-00000000", ["lesson-networks"]) == ["lesson-networks"]
    # About 100 bytes per advocate (dict entry, id string, one small int): well under 20 MB.
    assert used < 20 * 1024 * 1024, used
