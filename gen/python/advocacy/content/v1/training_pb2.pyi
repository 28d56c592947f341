import datetime

from advocacy.content.v1 import content_pb2 as _content_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LessonStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LESSON_STATUS_UNSPECIFIED: _ClassVar[LessonStatus]
    LESSON_STATUS_DRAFT: _ClassVar[LessonStatus]
    LESSON_STATUS_PUBLISHED: _ClassVar[LessonStatus]
    LESSON_STATUS_ARCHIVED: _ClassVar[LessonStatus]

class ProgressState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRESS_STATE_UNSPECIFIED: _ClassVar[ProgressState]
    PROGRESS_STATE_NOT_STARTED: _ClassVar[ProgressState]
    PROGRESS_STATE_FAILED: _ClassVar[ProgressState]
    PROGRESS_STATE_COMPLETED: _ClassVar[ProgressState]
LESSON_STATUS_UNSPECIFIED: LessonStatus
LESSON_STATUS_DRAFT: LessonStatus
LESSON_STATUS_PUBLISHED: LessonStatus
LESSON_STATUS_ARCHIVED: LessonStatus
PROGRESS_STATE_UNSPECIFIED: ProgressState
PROGRESS_STATE_NOT_STARTED: ProgressState
PROGRESS_STATE_FAILED: ProgressState
PROGRESS_STATE_COMPLETED: ProgressState

