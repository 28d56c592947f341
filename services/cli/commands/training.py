"""Training: admins write and publish lessons (with an optional quiz); advocates list theirs,
complete them and answer quizzes; campaigns may require lessons before their items are shared."""

from __future__ import annotations

from collections.abc import Iterable

import typer
from advocacy.content.v1 import content_pb2, training_pb2
from rich.table import Table

from services.cli.commands.content import TEAM
from services.cli.context import ADVOCATE, State, UsageError, handled, list_command, state
from services.cli.output import emit_json, enum_name, out, table, when

training_app = typer.Typer(no_args_is_help=True, help="Lessons and quizzes: admins publish, advocates complete.")

LINK = typer.Option([], "--link", help="A link: TITLE=URL or URL (repeatable).")
QUESTION = typer.Option(
    [],
    "--question",
    help="A quiz question: 'TEXT|CHOICE|*RIGHT CHOICE|CHOICE' (the right choice marked with *; repeatable).",
)
PASS_MARK = typer.Option(80, "--pass-mark", min=1, max=100, help="Percent of right answers to pass the quiz.")
BODY = typer.Option("", "--body", help="The lesson's text.")
ACTOR = typer.Option("admin", "--actor", help="Who acts.")


def _status(lesson: training_pb2.Lesson) -> str:
    return enum_name(training_pb2.LessonStatus, lesson.status, "LESSON_STATUS_")


def lesson_rows(lessons: Iterable[training_pb2.Lesson]) -> Table:
    return table(
        "lessons",
        ["id", "status", "version", "title", "quiz", "teams", "published at"],
        (
            [
                lesson.lesson_id,
                _status(lesson),
                lesson.version,
                lesson.title,
                f"{len(lesson.quiz.questions)} q, pass {lesson.quiz.pass_mark_percent}%"
                if lesson.HasField("quiz")
                else "",
                ", ".join(lesson.audience.teams) or "everyone",
                when(lesson.published_at),
            ]
            for lesson in lessons
        ),
    )


def show_lesson(s: State, lesson: training_pb2.Lesson) -> None:
    if s.json:
        emit_json(lesson)
    else:
        out.print(lesson_rows([lesson]))


def parse_question(text: str) -> training_pb2.QuizQuestion:
    question, *choices = text.split("|")
    right = [i for i, c in enumerate(choices) if c.startswith("*")]
    if not question.strip() or len(choices) < 2 or len(right) != 1:
        raise UsageError(f"--question {text!r}: expected 'TEXT|CHOICE|*RIGHT CHOICE' with exactly one '*'")
    return training_pb2.QuizQuestion(
        text=question.strip(), choices=[c.removeprefix("*").strip() for c in choices], correct_choice=right[0]
    )


def build_lesson(
    title: str, body: str, links: list[str], teams: list[str], questions: list[str], pass_mark: int
) -> training_pb2.Lesson:
    lesson = training_pb2.Lesson(title=title, body=body, audience=content_pb2.Audience(teams=teams))
    for link in links:
        name, sep, url = link.partition("=") if "=" in link.split("://")[0] else ("", "", link)
        lesson.links.append(training_pb2.LessonLink(title=name if sep else "", url=url))
    if questions:
        lesson.quiz.CopyFrom(
            training_pb2.Quiz(questions=[parse_question(q) for q in questions], pass_mark_percent=pass_mark)
        )
    return lesson


@training_app.command("create")
@handled
def training_create(
    ctx: typer.Context,
    title: str = typer.Option(..., "--title"),
    body: str = BODY,
    link: list[str] = LINK,
    team: list[str] = TEAM,
    question: list[str] = QUESTION,
    pass_mark: int = PASS_MARK,
    publish: bool = typer.Option(False, "--publish", help="Publish it at once."),
    actor: str = ACTOR,
) -> None:
    """Write a lesson (a draft, or published at once with --publish)."""
    s = state(ctx)
    lesson = build_lesson(title, body, link, team, question, pass_mark)
    lesson.author_id = actor
    created = s.clients.training.CreateLesson(training_pb2.CreateLessonRequest(lesson=lesson))
    if publish:
        created = s.clients.training.PublishLesson(
            training_pb2.LessonTransitionRequest(lesson_id=created.lesson_id, actor_id=actor)
        )
    show_lesson(s, created)


@training_app.command("edit")
@handled
def training_edit(
    ctx: typer.Context,
    lesson_id: str,
    title: str = typer.Option(..., "--title"),
    body: str = BODY,
    link: list[str] = LINK,
    team: list[str] = TEAM,
    question: list[str] = QUESTION,
    pass_mark: int = PASS_MARK,
) -> None:
    """Replace a draft or published lesson's text, links, audience and quiz (completions stand)."""
    s = state(ctx)
    current = s.clients.training.GetLesson(training_pb2.GetLessonRequest(lesson_id=lesson_id))
    request = training_pb2.EditLessonRequest(
        lesson_id=lesson_id,
        expected_version=current.version,
        lesson=build_lesson(title, body, link, team, question, pass_mark),
    )
    show_lesson(s, s.clients.training.EditLesson(request))


@training_app.command("publish")
@handled
def training_publish(ctx: typer.Context, lesson_id: str, actor: str = ACTOR) -> None:
    """Publish a draft lesson to its audience."""
    s = state(ctx)
    request = training_pb2.LessonTransitionRequest(lesson_id=lesson_id, actor_id=actor)
    show_lesson(s, s.clients.training.PublishLesson(request))


