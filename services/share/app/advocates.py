"""Use cases on an advocate: enrol, read, update the profile, connect or disconnect a network,
leave. Each applies a pure rule (`domain/advocates.py`) to the stored advocate and stores the next
version with its `advocate-changed` event in one write (compare-and-set on the version)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from advocacy.common.v1.common_pb2 import AdvocateSnapshot
from advocacy.share.v1.share_pb2 import Advocate, AdvocateChanged, NetworkConnection
from grpc_interceptor.exceptions import Aborted, FailedPrecondition, InvalidArgument, NotFound

from services.common.events import new_event_id, to_timestamp, utcnow
from services.common.outbox import OutboxEvent
from services.common.retry import retrying
from services.common.topics import ADVOCATE_CHANGED
from services.share.app.ports import AdvocateStore
from services.share.domain import advocates as rules

# Compare-and-set attempts on an advocate before telling the client to retry.
SAVE_ATTEMPTS = 5

# The next state from the stored one (None: none stored) and now; None from it = no change.
Change = Callable[[Advocate | None, datetime], Advocate | None]


class _VersionConflict(Exception):
    """A concurrent write of the advocate won the compare-and-set."""


def _not_found(advocate_id: str) -> NotFound:
    return NotFound(f"advocate {advocate_id!r} not found")


class Advocates:
    """The advocate use cases, one method each; they share the one way an advocate is written."""

    def __init__(
        self,
        store: AdvocateStore,
        topic: Callable[[str], str],
        written: Callable[[], None],
        clock: Callable[[], datetime] = utcnow,
        attempts: int = SAVE_ATTEMPTS,
    ) -> None:
        self._store = store
        self._topic = topic
        # Wakes the advocates' relay (ordered: it sweeps in write order, for a compacted topic).
        self._written = written
        self._clock = clock
        self._attempts = attempts

    async def get(self, advocate_id: str) -> Advocate:
        advocate = await self._store.get(advocate_id)
        if advocate is None:
            raise _not_found(advocate_id)
        return advocate

    async def enrol(self, request: Advocate) -> Advocate:
        return await self._change(request.profile.advocate_id, lambda cur, now: rules.enrol(cur, request, now))

    async def import_enrolment(self, request: Advocate, enrolled_at: datetime) -> tuple[Advocate, bool]:
        """(the advocate, created): a migrated advocate enrolled since the past `enrolled_at`, its
        `advocate-changed` marked imported; an identical repeat returns the stored advocate."""
        advocate_id = request.profile.advocate_id
        created = False

        def change(cur: Advocate | None, now: datetime) -> Advocate | None:
            nonlocal created
            try:
                nxt = rules.import_enrolment(cur, request, enrolled_at, now)
            except rules.HasHistory as exc:
                raise FailedPrecondition(str(exc)) from exc
            created = nxt is not None
            return nxt

        advocate = await self._change(advocate_id, change, imported=True)
        return advocate, created

    async def leave(self, advocate_id: str) -> Advocate:
        return await self._change(advocate_id, lambda cur, now: rules.leave(self._require(cur, advocate_id), now))

    async def update_profile(self, profile: AdvocateSnapshot, interests: Iterable[str]) -> Advocate:
        interests = list(interests)
        advocate_id = profile.advocate_id
        return await self._change(
            advocate_id, lambda cur, now: rules.update_profile(self._require(cur, advocate_id), profile, interests)
        )

    async def connect_network(self, advocate_id: str, connection: NetworkConnection) -> Advocate:
        return await self._change(
            advocate_id, lambda cur, now: rules.connect_network(self._require(cur, advocate_id), connection, now)
        )

    async def disconnect_network(self, advocate_id: str, network: int) -> Advocate:
        return await self._change(
            advocate_id, lambda cur, now: rules.disconnect_network(self._require(cur, advocate_id), network)
        )

    @staticmethod
    def _require(current: Advocate | None, advocate_id: str) -> Advocate:
        if current is None:
            raise _not_found(advocate_id)
        return current

    async def _change(self, advocate_id: str, change: Change, imported: bool = False) -> Advocate:
        """Reads, applies `change`, stores the result with its `advocate-changed` event; re-reads and
        re-applies when a concurrent write won, ABORTED when that keeps happening."""
        # A lost compare-and-set is retried at once: the next read sees the winner's version.
        policy = retrying(
            retry_on=_VersionConflict,
            event="advocate_save_conflict",
            first_seconds=0,
            attempts=self._attempts,
            log_level="info",
            advocate_id=advocate_id,
        )
        try:
            return await policy(self._change_once, advocate_id, change, imported)
        except _VersionConflict:
            raise Aborted(f"advocate {advocate_id!r} is being changed concurrently; retry") from None

    async def _change_once(self, advocate_id: str, change: Change, imported: bool) -> Advocate:
        current = await self._store.get(advocate_id)
        now = self._clock()
        try:
            nxt = change(current, now)
        except rules.InvalidAdvocate as exc:
            raise InvalidArgument(str(exc)) from exc
        if nxt is None:
            assert current is not None
            return current
        event = AdvocateChanged(
            event_id=new_event_id(),
            occurred_at=to_timestamp(now),
            advocate=nxt,
            enrolments=list(nxt.enrolments),
            version=nxt.version,
            imported=imported,
        )
        outbox = OutboxEvent.of(event, self._topic(ADVOCATE_CHANGED.name), key=advocate_id)
        if not await self._store.save(nxt, outbox):
            raise _VersionConflict(advocate_id)
        self._written()
        return nxt
