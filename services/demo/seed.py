"""Seeds the demo company ONLY through the real gRPC APIs: rewards campaigns and catalogue,
content items (Create → SubmitForReview → Approve → Publish, or left approved with a future
publish_at: scheduled), about four months of history as a migration would bring it (archive items
by ImportContent, most advocates by ImportAdvocates with a past first enrolment, their past shares
and own posts by ImportShares: services/demo/history.py), the other advocates (EnrollAdvocate),
training lessons (Create → Publish) and the trained advocates' completions (SubmitQuiz, a third of
them failing once first, or CompleteLesson).

Re-running is cheap and safe: enrolled advocates are left alone, an item whose URL is already
live (published or scheduled, not expired) is reused, archive items are found by their import key
and past shares by their idempotency key, so `make run` twice keeps one company and one history."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import grpc
from advocacy.common.v1.common_pb2 import AdvocateSnapshot, Network
from advocacy.content.v1 import content_pb2, training_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2

from services.clients import Clients, ServiceError
from services.common.events import from_timestamp, to_timestamp
from services.demo import history
from services.demo.company import DemoAdvocate, DemoCompany, DemoItem
from services.demo.training import FIRST_TRY_FAILS, LESSONS, DemoLesson, answers

AUTHOR = "comms-demo"
CATALOG = (
    ("coffee", "Coffee with the CEO", 60, 50),
    ("hoodie", "Advocacy hoodie", 150, 200),
    ("tree", "Plant ten trees", 40, 10_000),
    ("ticket", "Conference ticket", 800, 3),
)
LIVE = (content_pb2.CONTENT_STATUS_PUBLISHED, content_pb2.CONTENT_STATUS_APPROVED)
# Entries per import call (the services take up to 100 items, 500 advocates or shares).
ADVOCATE_BATCH = 100
SHARE_BATCH = 500


@dataclass
class SeededItem:
    item: DemoItem
    content_id: str
    publish_at: datetime | None  # None: published already
    expires_at: datetime | None


@dataclass
class SeedResult:
    """Filled while seeding runs, so activity can start before the last advocate is enrolled."""

    items: list[SeededItem] = field(default_factory=list)
    # Content is seeded first; set once every item exists.
    content_ready: threading.Event = field(default_factory=threading.Event)
    # Ids of advocates known to be enrolled so far (the keenest sharers are enrolled first).
    enrolled: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)
    stage: str = ""
    stage_done: int = 0
    stage_total: int = 0
    advocates_enrolled: int = 0
    advocates_existing: int = 0
    items_created: int = 0
    items_reused: int = 0
    lessons_completed: int = 0
    # The history (services/demo/history.py): imported now, and what earlier runs imported already.
    advocates_imported: int = 0
    history_items_imported: int = 0
    history_shares_imported: int = 0
    history_own_posts_imported: int = 0
    history_shares_existing: int = 0
    seconds: float = 0.0


def network(name: str) -> int:
    return Network.Value(f"NETWORK_{name}")


def advocate_message(a: DemoAdvocate) -> share_pb2.Advocate:
    return share_pb2.Advocate(
        profile=AdvocateSnapshot(
            advocate_id=a.advocate_id,
            display_name=a.display_name,
            team=a.team,
            location=a.location,
            language=a.language,
            role=a.role,
            leader=a.leader,
            timezone=a.timezone,
        ),
        interests=list(a.interests),
        networks=[share_pb2.NetworkConnection(network=network(n), audience_size=s) for n, s in a.networks.items()],
    )


def item_message(item: DemoItem, now: datetime) -> content_pb2.ContentItem:
    msg = content_pb2.ContentItem(
        title=item.title,
        summary=item.summary,
        url=item.url,
        topics=list(item.topics),
        language=item.language,
        campaign_id=item.campaign_id,
        audience=content_pb2.Audience(teams=list(item.teams), languages=list(item.languages)),
        suggested_texts=[content_pb2.SuggestedText(network=network(n), text=t) for n, t in item.suggested.items()],
        author_id=AUTHOR,
    )
    if item.publish_in is not None:
        msg.publish_at.CopyFrom(to_timestamp(now + item.publish_in))
    if item.expires_in is not None:
        msg.expires_at.CopyFrom(to_timestamp(now + (item.publish_in or timedelta()) + item.expires_in))
    return msg


def _live_items_by_url(clients: Clients, now: datetime) -> dict[str, content_pb2.ContentItem]:
    found: dict[str, content_pb2.ContentItem] = {}
    for status in LIVE:
        token = ""
        while True:
            page = clients.content.ListContent(
                content_pb2.ListContentRequest(status=status, page_size=100, page_token=token)
            )
            for it in page.items:
                if it.HasField("expires_at") and from_timestamp(it.expires_at) <= now + timedelta(minutes=2):
                    continue  # about to expire: a fresh copy keeps the demo alive
                found.setdefault(it.url, it)
            token = page.next_page_token
            if not token:
                break
    return found


def _seed_rewards(clients: Clients, company: DemoCompany, now: datetime) -> None:
    for campaign_id, _, multiplier in company.campaigns:
        clients.rewards.UpsertCampaign(
            rewards_pb2.UpsertCampaignRequest(
                campaign=rewards_pb2.Campaign(
                    campaign_id=campaign_id,
                    starts_at=to_timestamp(now - timedelta(days=30)),
                    ends_at=to_timestamp(now + timedelta(days=60)),
                    multiplier=multiplier,
                )
            )
        )
    for item_id, name, cost, stock in CATALOG:
        clients.rewards.UpsertCatalogItem(
            rewards_pb2.UpsertCatalogItemRequest(
                item=rewards_pb2.CatalogItem(item_id=item_id, name=name, cost=cost, stock=stock)
            )
        )


def _publish(clients: Clients, existing: dict[str, content_pb2.ContentItem], item: DemoItem) -> tuple[SeededItem, bool]:
    """The item, reusing a live copy with its URL, else created and walked to publication."""
    now = datetime.now(UTC)
    found, created = existing.get(item.url), None
    if found is None:
        created = clients.content.CreateContent(content_pb2.CreateContentRequest(item=item_message(item, now)))
        for step in (clients.content.SubmitForReview, clients.content.Approve, clients.content.Publish):
            created = step(content_pb2.TransitionRequest(content_id=created.content_id, actor_id=AUTHOR))
        found = created
    scheduled = found.status == content_pb2.CONTENT_STATUS_APPROVED and found.HasField("publish_at")
    return SeededItem(
        item=item,
        content_id=found.content_id,
        publish_at=from_timestamp(found.publish_at) if scheduled else None,
        expires_at=from_timestamp(found.expires_at) if found.HasField("expires_at") else None,
    ), created is not None


def _stored(clients: Clients, advocate_id: str) -> share_pb2.Advocate | None:
    try:
        return clients.share.GetAdvocate(share_pb2.GetAdvocateRequest(advocate_id=advocate_id))
    except ServiceError as exc:
        if exc.code != grpc.StatusCode.NOT_FOUND:
            raise
        return None


def _enrol(clients: Clients, a: DemoAdvocate, stored: share_pb2.Advocate | None) -> share_pb2.Advocate:
    """The advocate enrolled now (or re-enrolled), unless enrolled already."""
    if stored is not None and stored.enrolled:
        return stored
    return clients.share.EnrollAdvocate(share_pb2.EnrollAdvocateRequest(advocate=advocate_message(a)))


def _first_enrolment(advocate: share_pb2.Advocate) -> datetime | None:
    """When the advocate's one, still open enrolment started (None otherwise: no history planned)."""
    periods = advocate.enrolments
    if len(periods) != 1 or periods[0].HasField("left_at"):
        return None
    return from_timestamp(periods[0].enrolled_at)