@training_app.command("archive")
@handled
def training_archive(ctx: typer.Context, lesson_id: str, actor: str = ACTOR) -> None:
    """Withdraw a lesson (completions stand)."""
    s = state(ctx)
    request = training_pb2.LessonTransitionRequest(lesson_id=lesson_id, actor_id=actor)
    show_lesson(s, s.clients.training.ArchiveLesson(request))


@training_app.command("show")
@handled
def training_show(ctx: typer.Context, lesson_id: str) -> None:
    """One lesson, with its quiz's right answers (admin)."""
    s = state(ctx)
    lesson = s.clients.training.GetLesson(training_pb2.GetLessonRequest(lesson_id=lesson_id))
    if s.json:
        emit_json(lesson)
        return
    out.print(lesson_rows([lesson]))
    for i, q in enumerate(lesson.quiz.questions):
        marked = [f"*{c}" if j == q.correct_choice else c for j, c in enumerate(q.choices)]
        out.print(f"{i + 1}. {q.text}  " + " | ".join(marked), highlight=False)


list_command(
    training_app,
    "Every lesson, newest first (admin).",
    lambda clients, size, t: clients.training.ListLessons(
        training_pb2.ListLessonsRequest(page_size=size, page_token=t)
    ),
    "lessons",
    lesson_rows,
)


def my_rows(lessons: Iterable[training_pb2.MyLesson]) -> Table:
    return table(
        "my lessons",
        ["id", "title", "quiz", "progress", "attempts", "best score", "completed at"],
        (
            [
                m.lesson.lesson_id,
                m.lesson.title,
                f"{len(m.lesson.quiz.questions)} q, pass {m.lesson.quiz.pass_mark_percent}%"
                if m.lesson.HasField("quiz")
                else "",
                enum_name(training_pb2.ProgressState, m.progress.state, "PROGRESS_STATE_"),
                m.progress.attempts,
                f"{m.progress.best_score_percent}%" if m.progress.attempts else "",
                when(m.progress.completed_at),
            ]
            for m in lessons
        ),
    )


@training_app.command("my")
@handled
def training_my(ctx: typer.Context, advocate: str = ADVOCATE) -> None:
    """An advocate's lessons and their progress (quiz questions shown, never their answers)."""
    s = state(ctx)
    reply = s.clients.training.ListMyLessons(training_pb2.ListMyLessonsRequest(advocate_id=advocate))
    if s.json:
        emit_json(list(reply.lessons))
        return
    out.print(my_rows(reply.lessons))
    for m in reply.lessons:
        for i, q in enumerate(m.lesson.quiz.questions):
            choices = "  ".join(f"[{j}] {c}" for j, c in enumerate(q.choices))
            out.print(f"{m.lesson.lesson_id} q{i}: {q.text}  {choices}", highlight=False)


def show_result(s: State, result: training_pb2.LessonResult) -> None:
    if s.json:
        emit_json(result)
        return
    verdict = "passed" if result.passed else f"not passed (pass mark {result.pass_mark_percent}%)"
    done = "completed now" if result.newly_completed else ("completed before" if result.completed else "not completed")
    out.print(
        f"{result.lesson_id}: {result.score_percent}% {verdict}; attempt {result.attempts}; {done}", highlight=False
    )


@training_app.command("complete")
@handled
def training_complete(ctx: typer.Context, lesson_id: str, advocate: str = ADVOCATE) -> None:
    """Complete a lesson without a quiz."""
    s = state(ctx)
    request = training_pb2.CompleteLessonRequest(lesson_id=lesson_id, advocate_id=advocate)
    show_result(s, s.clients.training.CompleteLesson(request))


@training_app.command("quiz")
@handled
def training_quiz(
    ctx: typer.Context,
    lesson_id: str,
    answers: list[int] = typer.Argument(..., help="The chosen choice index per question, in order."),
    advocate: str = ADVOCATE,
) -> None:
    """Answer a lesson's quiz (checked by the service; retries allowed)."""
    s = state(ctx)
    request = training_pb2.SubmitQuizRequest(lesson_id=lesson_id, advocate_id=advocate, answers=answers)
    show_result(s, s.clients.training.SubmitQuiz(request))


@training_app.command("require")
@handled
def training_require(
    ctx: typer.Context,
    campaign_id: str,
    lesson_ids: list[str] = typer.Argument(None, help="Lesson ids (none: the campaign requires nothing)."),
) -> None:
    """Set the lessons a campaign's items require before they may be shared."""
    s = state(ctx)
    request = training_pb2.SetCampaignPrerequisitesRequest(campaign_id=campaign_id, lesson_ids=lesson_ids or [])
    show_prerequisites(s, s.clients.training.SetCampaignPrerequisites(request))


@training_app.command("required")
@handled
def training_required(ctx: typer.Context, campaign_id: str) -> None:
    """The lessons a campaign's items require."""
    s = state(ctx)
    request = training_pb2.GetCampaignPrerequisitesRequest(campaign_id=campaign_id)
    show_prerequisites(s, s.clients.training.GetCampaignPrerequisites(request))


def show_prerequisites(s: State, prerequisites: training_pb2.CampaignPrerequisites) -> None:
    if s.json:
        emit_json(prerequisites)
    else:
        required = ", ".join(prerequisites.lesson_ids) or "no lessons"
        out.print(f"campaign {prerequisites.campaign_id} requires {required}", highlight=False)
