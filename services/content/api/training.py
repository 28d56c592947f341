"""gRPC TrainingService (served by the content service's process): translates requests and the use
cases' refusals. Who may call what is in services/common/policy.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from advocacy.content.v1 import training_pb2, training_pb2_grpc
from advocacy.content.v1.training_pb2 import CampaignPrerequisites, Lesson, LessonResult, LessonStatus
from grpc_interceptor.exceptions import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

from services.common import paging
from services.common.auth import current_caller
from services.common.validation import check_request_id
from services.content.app.advocate_feed import UnknownViewer, ViewerLeft
from services.content.app.learning import Learning, NotCompletable, NotInAudience
from services.content.app.lessons import LessonAdmin, LessonNotFound, TooManyPublished
from services.content.app.prerequisites import Prerequisites
from services.content.domain.item import InvalidExpectedVersion, VersionConflict
from services.content.domain.lifecycle import InvalidContent
from services.content.domain.training import IllegalLessonTransition, InvalidAnswers, LessonAction

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@contextmanager
def _statuses(prefix: str = "") -> Iterator[None]:
    """The use cases' refusals as gRPC statuses (`prefix`: the request field an InvalidContent is in)."""
    try:
        yield
    except (LessonNotFound, UnknownViewer) as exc:
        raise NotFound(str(exc)) from exc
    except (InvalidExpectedVersion, InvalidAnswers) as exc:
        raise InvalidArgument(str(exc)) from exc
    except InvalidContent as exc:
        raise InvalidArgument(f"{prefix}{exc}") from exc
    except VersionConflict as exc:
        raise Aborted(str(exc)) from exc
    except (IllegalLessonTransition, TooManyPublished, NotCompletable, ViewerLeft) as exc:
        raise FailedPrecondition(str(exc)) from exc
    except NotInAudience as exc:
        raise PermissionDenied(str(exc)) from exc


def _actor(given: str) -> str:
    caller = current_caller()
    return given or (caller.subject if caller is not None else "")


class TrainingServicer(training_pb2_grpc.TrainingServiceServicer):
    def __init__(self, admin: LessonAdmin, learning: Learning, prerequisites: Prerequisites) -> None:
        self._admin = admin
        self._learning = learning
        self._prerequisites = prerequisites

    async def CreateLesson(
        self, request: training_pb2.CreateLessonRequest, context: grpc.aio.ServicerContext
    ) -> Lesson:
        check_request_id(request.lesson.author_id, "lesson.author_id", optional=True)
        with _statuses("lesson."):
            return await self._admin.create(request.lesson, _actor(request.lesson.author_id))

    async def EditLesson(self, request: training_pb2.EditLessonRequest, context: grpc.aio.ServicerContext) -> Lesson:
        check_request_id(request.lesson_id, "lesson_id")
        if request.expected_version <= 0:
            raise InvalidArgument("expected_version: required (the version the edit is based on)")
        check_request_id(request.lesson.author_id, "lesson.author_id", optional=True)
        with _statuses("lesson."):
            return await self._admin.edit(request.lesson_id, request.expected_version, request.lesson)

    async def PublishLesson(
        self, request: training_pb2.LessonTransitionRequest, context: grpc.aio.ServicerContext
    ) -> Lesson:
        return await self._transition(request, LessonAction.PUBLISH)

    async def ArchiveLesson(
        self, request: training_pb2.LessonTransitionRequest, context: grpc.aio.ServicerContext
    ) -> Lesson:
        return await self._transition(request, LessonAction.ARCHIVE)

    async def _transition(self, request: training_pb2.LessonTransitionRequest, action: LessonAction) -> Lesson:
        check_request_id(request.lesson_id, "lesson_id")
        check_request_id(request.actor_id, "actor_id", optional=True)
        with _statuses():
            return await self._admin.transition(request.lesson_id, action, request.expected_version)

    async def GetLesson(self, request: training_pb2.GetLessonRequest, context: grpc.aio.ServicerContext) -> Lesson:
        check_request_id(request.lesson_id, "lesson_id")
        with _statuses():
            return await self._admin.get(request.lesson_id)

    async def ListLessons(
        self, request: training_pb2.ListLessonsRequest, context: grpc.aio.ServicerContext
    ) -> training_pb2.ListLessonsResponse:
        size = paging.page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if request.status not in LessonStatus.values():
            raise InvalidArgument(f"status: unknown value {request.status}")
        # The token is scoped to the status filter: a token of another listing is refused.
        scope = f"lessons/{request.status}"
        after = paging.decode_token(request.page_token, (str,), scope)[0] if request.page_token else None
        lessons, last = await self._admin.list(request.status, size, after)
        token = paging.encode_token([last], scope) if last is not None else ""
        return training_pb2.ListLessonsResponse(lessons=lessons, next_page_token=token)

    async def ListMyLessons(
        self, request: training_pb2.ListMyLessonsRequest, context: grpc.aio.ServicerContext
    ) -> training_pb2.ListMyLessonsResponse:
        check_request_id(request.advocate_id, "advocate_id")
        with _statuses():
            return training_pb2.ListMyLessonsResponse(lessons=await self._learning.my_lessons(request.advocate_id))

    async def CompleteLesson(
        self, request: training_pb2.CompleteLessonRequest, context: grpc.aio.ServicerContext
    ) -> LessonResult:
        check_request_id(request.lesson_id, "lesson_id")
        check_request_id(request.advocate_id, "advocate_id")
        with _statuses():
            return await self._learning.complete(request.advocate_id, request.lesson_id)

    async def SubmitQuiz(
        self, request: training_pb2.SubmitQuizRequest, context: grpc.aio.ServicerContext
    ) -> LessonResult:
        check_request_id(request.lesson_id, "lesson_id")
        check_request_id(request.advocate_id, "advocate_id")
        with _statuses():
            return await self._learning.submit_quiz(request.advocate_id, request.lesson_id, list(request.answers))

    async def SetCampaignPrerequisites(
        self, request: training_pb2.SetCampaignPrerequisitesRequest, context: grpc.aio.ServicerContext
    ) -> CampaignPrerequisites:
        check_request_id(request.campaign_id, "campaign_id")
        with _statuses():
            return await self._prerequisites.set(request.campaign_id, list(request.lesson_ids), _actor(""))

    async def GetCampaignPrerequisites(
        self, request: training_pb2.GetCampaignPrerequisitesRequest, context: grpc.aio.ServicerContext
    ) -> CampaignPrerequisites:
        check_request_id(request.campaign_id, "campaign_id")
        return await self._prerequisites.get(request.campaign_id)