Report = Callable[[str, int, int], None]


def _seed_content(
    clients: Clients, company: DemoCompany, now: datetime, workers: int, result: SeedResult, report: Report
) -> None:
    existing = _live_items_by_url(clients, now)
    with ThreadPoolExecutor(min(workers, 4)) as pool:
        published = pool.map(lambda item: _publish(clients, existing, item), company.items)
        for done, (seeded, new) in enumerate(published, start=1):
            result.items.append(seeded)
            result.items_created += new
            result.items_reused += not new
            report("content", done, len(company.items))
    result.content_ready.set()


def _enrol_advocates(
    clients: Clients, company: DemoCompany, now: datetime, workers: int, result: SeedResult, report: Report
) -> dict[str, datetime]:
    """Enrols the company, the planned history's advocates since their past time; returns advocate id ->
    first enrolment of those whose history may be imported."""
    # The keenest sharers first: activity can start while the long tail is still enrolling.
    people = sorted(company.advocates, key=lambda a: -a.activity)
    planned = history.enrolment_times(company, company.seed, now)
    firsts: dict[str, datetime] = {}

    def enrolled(advocate: share_pb2.Advocate, created: bool) -> None:
        advocate_id = advocate.profile.advocate_id
        result.enrolled.add(advocate_id)
        result.advocates_enrolled += created
        result.advocates_existing += not created
        if (first := _first_enrolment(advocate)) is not None:
            firsts[advocate_id] = first
        report("advocates", len(result.enrolled), len(people))

    with ThreadPoolExecutor(workers) as pool:
        stored = dict(
            zip(
                [a.advocate_id for a in people],
                pool.map(lambda a: _stored(clients, a.advocate_id), people),
                strict=True,
            )
        )
        migrating = [a for a in people if stored[a.advocate_id] is None and a.advocate_id in planned]
        for advocate, created in _import_advocates(clients, migrating, planned):
            result.advocates_imported += created
            enrolled(advocate, created)
        rest = [a for a in people if a not in migrating]
        for a, advocate in zip(rest, pool.map(lambda a: _enrol(clients, a, stored[a.advocate_id]), rest), strict=True):
            enrolled(advocate, advocate is not stored[a.advocate_id])
    return firsts


