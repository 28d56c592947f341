"""Use cases: an advocate lists their lessons, completes one, answers its quiz.

Answers are checked here, never by the client: advocates' reads carry no correct choices. Every
submission counts as an attempt; the first that passes (or CompleteLesson, for a lesson without a
quiz) records the completion with its `lesson-completed` event in the completion's outbox. The
completion's `_id` is `<advocate>|<lesson>` and it is only ever inserted, so a retried or
concurrent completion finds it there and emits nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from advocacy.content.v1.training_pb2 import (
    Lesson,
    LessonProgress,
    LessonResult,
    LessonStatus,
    MyLesson,
    ProgressState,
)

from services.common.events import to_timestamp, utcnow
from services.content.app.advocate_feed import UnknownViewer, ViewerLeft
from services.content.app.lessons import LessonNotFound, quiz_fields
from services.content.app.ports import (
    Attempts,
    Completion,
    LessonStore,
    ProgressStore,
    TrainingEventFactory,
    Viewers,
)
from services.content.domain.feed import Viewer, in_audience
from services.content.domain.item import audience_values
from services.content.domain.training import Score, score_quiz

# Told the id of each completion written (its outbox holds the event): the relay sends it at once.
CompletionWritten = Callable[[str, str], None]


class NotInAudience(Exception):
    def __init__(self, advocate_id: str, lesson_id: str) -> None:
        super().__init__(f"advocate {advocate_id!r} is not in the audience of lesson {lesson_id!r}")


class NotCompletable(Exception):
    """The lesson cannot be completed this way or now (FAILED_PRECONDITION)."""


def advocate_view(lesson: Lesson) -> Lesson:
    """The lesson as an advocate sees it: the quiz without its correct choices."""
    shown = Lesson()
    shown.CopyFrom(lesson)
    for question in shown.quiz.questions:
        question.ClearField("correct_choice")
    return shown


def progress_of(
    advocate_id: str, lesson_id: str, attempts: Attempts | None, completion: Completion | None
) -> LessonProgress:
    progress = LessonProgress(lesson_id=lesson_id, advocate_id=advocate_id)
    if attempts is None and completion is not None:  # completed without a quiz: its one attempt
        attempts = Attempts(completion.attempts, completion.score, completion.score)
    if attempts is not None:
        progress.attempts = attempts.attempts
        progress.last_score_percent = attempts.last_score
        progress.best_score_percent = attempts.best_score
    if completion is not None:
        progress.state = ProgressState.PROGRESS_STATE_COMPLETED
        progress.completed_at.CopyFrom(to_timestamp(completion.completed_at))
        progress.completed_score_percent = completion.score
        progress.completed_attempts = completion.attempts
    elif attempts is not None and attempts.attempts:
        progress.state = ProgressState.PROGRESS_STATE_FAILED
    else:
        progress.state = ProgressState.PROGRESS_STATE_NOT_STARTED
    return progress


@dataclass
class Learning:
    lessons: LessonStore
    progress: ProgressStore
    viewers: Viewers
    events: TrainingEventFactory
    on_completed: CompletionWritten = lambda advocate_id, lesson_id: None
    clock: Callable[[], datetime] = utcnow

    async def _viewer(self, advocate_id: str) -> Viewer:
        viewer = await self.viewers.viewer(advocate_id)
        if viewer is None:
            raise UnknownViewer(advocate_id)
        if not viewer.enrolled:
            raise ViewerLeft(advocate_id)
        return viewer

    async def _progress(self, advocate_id: str, lesson_id: str) -> LessonProgress:
        attempts, completion = await asyncio.gather(
            self.progress.attempts(advocate_id, lesson_id), self.progress.completion(advocate_id, lesson_id)
        )
        return progress_of(advocate_id, lesson_id, attempts, completion)

    async def my_lessons(self, advocate_id: str) -> list[MyLesson]:
        """Published lessons whose audience includes the advocate, newest published first.
        Raises UnknownViewer or ViewerLeft."""
        viewer = await self._viewer(advocate_id)
        ids = await self.lessons.published_ids()
        found = await asyncio.gather(*(self.lessons.get(i) for i in ids))
        mine = [
            lesson
            for lesson in found
            if lesson is not None
            and lesson.status == LessonStatus.LESSON_STATUS_PUBLISHED
            and in_audience(audience_values(lesson.audience), viewer)
        ]
        mine.sort(key=lambda lesson: (-lesson.published_at.ToNanoseconds(), lesson.lesson_id))
        progress = await asyncio.gather(*(self._progress(advocate_id, lesson.lesson_id) for lesson in mine))
        return [MyLesson(lesson=advocate_view(lesson), progress=p) for lesson, p in zip(mine, progress, strict=True)]

    async def _open_lesson(self, advocate_id: str, lesson_id: str, with_quiz: bool) -> tuple[Lesson, Viewer]:
        lesson = await self.lessons.get(lesson_id)
        if lesson is None:
            raise LessonNotFound(lesson_id)
        viewer = await self._viewer(advocate_id)
        if lesson.status != LessonStatus.LESSON_STATUS_PUBLISHED:
            raise NotCompletable(f"lesson {lesson_id!r} is not published ({LessonStatus.Name(lesson.status)})")
        if not in_audience(audience_values(lesson.audience), viewer):
            raise NotInAudience(advocate_id, lesson_id)
        if with_quiz and not lesson.HasField("quiz"):
            raise NotCompletable(f"lesson {lesson_id!r} has no quiz: complete it with CompleteLesson")
        if not with_quiz and lesson.HasField("quiz"):
            raise NotCompletable(f"lesson {lesson_id!r} has a quiz: complete it by passing it (SubmitQuiz)")
        return lesson, viewer

    async def complete(self, advocate_id: str, lesson_id: str) -> LessonResult:
        """Completes a lesson without a quiz (again: nothing changes). Raises LessonNotFound,
        UnknownViewer, ViewerLeft, NotCompletable, NotInAudience."""
        lesson, viewer = await self._open_lesson(advocate_id, lesson_id, with_quiz=False)
        # Always one attempt of 100 % (the event's contract), however often or concurrently it is
        # called: nothing is counted, the completion's insert alone decides.
        newly = await self._record_completion(lesson, viewer, 100, 1)
        return await self._result(lesson, viewer, Score(1, 1, 100, True), 1, newly)

    async def submit_quiz(self, advocate_id: str, lesson_id: str, answers: Sequence[int]) -> LessonResult:
        """Scores the answers; the first pass completes the lesson. Raises InvalidAnswers and what
        `complete` raises."""
        lesson, viewer = await self._open_lesson(advocate_id, lesson_id, with_quiz=True)
        quiz = quiz_fields(lesson)
        assert quiz is not None, "checked by _open_lesson"
        score = score_quiz(quiz, answers)
        attempts = await self.progress.record_attempt(advocate_id, lesson_id, score.percent, self.clock())
        newly = score.passed and await self._record_completion(lesson, viewer, score.percent, attempts.attempts)
        return await self._result(lesson, viewer, score, attempts.attempts, newly)

    async def _record_completion(self, lesson: Lesson, viewer: Viewer, score: int, attempts: int) -> bool:
        now = self.clock()
        # Milliseconds, as stored (BSON): the event and later reads of the progress show one time.
        completion = Completion(now.replace(microsecond=now.microsecond // 1000 * 1000), score, attempts)
        event = self.events.completed(lesson, viewer, completion)
        if not await self.progress.complete(viewer.advocate_id, lesson.lesson_id, completion, event):
            return False  # completed before (a retry, a concurrent call): its event was emitted then
        self.on_completed(viewer.advocate_id, lesson.lesson_id)
        return True

    async def _result(self, lesson: Lesson, viewer: Viewer, score: Score, attempts: int, newly: bool) -> LessonResult:
        progress = await self._progress(viewer.advocate_id, lesson.lesson_id)
        return LessonResult(
            lesson_id=lesson.lesson_id,
            advocate_id=viewer.advocate_id,
            score_percent=score.percent,
            passed=score.passed,
            pass_mark_percent=lesson.quiz.pass_mark_percent if lesson.HasField("quiz") else 100,
            attempts=attempts,
            completed=progress.state == ProgressState.PROGRESS_STATE_COMPLETED,
            newly_completed=newly,
            progress=progress,
        )
