"""Training on the real servers: lessons written and published through TrainingService (served by
the content process), advocates known from `advocate-changed` (produced here as the share service
would), completions retried and made concurrently, a quiz failed then passed, and the
`lesson-completed` events read back from Kafka: exactly one per (advocate, lesson), right fields."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from advocacy.content.v1 import content_pb2, training_pb2, training_pb2_grpc
from advocacy.content.v1.content_pb2 import LessonCompleted
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.auth import ADMIN
from services.platform.supervisor import Platform
from tests.conftest import make_isolated
from tests.integration.content_harness import advocate_changed, eventually, produce, published, serving

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
async def service(stack):
    isolated = make_isolated(stack)
    async with serving(isolated) as (process, content):
        channel = process.aio_channel("content")
        try:
            yield isolated, content, training_pb2_grpc.TrainingServiceStub(channel)
        finally:
            await channel.close()


def new_lesson(title: str, questions: int = 0, pass_mark: int = 100, teams: tuple[str, ...] = ()):
    lesson = training_pb2.Lesson(
        title=title,
        body="Write it in your own words.",
        links=[training_pb2.LessonLink(title="Guidelines", url="https://intranet.example/social")],
        audience=content_pb2.Audience(teams=list(teams)),
    )
    if questions:
        lesson.quiz.CopyFrom(
            training_pb2.Quiz(
                questions=[
                    training_pb2.QuizQuestion(text=f"Q{i}?", choices=["a", "b", "c"], correct_choice=i % 3)
                    for i in range(questions)
                ],
                pass_mark_percent=pass_mark,
            )
        )
    return lesson


async def publish(training, lesson) -> training_pb2.Lesson:
    created = await training.CreateLesson(training_pb2.CreateLessonRequest(lesson=lesson))
    return await training.PublishLesson(
        training_pb2.LessonTransitionRequest(lesson_id=created.lesson_id, expected_version=created.version)
    )


async def read_completions(
    bootstrap: str, topic: str, expected: int, within: float
) -> list[tuple[str, LessonCompleted]]:
    """(key, event) of every record until `expected` arrived, then two seconds more so a late
    duplicate would be seen too."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[tuple[str, LessonCompleted]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline, settle = loop.time() + within, None
        while loop.time() < (settle or deadline):
            for got in (await consumer.getmany(timeout_ms=300)).values():
                records.extend((r.key.decode(), LessonCompleted.FromString(r.value)) for r in got)
            if settle is None and len(records) >= expected:
                settle = loop.time() + 2.0
    finally:
        await consumer.stop()
    return records


