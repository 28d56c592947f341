"""Use case: answer a leaderboard (GetLeaderboard, and the monthly rank a badge may need).

A board is merged from its partitions' documents (services/rewards/domain/leaderboards.py),
at most one per partition, and kept in a read cache: boards are eventually consistent anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.common.read_cache import ReadCache
from services.rewards.app.ports import BoardDocumentReader
from services.rewards.domain import account, boards, leaderboards
from services.rewards.domain.boards import Row

# The most rows a board is answered with; a rank badge reads no deeper (badges.MAX_RANK).
MAX_ROWS = 500


@dataclass(frozen=True)
class BoardQuery:
    board: str  # leaderboards.GLOBAL, TEAM, LEADERS, CAMPAIGN or TEAMS
    argument: str  # the team of TEAM, the campaign of CAMPAIGN, else ""
    period: str  # boards.WEEK, MONTH, QUARTER or ALL_TIME
    day: date  # a day of the period
    per_active_advocate: bool = False  # TEAMS ranked by points per active advocate


@dataclass(frozen=True)
class Board:
    rows: list[Row]  # rank order, at most MAX_ROWS
    first_day: str  # the period's first and last ISO days ("" for all time)
    last_day: str


class Leaderboards:
    def __init__(self, documents: BoardDocumentReader, cache: ReadCache[list[Row]] | None = None) -> None:
        self._documents = documents
        # Off unless given: every read merges the board's documents.
        self._cache = cache or ReadCache[list[Row]](ttl=0)

    async def board(self, query: BoardQuery) -> Board:
        bounds = boards.period_bounds(query.period, query.day)
        first, last = bounds if bounds else ("", "")
        bid = leaderboards.board_id(query.board, query.argument, account.period_key(query.period, query.day))
        return Board(await self._rows(bid, query.board == leaderboards.TEAMS, query.per_active_advocate), first, last)

    async def monthly_rank(self, advocate_id: str, day: date) -> int | None:
        """The advocate's 1-based rank on the global board of `day`'s month (None: not in its rows)."""
        month = leaderboards.board_id(leaderboards.GLOBAL, "", account.period_key(boards.MONTH, day))
        rows = await self._rows(month, False, False)
        return next((i + 1 for i, r in enumerate(rows) if r.key == advocate_id and r.points > 0), None)

    async def _rows(self, board_id: str, teams: bool, per_active_advocate: bool) -> list[Row]:
        async def merge() -> list[Row]:
            parts = await self._documents.read(board_id)
            if teams:
                return leaderboards.merge_teams(parts, per_active_advocate)[:MAX_ROWS]
            return leaderboards.merge_rows(parts, MAX_ROWS)

        # The two team rankings share their documents, not their rows.
        return await self._cache.get((board_id, teams and per_active_advocate), merge)