def _import_advocates(
    clients: Clients, people: list[DemoAdvocate], planned: dict[str, datetime]
) -> Iterator[tuple[share_pb2.Advocate, bool]]:
    """ImportAdvocates in batches: each advocate enrolled since their planned past time."""
    for start in range(0, len(people), ADVOCATE_BATCH):
        entries = [
            share_pb2.ImportedAdvocate(advocate=advocate_message(a), enrolled_at=to_timestamp(planned[a.advocate_id]))
            for a in people[start : start + ADVOCATE_BATCH]
        ]
        for r in clients.share.ImportAdvocates(share_pb2.ImportAdvocatesRequest(advocates=entries)).results:
            yield r.advocate, r.created


def _seed_archive(
    clients: Clients, company: DemoCompany, now: datetime, result: SeedResult
) -> list[history.ArchiveItem]:
    """The archive items as stored: content ids, and the times an earlier run may have recorded."""
    planned = history.archive(company.seed, now)
    entries = [
        content_pb2.ImportedContent(
            import_key=i.import_key,
            item=content_pb2.ContentItem(
                title=i.title,
                summary=f"{i.title}. From the newsroom archive.",
                url=i.url,
                topics=[i.topic],
                language="en",
                suggested_texts=[content_pb2.SuggestedText(network=network(n), text=t) for n, t in i.suggested.items()],
                expires_at=to_timestamp(i.expires_at),
                author_id=AUTHOR,
            ),
            published_at=to_timestamp(i.published_at),
        )
        for i in planned
    ]
    stored = []
    for start in range(0, len(entries), 100):
        reply = clients.content.ImportContent(content_pb2.ImportContentRequest(items=entries[start : start + 100]))
        stored += reply.results
    result.history_items_imported = sum(r.created for r in stored)
    return [
        replace(
            i,
            content_id=r.item.content_id,
            published_at=from_timestamp(r.item.published_at),
            expires_at=from_timestamp(r.item.expires_at),
        )
        for i, r in zip(planned, stored, strict=True)
    ]


def _seed_past_shares(
    clients: Clients,
    company: DemoCompany,
    firsts: dict[str, datetime],
    archive: list[history.ArchiveItem],
    now: datetime,
    result: SeedResult,
    report: Report,
) -> None:
    """The advocates' past shares and own posts, in batches."""
    entries = []
    for s in history.shares(company, company.seed, firsts, archive, now):
        entry = share_pb2.ImportedShare(
            idempotency_key=s.idempotency_key,
            advocate_id=s.advocate_id,
            network=network(s.network),
            message=s.message,
            shared_at=to_timestamp(s.shared_at),
        )
        if s.own_post_url:
            entry.own_post_url = s.own_post_url
        else:
            entry.content_id = s.content_id
        entries.append(entry)
    batches = [entries[i : i + SHARE_BATCH] for i in range(0, len(entries), SHARE_BATCH)]
    done = 0
    with ThreadPoolExecutor(2) as pool:
        calls = pool.map(
            lambda b: clients.share.ImportShares(share_pb2.ImportSharesRequest(shares=b), timeout=120), batches
        )
        for reply in calls:
            for r in reply.results:
                result.history_shares_imported += r.created
                result.history_own_posts_imported += r.created and r.share.own_post
                result.history_shares_existing += not r.created
            done += len(reply.results)
            report("history", done, len(entries))