async def code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_lessons_completions_and_their_events(service):
    isolated, _, training = service
    bootstrap = isolated.stack.kafka_bootstrap
    await produce(
        bootstrap,
        f"{isolated.prefix}advocate-changed",
        [
            ("ada", advocate_changed("ada", team="sales", location="Zurich", language="en", role="rep")),
            ("bob", advocate_changed("bob", team="hr", location="Oslo", language="no", role="hr")),
            ("gone", advocate_changed("gone", enrolled=False, team="sales")),
        ],
    )
    guidelines = await publish(training, new_lesson("Social media guidelines"))
    quiz = await publish(training, new_lesson("How LinkedIn works", questions=3, pass_mark=100, teams=("sales",)))
    right = [i % 3 for i in range(3)]

    async def ada_known():
        code = await code_of(training.ListMyLessons(training_pb2.ListMyLessonsRequest(advocate_id="bob")))
        return code == grpc.StatusCode.OK and await training.ListMyLessons(
            training_pb2.ListMyLessonsRequest(advocate_id="ada")
        )

    mine = await eventually(ada_known, within=60)
    assert mine, "the advocates never reached the content service's view"
    assert [m.lesson.lesson_id for m in mine.lessons] == [quiz.lesson_id, guidelines.lesson_id]  # newest first
    assert not any(q.HasField("correct_choice") for m in mine.lessons for q in m.lesson.quiz.questions)
    assert all(m.progress.state == training_pb2.PROGRESS_STATE_NOT_STARTED for m in mine.lessons)
    bobs = await training.ListMyLessons(training_pb2.ListMyLessonsRequest(advocate_id="bob"))
    assert [m.lesson.lesson_id for m in bobs.lessons] == [guidelines.lesson_id]

    # A lesson without a quiz: three concurrent calls and a retry complete it once.
    complete = training_pb2.CompleteLessonRequest(lesson_id=guidelines.lesson_id, advocate_id="ada")
    results = await asyncio.gather(*(training.CompleteLesson(complete) for _ in range(3)))
    results.append(await training.CompleteLesson(complete))
    assert all(r.completed for r in results) and sum(r.newly_completed for r in results) == 1
    await training.CompleteLesson(training_pb2.CompleteLessonRequest(lesson_id=guidelines.lesson_id, advocate_id="bob"))

    # The quiz: failed, failed again, passed, then passed again twice at once (no second completion).
    submit = training_pb2.SubmitQuizRequest(lesson_id=quiz.lesson_id, advocate_id="ada")
    for answers in ([(a + 1) % 3 for a in right], [right[0], right[1], (right[2] + 1) % 3]):
        failed = await training.SubmitQuiz(training_pb2.SubmitQuizRequest(**{**_fields(submit), "answers": answers}))
        assert (failed.passed, failed.completed) == (False, False)
    assert (failed.score_percent, failed.attempts) == (66, 2)
    passed = await training.SubmitQuiz(training_pb2.SubmitQuizRequest(**{**_fields(submit), "answers": right}))
    assert (passed.passed, passed.newly_completed, passed.attempts, passed.score_percent) == (True, True, 3, 100)
    again = await asyncio.gather(
        *(
            training.SubmitQuiz(training_pb2.SubmitQuizRequest(**{**_fields(submit), "answers": right}))
            for _ in range(2)
        )
    )
    assert all(r.completed and not r.newly_completed for r in again)

    mine = await training.ListMyLessons(training_pb2.ListMyLessonsRequest(advocate_id="ada"))
    progress = {m.lesson.lesson_id: m.progress for m in mine.lessons}
    assert progress[quiz.lesson_id].state == training_pb2.PROGRESS_STATE_COMPLETED
    assert (progress[quiz.lesson_id].completed_attempts, progress[quiz.lesson_id].completed_score_percent) == (3, 100)

    await _refusals(training, quiz, guidelines)

    events = await read_completions(bootstrap, f"{isolated.prefix}lesson-completed", 3, within=60)
    by_pair = {}
    for key, event in events:
        assert key == event.advocate.advocate_id
        by_pair.setdefault((event.advocate.advocate_id, event.lesson_id), []).append(event)
    assert sorted(by_pair) == sorted(
        [("ada", guidelines.lesson_id), ("bob", guidelines.lesson_id), ("ada", quiz.lesson_id)]
    ), by_pair
    assert all(len(found) == 1 for found in by_pair.values()), "a completion was emitted twice"
    [ada_quiz] = by_pair[("ada", quiz.lesson_id)]
    assert (ada_quiz.score_percent, ada_quiz.attempts, ada_quiz.lesson_title) == (100, 3, "How LinkedIn works")
    assert (ada_quiz.advocate.team, ada_quiz.advocate.location) == ("sales", "Zurich")
    [ada_guidelines] = by_pair[("ada", guidelines.lesson_id)]
    assert (ada_guidelines.score_percent, ada_guidelines.attempts) == (100, 1)  # concurrent calls: still one
    [bob_guidelines] = by_pair[("bob", guidelines.lesson_id)]
    assert (bob_guidelines.score_percent, bob_guidelines.attempts, bob_guidelines.advocate.team) == (100, 1, "hr")
    assert ada_quiz.event_id and ada_quiz.HasField("occurred_at")


def _fields(request: training_pb2.SubmitQuizRequest) -> dict:
    return {"lesson_id": request.lesson_id, "advocate_id": request.advocate_id}


