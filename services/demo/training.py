"""The demo company's training: three short lessons (two with a quiz) and who completes them.

About half the advocates train, the keener ones more often; a trained advocate then shares more
(issue 23: people who are supported and trained take to advocacy). Pure and deterministic."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoQuestion:
    text: str
    choices: tuple[str, ...]
    correct: int


@dataclass(frozen=True)
class DemoLesson:
    title: str
    body: str
    links: tuple[tuple[str, str], ...]  # (title, url)
    questions: tuple[DemoQuestion, ...]  # empty: no quiz
    pass_mark_percent: int = 0


LESSONS = (
    DemoLesson(
        title="Our social media guidelines",
        body=(
            "Share what you are proud of, in your own words. Never share confidential numbers, customers "
            "who have not agreed to be named, or anything you would not say on stage. Say that you work here."
        ),
        links=(("The guidelines (intranet)", "https://intranet.northwind.example/social-media-guidelines"),),
        questions=(
            DemoQuestion(
                "A customer story is not public yet. May you post about it?",
                ("Yes, if I do not name them", "No, not until it is published", "Yes, on LinkedIn only"),
                1,
            ),
            DemoQuestion(
                "Should your post say that you work here?",
                ("Yes", "No", "Only on X"),
                0,
            ),
        ),
        pass_mark_percent=100,
    ),
    DemoLesson(
        title="Writing a personal post",
        body=(
            "A suggested text is a start, not the post. Say why it matters to you, what you did, who you "
            "did it with. One idea per post; a question at the end invites replies."
        ),
        links=(("Ten posts that worked", "https://blog.northwind.example/ten-posts-that-worked"),),
        questions=(
            DemoQuestion(
                "What makes a share more than the suggested text?",
                ("More hashtags", "Why it matters to you", "Posting it twice"),
                1,
            ),
            DemoQuestion("How many ideas per post?", ("One", "Three", "As many as fit"), 0),
            DemoQuestion(
                "What invites replies?",
                ("A question at the end", "A long link", "All capitals"),
                0,
            ),
        ),
        pass_mark_percent=67,
    ),
    DemoLesson(
        title="How each network works",
        body=(
            "LinkedIn rewards comments in the first hour; X moves fast, so timing matters; Facebook and "
            "Instagram reach friends and family first; Xing is where German-speaking peers look for news."
        ),
        links=(("Network cheat sheet", "https://intranet.northwind.example/network-cheat-sheet"),),
        questions=(),
    ),
)
# Of the advocates who train: the share who fail a quiz once before passing it.
FIRST_TRY_FAILS = 0.3
# How much more a trained advocate shares than they would have untrained.
TRAINED_ACTIVITY = 1.6


def trained_advocates(ids_by_keenness: list[str], seed: int) -> frozenset[str]:
    """About half of the advocates, the keener ones more often (the first in the list the keenest)."""
    rng = random.Random(seed * 7919 + 23)  # apart from the company's draws: the company stays the same
    count = len(ids_by_keenness)
    return frozenset(a for rank, a in enumerate(ids_by_keenness) if rng.random() < 0.75 - 0.5 * rank / max(count, 1))


def answers(lesson: DemoLesson, right: bool) -> list[int]:
    """All answers right, or the first one wrong (a failed try of a quiz whose pass mark needs it)."""
    chosen = [q.correct for q in lesson.questions]
    if not right and chosen:
        chosen[0] = (chosen[0] + 1) % len(lesson.questions[0].choices)
    return chosen
