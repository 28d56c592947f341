"""Training lessons (pure): their lifecycle, what a lesson may contain, quiz scoring, progress.

Scoring: score = floor(100 x right / questions); a submission passes when
right x 100 >= pass_mark x questions, i.e. when the exact percentage reaches the pass mark (the
floored score and the exact test agree, since the pass mark is a whole number). 2 of 3 right is
66 %: it passes a pass mark of 66, not one of 67.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.content.domain.lifecycle import InvalidContent, check_url

MAX_TITLE = 200
MAX_BODY = 10_000
MAX_LINKS = 20
MAX_QUESTIONS = 50
MIN_CHOICES, MAX_CHOICES = 2, 10
MAX_QUESTION = 1_000
MAX_CHOICE = 500
MAX_AUDIENCE_VALUES = 50
MAX_SHORT = 100
# Published lessons at once: ListMyLessons reads every one of them (by id) per call.
MAX_PUBLISHED = 200
MAX_PREREQUISITES = 20


class LessonState(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class LessonAction(StrEnum):
    EDIT = "edit"
    PUBLISH = "publish"
    ARCHIVE = "archive"


_ALLOWED = {
    LessonAction.EDIT: frozenset({LessonState.DRAFT, LessonState.PUBLISHED}),
    LessonAction.PUBLISH: frozenset({LessonState.DRAFT}),
    LessonAction.ARCHIVE: frozenset({LessonState.DRAFT, LessonState.PUBLISHED}),
}
_RESULT = {
    LessonAction.PUBLISH: LessonState.PUBLISHED,
    LessonAction.ARCHIVE: LessonState.ARCHIVED,
}


class IllegalLessonTransition(Exception):
    def __init__(self, action: LessonAction, current: LessonState) -> None:
        allowed = ", ".join(sorted(s.value for s in _ALLOWED[action]))
        super().__init__(f"cannot {action.value} a lesson that is {current.value} (allowed from: {allowed})")


def lesson_transition(current: LessonState, action: LessonAction) -> LessonState:
    """The state after `action` (an edit keeps it); raises IllegalLessonTransition."""
    if current not in _ALLOWED[action]:
        raise IllegalLessonTransition(action, current)
    return _RESULT.get(action, current)


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    correct: int | None  # None: not given (refused when writing)


@dataclass(frozen=True)
class QuizFields:
    questions: tuple[Question, ...]
    pass_mark_percent: int


@dataclass(frozen=True)
class LessonFields:
    title: str
    body: str
    links: tuple[tuple[str, str], ...]  # (title, url)
    audience: dict[str, tuple[str, ...]] = field(default_factory=dict)
    quiz: QuizFields | None = None


def _check_text(name: str, value: str, maximum: int, required: bool = True) -> None:
    if required and not value.strip():
        raise InvalidContent(name, "must not be empty")
    if len(value) > maximum:
        raise InvalidContent(name, f"at most {maximum} characters")


def validate_quiz(quiz: QuizFields) -> None:
    if not 1 <= len(quiz.questions) <= MAX_QUESTIONS:
        raise InvalidContent("quiz.questions", f"must be 1..{MAX_QUESTIONS} questions")
    if not 1 <= quiz.pass_mark_percent <= 100:
        raise InvalidContent("quiz.pass_mark_percent", "must be 1..100")
    for i, q in enumerate(quiz.questions):
        name = f"quiz.questions[{i}]"
        _check_text(f"{name}.text", q.text, MAX_QUESTION)
        if not MIN_CHOICES <= len(q.choices) <= MAX_CHOICES:
            raise InvalidContent(f"{name}.choices", f"must be {MIN_CHOICES}..{MAX_CHOICES} choices")
        for j, choice in enumerate(q.choices):
            _check_text(f"{name}.choices[{j}]", choice, MAX_CHOICE)
        if q.correct is None or not 0 <= q.correct < len(q.choices):
            raise InvalidContent(f"{name}.correct_choice", f"required, an index 0..{len(q.choices) - 1}")


def validate_lesson(fields: LessonFields) -> None:
    """Raises InvalidContent naming the first bad field (without the request's `lesson.` prefix)."""
    _check_text("title", fields.title, MAX_TITLE)
    _check_text("body", fields.body, MAX_BODY, required=False)
    if len(fields.links) > MAX_LINKS:
        raise InvalidContent("links", f"at most {MAX_LINKS} links")
    for i, (title, url) in enumerate(fields.links):
        _check_text(f"links[{i}].title", title, MAX_TITLE, required=False)
        check_url(f"links[{i}].url", url)
    for dimension, values in fields.audience.items():
        if len(values) > MAX_AUDIENCE_VALUES:
            raise InvalidContent(f"audience.{dimension}", f"at most {MAX_AUDIENCE_VALUES} values")
        for i, value in enumerate(values):
            if not value.strip() or len(value) > MAX_SHORT:
                raise InvalidContent(f"audience.{dimension}[{i}]", f"must be 1..{MAX_SHORT} characters")
    if fields.quiz is not None:
        validate_quiz(fields.quiz)


class InvalidAnswers(ValueError):
    """The answers do not fit the quiz (the field named in the message)."""


@dataclass(frozen=True)
class Score:
    right: int
    questions: int
    percent: int
    passed: bool


def score_quiz(quiz: QuizFields, answers: Sequence[int]) -> Score:
    """Scores one submission: one answer per question, each a choice index; raises InvalidAnswers."""
    n = len(quiz.questions)
    if len(answers) != n:
        raise InvalidAnswers(f"answers: expected {n} (one per question), got {len(answers)}")
    for i, (answer, q) in enumerate(zip(answers, quiz.questions, strict=True)):
        if not 0 <= answer < len(q.choices):
            raise InvalidAnswers(f"answers[{i}]: must be a choice index 0..{len(q.choices) - 1}")
    right = sum(1 for answer, q in zip(answers, quiz.questions, strict=True) if answer == q.correct)
    return Score(right, n, right * 100 // n, right * 100 >= quiz.pass_mark_percent * n)


def check_prerequisites(lesson_ids: Sequence[str]) -> list[str]:
    """The distinct ids in their order; raises InvalidContent for too many or an empty one."""
    if len(lesson_ids) > MAX_PREREQUISITES:
        raise InvalidContent("lesson_ids", f"at most {MAX_PREREQUISITES} lessons")
    out: list[str] = []
    for i, lesson_id in enumerate(lesson_ids):
        if not lesson_id or len(lesson_id) > 128:
            raise InvalidContent(f"lesson_ids[{i}]", "must be 1..128 characters")
        if lesson_id not in out:
            out.append(lesson_id)
    return out