async def _refusals(training, quiz, guidelines) -> None:
    refusals = {
        # bob is in hr; the quiz is for sales.
        "outside the audience": (
            training.SubmitQuiz(
                training_pb2.SubmitQuizRequest(lesson_id=quiz.lesson_id, advocate_id="bob", answers=[0, 1, 2])
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        "not enrolled": (
            training.CompleteLesson(
                training_pb2.CompleteLessonRequest(lesson_id=guidelines.lesson_id, advocate_id="gone")
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        "unknown lesson": (
            training.CompleteLesson(training_pb2.CompleteLessonRequest(lesson_id="f" * 32, advocate_id="ada")),
            grpc.StatusCode.NOT_FOUND,
        ),
        "too few answers": (
            training.SubmitQuiz(
                training_pb2.SubmitQuizRequest(lesson_id=quiz.lesson_id, advocate_id="ada", answers=[0])
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "quiz lesson completed without its quiz": (
            training.CompleteLesson(training_pb2.CompleteLessonRequest(lesson_id=quiz.lesson_id, advocate_id="ada")),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        "a quiz without correct choices": (
            training.CreateLesson(
                training_pb2.CreateLessonRequest(
                    lesson=training_pb2.Lesson(
                        title="x",
                        quiz=training_pb2.Quiz(
                            questions=[training_pb2.QuizQuestion(text="?", choices=["a", "b"])], pass_mark_percent=50
                        ),
                    )
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    }
    for what, (call, expected) in refusals.items():
        assert await code_of(call) == expected, what


async def test_lists_archives_and_campaign_prerequisites(service):
    _, content, training = service
    drafts = [
        await training.CreateLesson(training_pb2.CreateLessonRequest(lesson=new_lesson(f"L{i}"))) for i in range(3)
    ]
    live = await training.PublishLesson(training_pb2.LessonTransitionRequest(lesson_id=drafts[0].lesson_id))
    # Every lesson once over the pages, newest first; a status filter.
    seen, token = [], ""
    while True:
        page = await training.ListLessons(training_pb2.ListLessonsRequest(page_size=2, page_token=token))
        seen += [lesson.lesson_id for lesson in page.lessons]
        token = page.next_page_token
        if not token:
            break
    assert seen == [d.lesson_id for d in reversed(drafts)]
    only = await training.ListLessons(training_pb2.ListLessonsRequest(status=training_pb2.LESSON_STATUS_PUBLISHED))
    assert [lesson.lesson_id for lesson in only.lessons] == [live.lesson_id]
    stale = training.EditLesson(
        training_pb2.EditLessonRequest(lesson_id=live.lesson_id, expected_version=1, lesson=new_lesson("x"))
    )
    assert await code_of(stale) == grpc.StatusCode.ABORTED

    await training.SetCampaignPrerequisites(
        training_pb2.SetCampaignPrerequisitesRequest(campaign_id="spring", lesson_ids=[live.lesson_id])
    )
    item = await published(content, campaign_id="spring")
    got = await content.GetContent(content_pb2.GetContentRequest(content_id=item.content_id))
    assert list(got.required_lesson_ids) == [live.lesson_id]
    archived = await training.ArchiveLesson(training_pb2.LessonTransitionRequest(lesson_id=drafts[1].lesson_id))
    refused = training.SetCampaignPrerequisites(
        training_pb2.SetCampaignPrerequisitesRequest(campaign_id="spring", lesson_ids=[archived.lesson_id])
    )
    assert await code_of(refused) == grpc.StatusCode.INVALID_ARGUMENT
    read = await training.GetCampaignPrerequisites(training_pb2.GetCampaignPrerequisitesRequest(campaign_id="spring"))
    assert list(read.lesson_ids) == [live.lesson_id]


def cli_env(process: Platform) -> dict[str, str]:
    return {
        "ADVOCACY_CONTENT_ADDR": process.address("content"),
        "ADVOCACY_TOKEN": process.token(ADMIN, "cli-tests"),
        "COLUMNS": "200",
    }


async def test_the_training_commands(stack):
    """`advocacy training ...` against the content process: an admin writes and publishes lessons,
    an advocate lists theirs, fails and passes a quiz, completes a lesson; campaign requirements."""
    isolated = make_isolated(stack)
    async with serving(isolated) as (process, _):
        env = cli_env(process)

        def run(*args: str, code: int = 0):
            result = runner.invoke(app, list(args), env=env)
            assert result.exit_code == code, f"advocacy {' '.join(args)} → {result.exit_code}: {result.output}"
            assert "Traceback" not in result.output
            return result

        def data(*args: str):
            return json.loads(run("--json", *args).stdout)

        await produce(
            isolated.stack.kafka_bootstrap,
            f"{isolated.prefix}advocate-changed",
            [("ada", advocate_changed("ada", team="sales"))],
        )
        quiz = data(
            "training", "create", "--title", "How X works", "--publish", "--pass-mark", "100",
            "--question", "Max post length?|140|*280|500", "--question", "Hashtags?|*a few|none",
            "--link", "Help=https://help.example/x?a=b",
        )  # fmt: skip
        assert quiz["status"] == "LESSON_STATUS_PUBLISHED" and quiz["links"][0]["url"] == "https://help.example/x?a=b"
        plain = data("training", "create", "--title", "Our guidelines", "--body", "Be yourself.", "--publish")
        assert "*280" in run("training", "show", quiz["lesson_id"]).stdout  # the admin sees the right answers
        assert {lesson["lesson_id"] for lesson in data("training", "list")} == {quiz["lesson_id"], plain["lesson_id"]}

        async def mine():
            result = runner.invoke(app, ["--json", "training", "my", "--as", "ada"], env=env)
            return json.loads(result.stdout) if result.exit_code == 0 else None

        listed = await eventually(mine, within=60)
        assert [m["lesson"]["lesson_id"] for m in listed] == [plain["lesson_id"], quiz["lesson_id"]]
        assert "correct_choice" not in json.dumps(listed)
        assert "not passed" in run("training", "quiz", quiz["lesson_id"], "0", "0", "--as", "ada").stdout
        assert "completed now" in run("training", "quiz", quiz["lesson_id"], "1", "0", "--as", "ada").stdout
        assert "completed now" in run("training", "complete", plain["lesson_id"], "--as", "ada").stdout
        assert "completed before" in run("training", "complete", plain["lesson_id"], "--as", "ada").stdout
        run("training", "complete", quiz["lesson_id"], "--as", "ada", code=1)  # it has a quiz: refused
        assert data("training", "require", "spring", plain["lesson_id"])["lesson_ids"] == [plain["lesson_id"]]
        assert plain["lesson_id"] in run("training", "required", "spring").stdout
        edited = data("training", "edit", plain["lesson_id"], "--title", "Our guidelines, v2")
        assert (edited["title"], edited["version"]) == ("Our guidelines, v2", "3")
        assert data("training", "archive", quiz["lesson_id"])["status"] == "LESSON_STATUS_ARCHIVED"
