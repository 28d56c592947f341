"""Training lessons: quiz scoring and pass-mark edges, what a lesson may contain, the lesson
lifecycle, and the use cases on fakes (audience, completion once, retries, hidden answers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from advocacy.content.v1.content_pb2 import Audience, CampaignPrerequisitesChanged, ContentItem, LessonCompleted
from advocacy.content.v1.training_pb2 import (
    CampaignPrerequisites,
    Lesson,
    LessonLink,
    LessonStatus,
    ProgressState,
    Quiz,
    QuizQuestion,
)

from services.content.adapters.training import TrainingEvents
from services.content.app.advocate_feed import UnknownViewer, ViewerLeft
from services.content.app.learning import Learning, NotCompletable, NotInAudience
from services.content.app.lessons import LessonAdmin, LessonNotFound, TooManyPublished
from services.content.app.prerequisites import SYSTEM_ACTOR, Prerequisites
from services.content.domain.item import VersionConflict
from services.content.domain.lifecycle import InvalidContent
from services.content.domain.training import (
    MAX_PUBLISHED,
    IllegalLessonTransition,
    InvalidAnswers,
    LessonAction,
    LessonFields,
    LessonState,
    Question,
    QuizFields,
    lesson_transition,
    score_quiz,
    validate_lesson,
)
from tests.unit.content_fakes import FakeLessons, FakePrerequisites, FakeProgress, FakeViewers

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def quiz(questions: int, pass_mark: int) -> QuizFields:
    # Question i's right answer is choice i % 3.
    return QuizFields(tuple(Question(f"q{i}", ("a", "b", "c"), i % 3) for i in range(questions)), pass_mark)


def right_answers(n: int) -> list[int]:
    return [i % 3 for i in range(n)]


def wrong(answer: int) -> int:
    return (answer + 1) % 3


# --- domain: scoring ------------------------------------------------------------------------------


def test_all_right_scores_100_and_passes():
    score = score_quiz(quiz(4, 100), right_answers(4))
    assert (score.right, score.percent, score.passed) == (4, 100, True)


@pytest.mark.parametrize(
    ("right", "questions", "pass_mark", "percent", "passed"),
    [
        (2, 3, 66, 66, True),  # 66.67 % reaches 66
        (2, 3, 67, 66, False),  # but not 67: the exact share decides, not a rounded one
        (3, 4, 75, 75, True),  # exactly at the pass mark passes
        (2, 4, 51, 50, False),
        (0, 5, 1, 0, False),
        (1, 100 // 2, 2, 2, True),
        (49, 50, 100, 98, False),  # 100 % needs every answer
    ],
)
def test_pass_mark_edges(right, questions, pass_mark, percent, passed):
    answers = right_answers(questions)
    answers = answers[:right] + [wrong(a) for a in answers[right:]]
    score = score_quiz(quiz(questions, pass_mark), answers)
    assert (score.right, score.percent, score.passed) == (right, percent, passed)


def test_answers_must_fit_the_quiz():
    with pytest.raises(InvalidAnswers, match="expected 3"):
        score_quiz(quiz(3, 50), [0, 1])
    with pytest.raises(InvalidAnswers, match=r"answers\[1\]: must be a choice index 0..2"):
        score_quiz(quiz(3, 50), [0, 3, 0])
    with pytest.raises(InvalidAnswers, match=r"answers\[0\]"):
        score_quiz(quiz(3, 50), [-1, 0, 0])


# --- domain: validation and lifecycle -------------------------------------------------------------


def fields(**overrides) -> LessonFields:
    base = dict(title="How to write a personal post", body="Use your own words.", links=(), quiz=quiz(2, 50))
    base.update(overrides)
    return LessonFields(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(title=" "), "title"),
        (dict(body="x" * 10_001), "body"),
        (dict(links=(("Guidelines", "ftp://x"),)), r"links\[0\].url"),
        (dict(quiz=QuizFields((), 50)), "quiz.questions"),
        (dict(quiz=quiz(2, 0)), "quiz.pass_mark_percent"),
        (dict(quiz=quiz(2, 101)), "quiz.pass_mark_percent"),
        (dict(quiz=QuizFields((Question("q", ("only",), 0),), 50)), r"quiz.questions\[0\].choices"),
        (dict(quiz=QuizFields((Question("q", ("a", "b"), 2),), 50)), r"quiz.questions\[0\].correct_choice"),
        (dict(quiz=QuizFields((Question("q", ("a", "b"), None),), 50)), r"quiz.questions\[0\].correct_choice"),
        (dict(quiz=QuizFields((Question("q", ("a", ""), 0),), 50)), r"quiz.questions\[0\].choices\[1\]"),
        (dict(audience={"teams": ("",)}), r"audience.teams\[0\]"),
    ],
)
def test_invalid_lessons_name_the_field(overrides, field):
    with pytest.raises(InvalidContent, match=f"^{field}"):
        validate_lesson(fields(**overrides))


def test_a_lesson_without_a_quiz_is_valid():
    validate_lesson(fields(quiz=None, links=(("Guidelines", "https://intranet.example/social"),)))


def test_lesson_lifecycle():
    assert lesson_transition(LessonState.DRAFT, LessonAction.PUBLISH) is LessonState.PUBLISHED
    assert lesson_transition(LessonState.PUBLISHED, LessonAction.EDIT) is LessonState.PUBLISHED
    assert lesson_transition(LessonState.PUBLISHED, LessonAction.ARCHIVE) is LessonState.ARCHIVED
    for state, action in [
        (LessonState.PUBLISHED, LessonAction.PUBLISH),
        (LessonState.ARCHIVED, LessonAction.PUBLISH),
        (LessonState.ARCHIVED, LessonAction.EDIT),
        (LessonState.ARCHIVED, LessonAction.ARCHIVE),
    ]:
        with pytest.raises(IllegalLessonTransition, match=f"cannot {action.value}"):
            lesson_transition(state, action)


# --- use cases on fakes ---------------------------------------------------------------------------


def lesson_message(questions: int = 0, pass_mark: int = 60, teams: tuple[str, ...] = ()) -> Lesson:
    lesson = Lesson(
        title="Our social media guidelines",
        body="Be yourself; disclose that you work here.",
        links=[LessonLink(title="Guidelines", url="https://intranet.example/social")],
        audience=Audience(teams=list(teams)),
    )
    if questions:
        lesson.quiz.CopyFrom(
            Quiz(
                questions=[
                    QuizQuestion(text=f"q{i}", choices=["a", "b", "c"], correct_choice=i % 3) for i in range(questions)
                ],
                pass_mark_percent=pass_mark,
            )
        )
    return lesson


class World:
    def __init__(self) -> None:
        self.lessons = FakeLessons()
        self.progress = FakeProgress()
        self.viewers = FakeViewers()
        self.notified: list[tuple[str, str]] = []
        ids = iter(f"{n:032x}" for n in range(1, 1000))
        self.admin = LessonAdmin(self.lessons, clock=lambda: NOW, next_id=lambda: next(ids))
        self.learning = Learning(
            self.lessons,
            self.progress,
            self.viewers,
            TrainingEvents(lambda name: f"p-{name}"),
            on_completed=lambda a, lesson: self.notified.append((a, lesson)),
            clock=lambda: NOW,
        )

    async def published(self, **kwargs) -> Lesson:
        lesson = await self.admin.create(lesson_message(**kwargs), "comms")
        return await self.admin.transition(lesson.lesson_id, LessonAction.PUBLISH, lesson.version)

    def completed_events(self) -> list[LessonCompleted]:
        return [LessonCompleted.FromString(e.value) for e in self.progress.events]


async def test_create_edit_publish_archive():
    w = World()
    lesson = await w.admin.create(lesson_message(questions=2), "comms")
    assert (lesson.status, lesson.version, lesson.author_id) == (LessonStatus.LESSON_STATUS_DRAFT, 1, "comms")
    edited = await w.admin.edit(lesson.lesson_id, 1, lesson_message(questions=3))
    assert (edited.version, len(edited.quiz.questions), edited.created_at) == (2, 3, lesson.created_at)
    with pytest.raises(VersionConflict):
        await w.admin.edit(lesson.lesson_id, 1, lesson_message())
    published = await w.admin.transition(lesson.lesson_id, LessonAction.PUBLISH, 2)
    assert published.status == LessonStatus.LESSON_STATUS_PUBLISHED and published.HasField("published_at")
    assert await w.lessons.published_ids() == [lesson.lesson_id]
    archived = await w.admin.transition(lesson.lesson_id, LessonAction.ARCHIVE, 0)
    assert archived.status == LessonStatus.LESSON_STATUS_ARCHIVED
    assert await w.lessons.published_ids() == []
    with pytest.raises(LessonNotFound):
        await w.admin.get("nope")


async def test_a_lost_race_is_a_version_conflict():
    w = World()
    lesson = await w.admin.create(lesson_message(), "comms")
    w.lessons.lose_next = True
    with pytest.raises(VersionConflict):
        await w.admin.transition(lesson.lesson_id, LessonAction.PUBLISH, 0)


async def test_publishing_stops_at_the_published_limit():
    w = World()
    w.lessons.index_ids = [f"x{i}" for i in range(MAX_PUBLISHED)]
    lesson = await w.admin.create(lesson_message(), "comms")
    with pytest.raises(TooManyPublished):
        await w.admin.transition(lesson.lesson_id, LessonAction.PUBLISH, 0)


async def test_my_lessons_are_the_published_ones_of_my_audience_without_answers():
    w = World()
    w.viewers.add("ada", team="sales")
    for_sales = await w.published(questions=2, teams=("Sales",))  # audience values compare case-insensitively
    for_all = await w.published()
    await w.published(teams=("hr",))
    draft = await w.admin.create(lesson_message(), "comms")
    w.lessons.index_ids.append(draft.lesson_id)  # an interrupted publish leaves an id: filtered out
    mine = await w.learning.my_lessons("ada")
    assert {m.lesson.lesson_id for m in mine} == {for_sales.lesson_id, for_all.lesson_id}
    assert all(m.progress.state == ProgressState.PROGRESS_STATE_NOT_STARTED for m in mine)
    questions = next(m for m in mine if m.lesson.lesson_id == for_sales.lesson_id).lesson.quiz.questions
    assert len(questions) == 2 and not any(q.HasField("correct_choice") for q in questions)
    # The admin's read still has them.
    assert all(q.HasField("correct_choice") for q in (await w.admin.get(for_sales.lesson_id)).quiz.questions)


async def test_unknown_and_left_advocates_are_refused():
    w = World()
    lesson = await w.published()
    with pytest.raises(UnknownViewer):
        await w.learning.my_lessons("nobody")
    w.viewers.add("gone", enrolled=False)
    with pytest.raises(ViewerLeft):
        await w.learning.complete("gone", lesson.lesson_id)


async def test_complete_a_lesson_without_quiz_once():
    w = World()
    w.viewers.add("ada")
    lesson = await w.published()
    first = await w.learning.complete("ada", lesson.lesson_id)
    again = await w.learning.complete("ada", lesson.lesson_id)
    assert (first.completed, first.newly_completed, first.attempts, first.score_percent) == (True, True, 1, 100)
    assert (again.completed, again.newly_completed, again.attempts) == (True, False, 1)
    assert (again.progress.state, again.progress.attempts) == (ProgressState.PROGRESS_STATE_COMPLETED, 1)
    [event] = w.completed_events()
    assert (event.lesson_id, event.advocate.advocate_id, event.advocate.team) == (lesson.lesson_id, "ada", "sales")
    assert (event.score_percent, event.attempts, event.lesson_title) == (100, 1, lesson.title)
    assert w.progress.events[0].key == "ada" and w.progress.events[0].topic == "p-lesson-completed"
    assert w.notified == [("ada", lesson.lesson_id)]


async def test_fail_then_pass_a_quiz_then_retake_it():
    w = World()
    w.viewers.add("ada")
    lesson = await w.published(questions=4, pass_mark=75)
    answers = right_answers(4)
    failed = await w.learning.submit_quiz("ada", lesson.lesson_id, [wrong(a) for a in answers[:2]] + answers[2:])
    assert (failed.score_percent, failed.passed, failed.completed, failed.attempts) == (50, False, False, 1)
    assert failed.progress.state == ProgressState.PROGRESS_STATE_FAILED and failed.pass_mark_percent == 75
    passed = await w.learning.submit_quiz("ada", lesson.lesson_id, [wrong(answers[0]), *answers[1:]])
    assert (passed.score_percent, passed.passed, passed.newly_completed, passed.attempts) == (75, True, True, 2)
    retake = await w.learning.submit_quiz("ada", lesson.lesson_id, answers)
    assert (retake.score_percent, retake.newly_completed, retake.completed, retake.attempts) == (100, False, True, 3)
    assert retake.progress.best_score_percent == 100 and retake.progress.completed_score_percent == 75
    [event] = w.completed_events()
    assert (event.score_percent, event.attempts) == (75, 2)


async def test_refusals():
    w = World()
    w.viewers.add("ada", team="sales")
    with_quiz = await w.published(questions=2)
    without = await w.published()
    for_hr = await w.published(teams=("hr",))
    with pytest.raises(NotCompletable, match="has a quiz"):
        await w.learning.complete("ada", with_quiz.lesson_id)
    with pytest.raises(NotCompletable, match="has no quiz"):
        await w.learning.submit_quiz("ada", without.lesson_id, [])
    with pytest.raises(NotInAudience):
        await w.learning.complete("ada", for_hr.lesson_id)
    with pytest.raises(LessonNotFound):
        await w.learning.complete("ada", "f" * 32)
    with pytest.raises(InvalidAnswers):
        await w.learning.submit_quiz("ada", with_quiz.lesson_id, [0])
    archived = await w.admin.transition(without.lesson_id, LessonAction.ARCHIVE, 0)
    with pytest.raises(NotCompletable, match="not published"):
        await w.learning.complete("ada", archived.lesson_id)
    assert w.progress.events == [] and w.progress.attempt_counts == {}


async def test_campaign_prerequisites_are_attached_to_items():
    w = World()
    store = FakePrerequisites()
    prerequisites = Prerequisites(store, w.lessons, TrainingEvents(lambda name: f"p-{name}"), clock=lambda: NOW)
    lesson = await w.published()
    other = await w.admin.create(lesson_message(), "comms")
    saved = await prerequisites.set("spring", [lesson.lesson_id, other.lesson_id, lesson.lesson_id], "comms")
    assert list(saved.lesson_ids) == [lesson.lesson_id, other.lesson_id]
    items = [ContentItem(content_id="a", campaign_id="spring"), ContentItem(content_id="b")]
    await prerequisites.attach(items)
    assert list(items[0].required_lesson_ids) == [lesson.lesson_id, other.lesson_id]
    assert list(items[1].required_lesson_ids) == []
    assert list((await prerequisites.get("autumn")).lesson_ids) == []
    with pytest.raises(LessonNotFound):
        await prerequisites.set("spring", ["f" * 32], "comms")
    await w.admin.transition(other.lesson_id, LessonAction.ARCHIVE, 0)
    with pytest.raises(InvalidContent, match=r"lesson_ids\[1\]"):
        await prerequisites.set("spring", [lesson.lesson_id, other.lesson_id], "comms")


def announced(store: FakePrerequisites, campaign_id: str) -> list[tuple[str, str, int, list[str], str]]:
    """(topic, key, version, lessons, updated_by) of every event the campaign's versions carry."""
    out = []
    for _, event in store.versions.get(campaign_id, []):
        changed = CampaignPrerequisitesChanged.FromString(event.value)
        out.append((event.topic, event.key, changed.version, list(changed.lesson_ids), changed.updated_by))
    return out


