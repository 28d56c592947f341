"""Use cases: an admin writes, publishes, archives, reads and lists training lessons.

Every change is recorded with a compare-and-set on the version (as content items are). Publishing
adds the lesson to the published-lessons index before the lesson changes state, archiving removes
it after: the index is always a superset of the published lessons, and readers keep only those
that are published (an interrupted publish or archive leaves an id that is filtered out).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from advocacy.content.v1.training_pb2 import Lesson, LessonStatus

from services.common.events import to_timestamp, utcnow
from services.content.app.authoring import new_id
from services.content.app.ports import LessonStore
from services.content.domain.item import InvalidExpectedVersion, VersionConflict, audience_values
from services.content.domain.training import (
    MAX_PUBLISHED,
    LessonAction,
    LessonFields,
    LessonState,
    Question,
    QuizFields,
    lesson_transition,
    validate_lesson,
)

CONCURRENT_CHANGE = "version conflict: the lesson changed concurrently; read it again and retry"
_SERVICE_FIELDS = ("lesson_id", "status", "version", "created_at", "updated_at", "published_at")


class LessonNotFound(LookupError):
    def __init__(self, lesson_id: str) -> None:
        super().__init__(f"lesson {lesson_id!r} not found")


class TooManyPublished(Exception):
    def __init__(self) -> None:
        super().__init__(f"{MAX_PUBLISHED} lessons are published already: archive one before publishing another")


def state_of(lesson: Lesson) -> LessonState:
    return LessonState(LessonStatus.Name(lesson.status).removeprefix("LESSON_STATUS_"))


def proto_state(state: LessonState) -> int:
    return int(LessonStatus.Value(f"LESSON_STATUS_{state.value}"))


def quiz_fields(lesson: Lesson) -> QuizFields | None:
    if not lesson.HasField("quiz"):
        return None
    questions = tuple(
        Question(q.text, tuple(q.choices), q.correct_choice if q.HasField("correct_choice") else None)
        for q in lesson.quiz.questions
    )
    return QuizFields(questions, lesson.quiz.pass_mark_percent)


def lesson_fields(lesson: Lesson) -> LessonFields:
    return LessonFields(
        title=lesson.title,
        body=lesson.body,
        links=tuple((link.title, link.url) for link in lesson.links),
        audience=audience_values(lesson.audience),
        quiz=quiz_fields(lesson),
    )


def editable_copy(source: Lesson) -> Lesson:
    lesson = Lesson()
    lesson.CopyFrom(source)
    for name in _SERVICE_FIELDS:
        lesson.ClearField(name)
    return lesson


def check_version(expected: int, lesson: Lesson) -> None:
    if expected < 0:
        raise InvalidExpectedVersion()
    if expected and expected != lesson.version:
        raise VersionConflict(f"version conflict: expected {expected}, current is {lesson.version}")


@dataclass
class LessonAdmin:
    """CreateLesson, EditLesson, PublishLesson, ArchiveLesson, GetLesson, ListLessons."""

    lessons: LessonStore
    clock: Callable[[], datetime] = utcnow
    next_id: Callable[[], str] = new_id
    # Told of a lesson just archived (campaigns stop requiring it).
    on_archived: Callable[[str], Awaitable[None]] | None = None

    async def get(self, lesson_id: str) -> Lesson:
        lesson = await self.lessons.get(lesson_id)
        if lesson is None:
            raise LessonNotFound(lesson_id)
        return lesson

    async def create(self, source: Lesson, author_id: str) -> Lesson:
        """Raises InvalidContent (the field without `lesson.`)."""
        lesson = editable_copy(source)
        validate_lesson(lesson_fields(lesson))
        now = to_timestamp(self.clock())
        lesson.lesson_id = self.next_id()
        lesson.status = LessonStatus.LESSON_STATUS_DRAFT
        lesson.version = 1
        lesson.author_id = author_id or source.author_id
        lesson.created_at.CopyFrom(now)
        lesson.updated_at.CopyFrom(now)
        await self.lessons.insert(lesson)
        return lesson

    async def edit(self, lesson_id: str, expected_version: int, source: Lesson) -> Lesson:
        current = await self.get(lesson_id)
        check_version(expected_version, current)
        lesson_transition(state_of(current), LessonAction.EDIT)
        lesson = editable_copy(source)
        validate_lesson(lesson_fields(lesson))
        lesson.lesson_id = current.lesson_id
        lesson.status = current.status
        lesson.created_at.CopyFrom(current.created_at)
        if current.HasField("published_at"):
            lesson.published_at.CopyFrom(current.published_at)
        lesson.author_id = current.author_id or source.author_id
        return await self._record(current, lesson)

    async def _record(self, current: Lesson, lesson: Lesson) -> Lesson:
        lesson.version = current.version + 1
        lesson.updated_at.CopyFrom(to_timestamp(self.clock()))
        if not await self.lessons.replace(lesson, current.version):
            raise VersionConflict(CONCURRENT_CHANGE)
        return lesson

    async def transition(self, lesson_id: str, action: LessonAction, expected_version: int) -> Lesson:
        """Raises LessonNotFound, InvalidExpectedVersion, VersionConflict, IllegalLessonTransition,
        TooManyPublished."""
        current = await self.get(lesson_id)
        check_version(expected_version, current)
        state = lesson_transition(state_of(current), action)
        if action is LessonAction.PUBLISH and not await self.lessons.index(lesson_id, True, MAX_PUBLISHED):
            raise TooManyPublished()
        lesson = Lesson()
        lesson.CopyFrom(current)
        lesson.status = proto_state(state)  # type: ignore[assignment]
        if action is LessonAction.PUBLISH:
            lesson.published_at.CopyFrom(to_timestamp(self.clock()))
        lesson = await self._record(current, lesson)
        if action is LessonAction.ARCHIVE:
            await self.lessons.index(lesson_id, False, MAX_PUBLISHED)
            if self.on_archived is not None:
                await self.on_archived(lesson_id)
        return lesson

    async def list(self, status: int, size: int, after_id: str | None) -> tuple[list[Lesson], str | None]:
        """A page by lesson id, descending, and the id to continue after (None on the last page)."""
        lessons = await self.lessons.list_lessons(status, after_id, size + 1)
        return lessons[:size], (lessons[size - 1].lesson_id if len(lessons) > size else None)