class LessonLink(_message.Message):
    __slots__ = ("title", "url")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    title: str
    url: str
    def __init__(self, title: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class QuizQuestion(_message.Message):
    __slots__ = ("text", "choices", "correct_choice")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    CORRECT_CHOICE_FIELD_NUMBER: _ClassVar[int]
    text: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    correct_choice: int
    def __init__(self, text: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., correct_choice: _Optional[int] = ...) -> None: ...

class Quiz(_message.Message):
    __slots__ = ("questions", "pass_mark_percent")
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    PASS_MARK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedCompositeFieldContainer[QuizQuestion]
    pass_mark_percent: int
    def __init__(self, questions: _Optional[_Iterable[_Union[QuizQuestion, _Mapping]]] = ..., pass_mark_percent: _Optional[int] = ...) -> None: ...

class Lesson(_message.Message):
    __slots__ = ("lesson_id", "title", "body", "links", "audience", "quiz", "status", "version", "created_at", "updated_at", "published_at", "author_id")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    QUIZ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    title: str
    body: str
    links: _containers.RepeatedCompositeFieldContainer[LessonLink]
    audience: _content_pb2.Audience
    quiz: Quiz
    status: LessonStatus
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    published_at: _timestamp_pb2.Timestamp
    author_id: str
    def __init__(self, lesson_id: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., links: _Optional[_Iterable[_Union[LessonLink, _Mapping]]] = ..., audience: _Optional[_Union[_content_pb2.Audience, _Mapping]] = ..., quiz: _Optional[_Union[Quiz, _Mapping]] = ..., status: _Optional[_Union[LessonStatus, str]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author_id: _Optional[str] = ...) -> None: ...

class CreateLessonRequest(_message.Message):
    __slots__ = ("lesson",)
    LESSON_FIELD_NUMBER: _ClassVar[int]
    lesson: Lesson
    def __init__(self, lesson: _Optional[_Union[Lesson, _Mapping]] = ...) -> None: ...

class EditLessonRequest(_message.Message):
    __slots__ = ("lesson_id", "expected_version", "lesson")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    LESSON_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    expected_version: int
    lesson: Lesson
    def __init__(self, lesson_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., lesson: _Optional[_Union[Lesson, _Mapping]] = ...) -> None: ...

class LessonTransitionRequest(_message.Message):
    __slots__ = ("lesson_id", "expected_version", "actor_id")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    expected_version: int
    actor_id: str
    def __init__(self, lesson_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., actor_id: _Optional[str] = ...) -> None: ...

class GetLessonRequest(_message.Message):
    __slots__ = ("lesson_id",)
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    def __init__(self, lesson_id: _Optional[str] = ...) -> None: ...

class ListLessonsRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: LessonStatus
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[LessonStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLessonsResponse(_message.Message):
    __slots__ = ("lessons", "next_page_token")
    LESSONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lessons: _containers.RepeatedCompositeFieldContainer[Lesson]
    next_page_token: str
    def __init__(self, lessons: _Optional[_Iterable[_Union[Lesson, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LessonProgress(_message.Message):
    __slots__ = ("lesson_id", "advocate_id", "state", "attempts", "last_score_percent", "best_score_percent", "completed_at", "completed_score_percent", "completed_attempts")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    BEST_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    advocate_id: str
    state: ProgressState
    attempts: int
    last_score_percent: int
    best_score_percent: int
    completed_at: _timestamp_pb2.Timestamp
    completed_score_percent: int
    completed_attempts: int
    def __init__(self, lesson_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., state: _Optional[_Union[ProgressState, str]] = ..., attempts: _Optional[int] = ..., last_score_percent: _Optional[int] = ..., best_score_percent: _Optional[int] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_score_percent: _Optional[int] = ..., completed_attempts: _Optional[int] = ...) -> None: ...

class MyLesson(_message.Message):
    __slots__ = ("lesson", "progress")
    LESSON_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    lesson: Lesson
    progress: LessonProgress
    def __init__(self, lesson: _Optional[_Union[Lesson, _Mapping]] = ..., progress: _Optional[_Union[LessonProgress, _Mapping]] = ...) -> None: ...

class ListMyLessonsRequest(_message.Message):
    __slots__ = ("advocate_id",)
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    advocate_id: str
    def __init__(self, advocate_id: _Optional[str] = ...) -> None: ...

class ListMyLessonsResponse(_message.Message):
    __slots__ = ("lessons",)
    LESSONS_FIELD_NUMBER: _ClassVar[int]
    lessons: _containers.RepeatedCompositeFieldContainer[MyLesson]
    def __init__(self, lessons: _Optional[_Iterable[_Union[MyLesson, _Mapping]]] = ...) -> None: ...

class CompleteLessonRequest(_message.Message):
    __slots__ = ("lesson_id", "advocate_id")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    advocate_id: str
    def __init__(self, lesson_id: _Optional[str] = ..., advocate_id: _Optional[str] = ...) -> None: ...

class SubmitQuizRequest(_message.Message):
    __slots__ = ("lesson_id", "advocate_id", "answers")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    advocate_id: str
    answers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, lesson_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., answers: _Optional[_Iterable[int]] = ...) -> None: ...

class LessonResult(_message.Message):
    __slots__ = ("lesson_id", "advocate_id", "score_percent", "passed", "pass_mark_percent", "attempts", "completed", "newly_completed", "progress")
    LESSON_ID_FIELD_NUMBER: _ClassVar[int]
    ADVOCATE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    PASS_MARK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    NEWLY_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    lesson_id: str
    advocate_id: str
    score_percent: int
    passed: bool
    pass_mark_percent: int
    attempts: int
    completed: bool
    newly_completed: bool
    progress: LessonProgress
    def __init__(self, lesson_id: _Optional[str] = ..., advocate_id: _Optional[str] = ..., score_percent: _Optional[int] = ..., passed: _Optional[bool] = ..., pass_mark_percent: _Optional[int] = ..., attempts: _Optional[int] = ..., completed: _Optional[bool] = ..., newly_completed: _Optional[bool] = ..., progress: _Optional[_Union[LessonProgress, _Mapping]] = ...) -> None: ...

class CampaignPrerequisites(_message.Message):
    __slots__ = ("campaign_id", "lesson_ids", "updated_at", "updated_by")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LESSON_IDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    lesson_ids: _containers.RepeatedScalarFieldContainer[str]
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, campaign_id: _Optional[str] = ..., lesson_ids: _Optional[_Iterable[str]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class SetCampaignPrerequisitesRequest(_message.Message):
    __slots__ = ("campaign_id", "lesson_ids")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LESSON_IDS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    lesson_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign_id: _Optional[str] = ..., lesson_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCampaignPrerequisitesRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...
