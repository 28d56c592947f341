"""`advocacy rules show|set|badge` and `advocacy badges` against a real rewards gRPC server on the
real MongoDB-protocol server (the rewards API alone: the rule set is all these commands touch)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.grpc_server import GrpcServer
from tests.integration.rewards_harness import Harness

runner = CliRunner()


@pytest.fixture
async def served(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    harness = Harness(mongo[isolated.database])
    name = rewards_pb2.DESCRIPTOR.services_by_name["RewardsService"].full_name
    server = GrpcServer("127.0.0.1", 0, [name], auth=None)
    rewards_pb2_grpc.add_RewardsServiceServicer_to_server(harness.servicer(), server.server)
    await server.start()
    yield harness, f"127.0.0.1:{server.port}"
    await server.stop(0)
    await mongo.close()


async def advocacy(address: str, *args: str, code: int = 0) -> str:
    # In a thread: the CLI's blocking calls must not stop this loop, which serves them.
    env = {"ADVOCACY_REWARDS_ADDR": address, "COLUMNS": "200"}
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
    assert result.exit_code == code, f"advocacy {' '.join(args)} → {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result.output


async def test_rules_show_and_set_carry_the_badges(served, tmp_path: Path):
    h, address = served
    shown = await advocacy(address, "rules", "show")
    assert "rule set version 1" in shown and "daily_cap" in shown
    assert "seven_day_streak" in shown and "7-day streak" in shown and "streak_days" in shown
    rules = json.loads(await advocacy(address, "--json", "rules", "show"))
    assert [b["badge_id"] for b in rules["badges"]][:2] == ["first_share", "ten_shares"]
    rules["badges"][1]["threshold"] = 3
    rules["badges"].append(
        {"badge_id": "fifty_shares", "name": "50 shares", "kind": "BADGE_KIND_SHARES", "threshold": 50}
    )
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(rules))
    stored = await advocacy(address, "rules", "set", str(file))
    assert "rule set version 2" in stored and "fifty_shares" in stored
    for d in range(1, 4):
        await h.award(f"s{d}", "share", 10, f"2026-10-{d:02d}")
    earned = await advocacy(address, "badges", "--as", "aino")
    assert "First share (first_share)" in earned and "10 shares (ten_shares)" in earned  # at 3 now
    # A bad badge is refused by the service with the field named (exit 1), and nothing is stored.
    rules["badges"][0]["threshold"] = 0
    file.write_text(json.dumps(rules))
    refused = await advocacy(address, "rules", "set", str(file), code=1)
    assert "badges[0].threshold" in refused
    file.write_text("{not json")
    assert "not a rule set" in await advocacy(address, "rules", "set", str(file), code=2)


async def test_rules_badge_adds_changes_and_removes_one_badge(served):
    _, address = served
    await advocacy(
        address, "rules", "badge", "two_days", "--name", "2 days", "--kind", "streak_days", "--threshold", "2"
    )
    await advocacy(address, "rules", "badge", "ten_shares", "--threshold", "12")
    await advocacy(address, "rules", "badge", "leader_voice", "--remove")
    rules = json.loads(await advocacy(address, "--json", "rules", "show"))
    assert rules["version"] == 4
    badges = {b["badge_id"]: (b["kind"], int(b["threshold"])) for b in rules["badges"]}
    assert badges["two_days"] == ("BADGE_KIND_STREAK_DAYS", 2) and badges["ten_shares"] == ("BADGE_KIND_SHARES", 12)
    assert "leader_voice" not in badges and len(badges) == 7  # the seven defaults, one removed, one added
    await advocacy(
        address,
        "rules",
        "badge",
        "three_lessons",
        "--name",
        "3 lessons",
        "--kind",
        "lessons_completed",
        "--threshold",
        "3",
    )
    shown = await advocacy(address, "rules", "show")
    assert "three_lessons" in shown and "lesson_points" in shown
    assert "--kind one of" in await advocacy(address, "rules", "badge", "x", "--kind", "likes", code=2)
    assert "no badge" in await advocacy(address, "rules", "badge", "nope", "--remove", code=2)
