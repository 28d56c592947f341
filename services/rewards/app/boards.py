"""The leaderboards of the partitions this worker owns, kept in memory from the advocates' states
and materialised as documents read by `_id` (services/rewards/domain/leaderboards.py).

Nothing here is stored in a table: a partition's boards are rebuilt from its advocates' states
(the `rewards-advocates` table, recovered) when the worker gets the partition, and every document
is written again then, so what a crashed owner had not materialised yet is not lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.rewards.domain.leaderboards import PartitionBoards
from services.rewards.domain.rules import AdvocateState


class BoardDocuments(Protocol):
    async def write(self, documents: Sequence[dict]) -> None: ...


@dataclass
class BoardKeeper:
    documents: BoardDocuments
    partitions: dict[int, PartitionBoards] = field(default_factory=dict)

    def missing(self, partitions: Iterable[int]) -> set[int]:
        return set(partitions) - set(self.partitions)

    def build(self, states: dict[int, list[tuple[str, dict]]]) -> None:
        """Rebuilds the boards of whole partitions from all their advocates' states."""
        for partition, advocates in states.items():
            boards = PartitionBoards()
            for advocate_id, doc in advocates:
                boards.apply(advocate_id, AdvocateState.from_dict(doc))
            boards.dirty = boards.all_ids()
            self.partitions[partition] = boards

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Forgets partitions this worker no longer owns (their new owner writes their documents)."""
        keep = set(partitions)
        for partition in set(self.partitions) - keep:
            del self.partitions[partition]

    def apply(self, partition: int, advocate_id: str, state: AdvocateState, period_keys: set[str] | None) -> None:
        boards = self.partitions.get(partition)
        if boards is not None:  # (not built: built from the states, this one included, when needed)
            boards.apply(advocate_id, state, period_keys)

    async def materialise(self) -> int:
        """Writes the documents of the boards changed since the last call; returns how many."""
        taken = [(p, b, b.dirty) for p, b in self.partitions.items() if b.dirty]
        documents = []
        for partition, boards, dirty in taken:
            boards.dirty = set()
            documents += [boards.document(bid, partition) for bid in sorted(dirty)]
        try:
            await self.documents.write(documents)
        except BaseException:
            for _, boards, dirty in taken:  # written next time (with what changed meanwhile)
                boards.dirty |= dirty
            raise
        return len(documents)