def with_prerequisites(w: World) -> tuple[FakePrerequisites, Prerequisites, list[str]]:
    store, woken = FakePrerequisites(), []
    prerequisites = Prerequisites(
        store,
        w.lessons,
        TrainingEvents(lambda name: f"p-{name}"),
        clock=lambda: NOW,
        on_changed=lambda: woken.append("!"),
    )
    w.admin.on_archived = prerequisites.drop_lesson
    return store, prerequisites, woken


async def test_every_change_of_a_campaigns_list_is_announced_whole_in_version_order():
    w = World()
    store, prerequisites, woken = with_prerequisites(w)
    a, b = await w.published(), await w.published()
    await prerequisites.set("spring", [a.lesson_id], "comms")
    await prerequisites.set("spring", [a.lesson_id, b.lesson_id], "lead")
    await prerequisites.set("spring", [], "comms")
    assert announced(store, "spring") == [
        ("p-campaign-prerequisites", "spring", 1, [a.lesson_id], "comms"),
        ("p-campaign-prerequisites", "spring", 2, [a.lesson_id, b.lesson_id], "lead"),
        ("p-campaign-prerequisites", "spring", 3, [], "comms"),
    ]
    assert woken == ["!"] * 3  # the relay is woken after each stored change


async def test_a_change_that_loses_a_race_is_written_after_the_winner():
    w = World()
    store, prerequisites, _ = with_prerequisites(w)
    a = await w.published()
    store.lose_next = True  # another admin stores version 1 first
    saved = await prerequisites.set("spring", [a.lesson_id], "comms")
    assert list(saved.lesson_ids) == [a.lesson_id]
    assert [v for _, _, v, _, _ in announced(store, "spring")] == [1, 2]
    assert list((await prerequisites.get("spring")).lesson_ids) == [a.lesson_id]