def lesson_message(lesson: DemoLesson) -> training_pb2.Lesson:
    msg = training_pb2.Lesson(
        title=lesson.title,
        body=lesson.body,
        links=[training_pb2.LessonLink(title=t, url=u) for t, u in lesson.links],
        author_id=AUTHOR,
    )
    if lesson.questions:
        msg.quiz.CopyFrom(
            training_pb2.Quiz(
                questions=[
                    training_pb2.QuizQuestion(text=q.text, choices=list(q.choices), correct_choice=q.correct)
                    for q in lesson.questions
                ],
                pass_mark_percent=lesson.pass_mark_percent,
            )
        )
    return msg


def _seed_lessons(clients: Clients) -> dict[str, DemoLesson]:
    """Lesson id -> lesson: a published lesson with the title is reused, else one is created and published."""
    published: dict[str, str] = {}
    token = ""
    while True:
        page = clients.training.ListLessons(
            training_pb2.ListLessonsRequest(
                status=training_pb2.LESSON_STATUS_PUBLISHED, page_size=100, page_token=token
            )
        )
        published.update({lesson.title: lesson.lesson_id for lesson in page.lessons})
        token = page.next_page_token
        if not token:
            break
    seeded: dict[str, DemoLesson] = {}
    for lesson in LESSONS:
        lesson_id = published.get(lesson.title)
        if lesson_id is None:
            created = clients.training.CreateLesson(training_pb2.CreateLessonRequest(lesson=lesson_message(lesson)))
            lesson_id = clients.training.PublishLesson(
                training_pb2.LessonTransitionRequest(lesson_id=created.lesson_id, actor_id=AUTHOR)
            ).lesson_id
        seeded[lesson_id] = lesson
    return seeded


def _train(clients: Clients, advocate_id: str, lessons: dict[str, DemoLesson], wait_s: float = 60.0) -> int:
    """Completes the lessons the advocate has not completed; returns how many it completed now.
    The content service learns of a new advocate from `advocate-changed`: until then it answers
    NOT_FOUND, so that is waited out."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            mine = clients.training.ListMyLessons(training_pb2.ListMyLessonsRequest(advocate_id=advocate_id))
            break
        except ServiceError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    done = 0
    for entry in mine.lessons:
        lesson = lessons.get(entry.lesson.lesson_id)
        if lesson is None or entry.progress.state == training_pb2.PROGRESS_STATE_COMPLETED:
            continue
        if not lesson.questions:
            clients.training.CompleteLesson(
                training_pb2.CompleteLessonRequest(lesson_id=entry.lesson.lesson_id, advocate_id=advocate_id)
            )
        else:
            # Deterministic per advocate and lesson: the same people fail once on every run.
            if zlib.crc32(f"{advocate_id}|{lesson.title}".encode()) % 100 < FIRST_TRY_FAILS * 100:
                clients.training.SubmitQuiz(_submission(entry.lesson.lesson_id, advocate_id, lesson, right=False))
            clients.training.SubmitQuiz(_submission(entry.lesson.lesson_id, advocate_id, lesson, right=True))
        done += 1
    return done


def _submission(lesson_id: str, advocate_id: str, lesson: DemoLesson, right: bool) -> training_pb2.SubmitQuizRequest:
    return training_pb2.SubmitQuizRequest(lesson_id=lesson_id, advocate_id=advocate_id, answers=answers(lesson, right))


def _seed_training(clients: Clients, company: DemoCompany, workers: int, result: SeedResult, report: Report) -> None:
    lessons = _seed_lessons(clients)
    trained = sorted(company.trained)
    with ThreadPoolExecutor(workers) as pool:
        completed = pool.map(lambda advocate_id: _train(clients, advocate_id, lessons), trained)
        for done, count in enumerate(completed, start=1):
            result.lessons_completed += count
            report("training", done, len(trained))


def seed(
    clients: Clients,
    company: DemoCompany,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 6,
    result: SeedResult | None = None,
) -> SeedResult:
    """Seeds and returns the content ids; `progress(stage, done, total)` after each step. Pass
    `result` to watch it fill from another thread."""
    started = datetime.now(UTC)
    result = SeedResult() if result is None else result

    def report(stage: str, done: int, total: int) -> None:
        result.stage, result.stage_done, result.stage_total = stage, done, total
        if progress is not None:
            progress(stage, done, total)

    _seed_rewards(clients, company, started)
    report("rewards", 1, 1)
    _seed_content(clients, company, started, workers, result, report)
    archive = _seed_archive(clients, company, started, result)
    firsts = _enrol_advocates(clients, company, started, workers, result, report)
    _seed_past_shares(clients, company, firsts, archive, started, result, report)
    _seed_training(clients, company, workers, result, report)
    result.seconds = (datetime.now(UTC) - started).total_seconds()
    result.done.set()
    return result