async def test_archiving_a_lesson_removes_it_from_every_campaign_that_required_it():
    w = World()
    store, prerequisites, _ = with_prerequisites(w)
    a, b = await w.published(), await w.published()
    await prerequisites.set("spring", [a.lesson_id, b.lesson_id], "comms")
    await prerequisites.set("autumn", [a.lesson_id], "comms")
    await prerequisites.set("winter", [b.lesson_id], "comms")
    await w.admin.transition(a.lesson_id, LessonAction.ARCHIVE, 0)
    assert announced(store, "spring")[-1] == ("p-campaign-prerequisites", "spring", 2, [b.lesson_id], SYSTEM_ACTOR)
    assert announced(store, "autumn")[-1] == ("p-campaign-prerequisites", "autumn", 2, [], SYSTEM_ACTOR)
    assert len(announced(store, "winter")) == 1  # did not list it: not written again
    items = [ContentItem(content_id="x", campaign_id="spring")]
    await prerequisites.attach(items)
    assert list(items[0].required_lesson_ids) == [b.lesson_id]


async def test_recovery_announces_unannounced_lists_and_drops_archived_lessons():
    w = World()
    store, prerequisites, _ = with_prerequisites(w)
    a, b = await w.published(), await w.published()
    await prerequisites.set("spring", [a.lesson_id, b.lesson_id], "comms")
    await prerequisites.set("autumn", [b.lesson_id], "comms")
    w.admin.on_archived = None  # a crash between the archive and the campaigns' changes
    await w.admin.transition(a.lesson_id, LessonAction.ARCHIVE, 0)
    await prerequisites.recover()
    assert [(v, ids) for _, _, v, ids, _ in announced(store, "spring")] == [
        (1, [a.lesson_id, b.lesson_id]),
        (2, [b.lesson_id]),
    ]
    assert len(announced(store, "autumn")) == 1
    store.unversioned["summer"] = CampaignPrerequisites(campaign_id="summer", lesson_ids=[b.lesson_id], updated_by="x")
    await prerequisites.recover()
    assert announced(store, "summer") == [("p-campaign-prerequisites", "summer", 1, [b.lesson_id], "x")]
    await prerequisites.recover()  # nothing left to do: nothing written
    assert (len(announced(store, "spring")), len(announced(store, "summer"))) == (2, 1)
