"""The `advocacy` command line against the running platform (real broker and FerretDB): every
command runs here, through typer's CliRunner in-process or as a subprocess (replay, which must
outlive a worker restart). Then the demo company (seed + a short activity burst) must move the
analytics and rewards numbers, and replays must rebuild analytics and double nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from advocacy.content.v1 import content_pb2, content_pb2_grpc
from pymongo import MongoClient
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.auth import ADMIN
from services.content.app.imports import imported_content_id
from services.demo import history as history_plan
from services.demo.company import generate
from services.platform.supervisor import Platform
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
runner = CliRunner()


def env_of(platform: Platform) -> dict[str, str]:
    return {
        "ADVOCACY_CONTENT_ADDR": platform.address("content"),
        "ADVOCACY_SHARE_ADDR": platform.address("share"),
        "ADVOCACY_REWARDS_ADDR": platform.address("rewards"),
        "ADVOCACY_ANALYTICS_ADDR": platform.address("analytics"),
        "ADVOCACY_NOTIFY_ADDR": platform.address("notify"),
        "ADVOCACY_KAFKA_BOOTSTRAP": platform.env["ADVOCACY_KAFKA_BOOTSTRAP"],
        "ADVOCACY_TOPIC_PREFIX": platform.env["ADVOCACY_TOPIC_PREFIX"],
        # Admin: the tests publish content and act on behalf of advocates (`--as`).
        "ADVOCACY_TOKEN": platform.token(ADMIN, "cli-tests"),
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def cli(platform: Platform):
    env = env_of(platform)

    def run(*args: str, code: int = 0) -> object:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, f"advocacy {' '.join(args)} → {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output
        return result

    def data(*args: str) -> object:
        return json.loads(run("--json", *args).stdout)

    run.json = data  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def eventually(probe, timeout: float = 60.0, interval: float = 0.5):
    """The pipeline is asynchronous: poll until `probe()` is truthy (returns the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="module")
def world(cli) -> dict[str, str]:
    """One published item in a campaign and one enrolled advocate who shared it in their own words."""
    campaign = f"camp-{uuid.uuid4().hex[:6]}"
    item = cli.json(
        "content",
        "publish",
        "--title",
        "We opened a new plant",
        "--url",
        "https://example.com/plant",
        "--topic",
        "sustainability",
        "--campaign",
        campaign,
        "--text",
        "linkedin=Proud of this!",
    )
    advocate = f"adv-{uuid.uuid4().hex[:8]}"
    cli.json(
        "enroll",
        advocate,
        "--name",
        "Aino Virtanen",
        "--team",
        "sales",
        "--leader",
        "--network",
        "linkedin=1240",
        "--interest",
        "sustainability",
        "--timezone",
        "Europe/Helsinki",
    )
    shared = cli.json(
        "share",
        item["content_id"],
        "--as",
        advocate,
        "--network",
        "linkedin",
        "--message",
        "Nine months from idea to plant. Proud of this team.",
        "--key",
        "cli-1",
    )
    assert shared["created"] is True
    return {
        "item": item["content_id"],
        "advocate": advocate,
        "campaign": campaign,
        "tracked_url": shared["share"]["tracked_url"],
    }


def test_content_publish_schedule_list_show_archive(cli):
    published = cli.json("content", "publish", "--title", "Release notes", "--url", "https://example.com/r")
    assert published["status"] == "CONTENT_STATUS_PUBLISHED"
    scheduled = cli.json(
        "content",
        "publish",
        "--title",
        "Next week",
        "--url",
        "https://example.com/n",
        "--publish-at",
        "+2h",
        "--expires-at",
        "+3d",
    )
    assert scheduled["status"] == "CONTENT_STATUS_APPROVED"  # waits for its publish time
    assert "publish_at" in scheduled and "expires_at" in scheduled
    listed = cli.json("content", "list", "--status", "published", "--limit", "100")
    assert published["content_id"] in [i["content_id"] for i in listed]
    assert scheduled["content_id"] not in [i["content_id"] for i in listed]
    table = cli("content", "list", "--status", "approved").stdout
    assert "Next week" in table
    assert cli.json("content", "show", scheduled["content_id"])["title"] == "Next week"
    archived = cli.json("content", "archive", published["content_id"])
    assert archived["status"] == "CONTENT_STATUS_ARCHIVED"


def test_suggestions_submit_list_approve_reject(cli):
    first = cli.json(
        "suggestions",
        "submit",
        "--as",
        "adv-suggester",
        "--title",
        "Our booth at the fair",
        "--url",
        "https://example.com/booth",
        "--text",
        "x=Come and see us",
    )
    second = cli.json(
        "suggestions", "submit", "--as", "adv-suggester", "--title", "Off topic", "--url", "https://example.com/off"
    )
    pending = [i["content_id"] for i in cli.json("suggestions", "list")]
    assert first["content_id"] in pending and second["content_id"] in pending
    assert cli.json("suggestions", "approve", first["content_id"])["status"] == "CONTENT_STATUS_PUBLISHED"
    rejected = cli.json("suggestions", "reject", second["content_id"], "--reason", "not about us")
    assert (rejected["status"], rejected["rejection_reason"]) == ("CONTENT_STATUS_REJECTED", "not about us")
    assert not {first["content_id"], second["content_id"]} & {i["content_id"] for i in cli.json("suggestions", "list")}


def test_sources_add_list_pause_resume_delete(cli):
    added = cli.json(
        "sources", "add", "https://feeds.example.invalid/news.xml", "--every", "600", "--publish", "--topic", "news"
    )
    sid = added["source_id"]
    assert (added["poll_interval_seconds"], added["defaults"]["publish_directly"]) == (600, True)
    assert added["defaults"]["topics"] == ["news"]
    assert sid in cli("sources", "list").stdout

    # The first poll fails (the name does not resolve): the error is what `list` shows.
    deadline = time.monotonic() + 30
    while True:
        (listed,) = [f for f in cli.json("sources", "list") if f["source_id"] == sid]
        if listed["status"]["last_error"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "feeds.example.invalid" in listed["status"]["last_error"], listed
    assert listed["status"]["consecutive_failures"] >= 1

    assert cli.json("sources", "pause", sid)["paused"] is True
    assert cli.json("sources", "pause", sid, "--resume")["paused"] is False
    assert f"deleted source {sid}" in cli("sources", "delete", sid).stdout
    assert sid not in {f["source_id"] for f in cli.json("sources", "list")}
    assert "not found" in cli("sources", "delete", sid, code=1).output
    assert "source.url" in cli("sources", "add", "ftp://example.com/feed", code=1).output


def test_feed_share_points_history_badges(cli, world):
    # The feed ranks with the content service's view of the advocate (from `advocate-changed`).
    # Until that view has the advocate, the feed answers NOT_FOUND ("not known ... (yet)").
    def matched() -> list[str] | None:
        result = runner.invoke(app, ["--json", "feed", "--as", world["advocate"]], env=cli.env)
        if result.exit_code == 1 and "not known to the content service" in result.output:
            return None
        assert result.exit_code == 0, result.output
        entry = next(e for e in json.loads(result.stdout) if e["item"]["content_id"] == world["item"])
        return entry["matched_interests"] or None

    assert eventually(matched) == ["sustainability"]
    assert "sustainability" in cli("feed", "--as", world["advocate"]).stdout
    # share 10 + first share 5 + personal wording 5 + early sharer 5
    points = eventually(lambda: (p := cli.json("points", "--as", world["advocate"])).get("points") == "25" and p)
    assert points, cli("points", "--as", world["advocate"]).stdout
    assert "25 points" in cli("points", "--as", world["advocate"]).stdout

    # The ledger is a sink of `points-awarded`: it may show the entries a moment after the balance.
    def rules() -> list[str] | None:
        found = sorted(e["rule"] for e in cli.json("history", "--as", world["advocate"]))
        return found if len(found) >= 4 else None

    assert eventually(rules) == ["early_sharer", "first_share", "personal_wording", "share"]
    assert "personal_wording" in cli("history", "--as", world["advocate"]).stdout
    badges = cli.json("badges", "--as", world["advocate"])
    assert isinstance(badges.get("badges", []), list)
    cli("badges", "--as", world["advocate"])
    again = cli.json(
        "share",
        world["item"],
        "--as",
        world["advocate"],
        "--key",
        "cli-1",
        "--message",
        "Nine months from idea to plant. Proud of this team.",
    )
    assert again["created"] is False  # the same idempotency key is the same share


def test_leaderboards(cli, world):
    rows = eventually(lambda: cli.json("leaderboard").get("rows"))
    assert world["advocate"] in [r["key"] for r in rows]
    # The week of the share's day in the advocate's timezone (Helsinki): late on a Sunday (UTC)
    # that is already the next week.
    [share_day] = {e["local_day"] for e in cli.json("history", "--as", world["advocate"]) if e["rule"] == "share"}
    team = cli.json("leaderboard", "--board", "team", "--team", "sales", "--period", "week", "--day", share_day)
    assert world["advocate"] in [r["key"] for r in team.get("rows", [])]
    leaders = cli.json("leaderboard", "--board", "leaders")
    assert world["advocate"] in [r["key"] for r in leaders.get("rows", [])]
    campaign = cli.json("leaderboard", "--board", "campaign", "--campaign", world["campaign"])
    assert [r["key"] for r in campaign["rows"]] == [world["advocate"]]
    assert "sales" in cli("leaderboard", "--board", "teams").stdout
    cli("leaderboard", "--board", "nonsense", code=2)


def test_stats_and_export(cli, world, tmp_path: Path):
    item = eventually(lambda: (s := cli.json("stats", "item", world["item"])).get("points") and s)
    point = item["points"][0]
    assert (point["shares"], point["potential_reach"]) == ("1", "1240")
    assert cli.json("stats", "team", "sales")["points"][0]["shares"] >= "1"
    assert cli.json("stats", "campaign", world["campaign"])["points"][0]["potential_reach"] == "1240"
    program = cli.json("stats", "program")
    assert int(program["enrolled_advocates"]) >= 1
    assert "potential reach" in cli("stats", "program").stdout
    assert "1,240" in cli("stats", "item", world["item"]).stdout
    out = tmp_path / "campaign.csv"
    summary = cli.json("export", "campaign", world["campaign"], "--granularity", "day", "--out", str(out))
    assert summary["rows"] == 1
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and "potential_reach" in lines[0] and "1240" in lines[1]
    assert "1240" in cli("export", "content", world["item"], "--granularity", "all").stdout


def test_own_post_and_the_origin_figures(cli):
    advocate = f"own-{uuid.uuid4().hex[:8]}"
    cli.json("enroll", advocate, "--name", "Bo Berg", "--team", "ops", "--network", "linkedin=700")
    url = "https://blog.example.org/bo/a-year-at-the-plant"
    args = ("own-post", "--as", advocate, "--url", url, "--message", "A year at the plant", "--key", "own-cli-1")
    posted = cli.json(*args)
    assert posted["created"] is True and posted["share"]["own_post"] is True
    assert posted["share"]["content_id"].startswith("own:") and posted["share"]["target_url"] == url
    assert "already posted (same key)" in cli(*args).stdout
    assert "url" in cli("own-post", "--as", advocate, "--url", "not-a-url", code=1).output
    own = eventually(lambda: (s := cli.json("stats", "origin", "own")).get("points") and s)
    assert int(own["points"][0]["shares"]) >= 1 and int(own["points"][0]["potential_reach"]) >= 700
    shown = cli("stats", "program").stdout
    assert "company items and own posts" in shown and "own posts' share of the reach" in shown


def test_catalog_and_redeem(cli, world):
    assert (
        cli.json("catalog", "set", "sticker", "--name", "Sticker pack", "--cost", "10", "--stock", "5")["cost"] == "10"
    )
    assert "Sticker pack" in cli("catalog", "list").stdout
    eventually(lambda: cli.json("points", "--as", world["advocate"]).get("points") == "25")
    redeemed = cli.json("redeem", "sticker", "--as", world["advocate"], "--key", "r-1")
    assert (redeemed["created"], redeemed["balance"]) == (True, "15")
    again = cli.json("redeem", "sticker", "--as", world["advocate"], "--key", "r-1")
    assert (again["created"], again["balance"]) == (False, "15")
    result = cli("redeem", "nothing-like-this", "--as", world["advocate"], code=1)
    assert "NOT_FOUND" in result.output


def test_watch_once_reads_the_live_figures(cli, world):
    line = eventually(lambda: "shares=" in (v := cli.json("watch", "--once")["line"]) and v)
    assert line and "reach=" in line
    assert "Leaderboard" in cli("watch", "--once").stdout


def test_clear_errors_when_a_service_is_down_or_arguments_are_wrong():
    down = runner.invoke(app, ["points", "--as", "x"], env={"ADVOCACY_REWARDS_ADDR": "127.0.0.1:1", "COLUMNS": "300"})
    assert down.exit_code == 3
    assert "rewards service at 127.0.0.1:1 is unavailable" in down.output and "Traceback" not in down.output
    bad = runner.invoke(app, ["share", "c1", "--as", "a", "--network", "myspace"], env={"COLUMNS": "300"})
    assert bad.exit_code == 2 and "unknown network 'myspace'" in bad.output
    bad_time = runner.invoke(
        app, ["content", "publish", "--title", "t", "--url", "https://e.x", "--publish-at", "soon"]
    )
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output


class _GuardedContent(content_pb2_grpc.ContentServiceServicer):
    """A content API that wants a bearer token, recording what each call carried."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def ListContent(self, request, context):
        auth = dict(context.invocation_metadata()).get("authorization", "")
        self.seen.append(auth)
        if not auth:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        if auth != "Bearer good":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "admin role required")
        return content_pb2.ListContentResponse()


@pytest.fixture
def guarded() -> Iterator[tuple[str, _GuardedContent]]:
    server = grpc.server(futures.ThreadPoolExecutor(2))
    servicer = _GuardedContent()
    content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_the_token_is_sent_and_refusals_are_explained(guarded):
    addr, servicer = guarded
    env = {"ADVOCACY_CONTENT_ADDR": addr, "ADVOCACY_TOKEN": "", "COLUMNS": "300"}
    missing = runner.invoke(app, ["content", "list"], env=env)
    assert missing.exit_code == 4 and "no token: set ADVOCACY_TOKEN" in missing.output
    refused = runner.invoke(app, ["--token", "bad", "content", "list"], env=env)
    assert refused.exit_code == 4 and "may not call ListContent" in refused.output
    ok = runner.invoke(app, ["content", "list"], env={**env, "ADVOCACY_TOKEN": "good"})
    assert ok.exit_code == 0, ok.output
    assert servicer.seen == ["", "Bearer bad", "Bearer good"]


def program(cli) -> dict:
    return cli.json("stats", "program")


def test_the_demo_company_moves_analytics_and_rewards(cli):
    before = program(cli)
    started = datetime.now(UTC)
    seeded = cli.json("demo", "seed", "--advocates", "40", "--items", "8")
    assert (seeded["advocates"], seeded["items"], seeded["advocates_enrolled"]) == (40, 8, 40)
    # About half train, each completing the three demo lessons (a third failing a quiz once first).
    assert 0 < seeded["trained"] < 40 and seeded["lessons_completed"] == 3 * seeded["trained"], seeded
    # About four months of history, through the admin import RPCs: most advocates enrolled in past
    # months, archive items, past shares and own posts.
    assert seeded["advocates_imported"] == 32 and seeded["history_items_imported"] > 0, seeded
    assert seeded["history_shares_imported"] > seeded["history_own_posts_imported"] > 0, seeded
    # The plan the seed followed (times from its start, a moment after `started`): who joined before
    # this month. Some imported advocates joined earlier this month, with the live ones.
    planned = history_plan.enrolment_times(generate(seed=42, advocates=40, items=8), 42, started)
    this_month = started.strftime("%Y-%m")
    past = sum(1 for t in planned.values() if t.strftime("%Y-%m") < this_month)
    history = eventually(lambda: past_cohorts(cli, this_month, past), timeout=90)
    assert history, (past, cli.json("analytics", "health"))
    assert len(history) >= 3, history  # cohorts in at least three past months
    assert any(c.get("median_days_to_first_share") is not None for c in history), history
    assert any(len(c["retained"]) > 1 and int(c["retained"][1]) > 0 for c in history), history
    burst = cli.json(
        "demo",
        "run",
        "--duration",
        "12",
        "--advocates",
        "40",
        "--items",
        "8",
        "--shares-per-second",
        "2",
        "--clicks-per-second",
        "4",
        "--reports-per-second",
        "6",
    )
    assert burst["shares"] > 0 and burst["clicks"] > 0 and burst["engagement_reports"] > 0, burst
    assert burst["errors"] == 0, burst

    def moved() -> dict | None:
        now = program(cli)
        t, b = now["totals"], before.get("totals", {})
        grown = int(t.get("shares", 0)) >= int(b.get("shares", 0)) + burst["shares"]
        clicked = int(t.get("unique_clicks", 0)) > int(b.get("unique_clicks", 0))
        engaged = int(t.get("reactions", 0)) + int(t.get("impressions_reported", 0)) > 0
        return now if grown and clicked and engaged and t.get("earned_media_value", 0) > 0 else None

    after = eventually(moved, timeout=90)
    assert after, program(cli)
    assert int(after["enrolled_advocates"]) >= int(before.get("enrolled_advocates", 0)) + 40
    # Boards are eventually consistent: each rewards replica recomputes a board at most every
    # ADVOCACY_LEADERBOARD_CACHE_SECONDS and answers the last one meanwhile.
    board = eventually(
        lambda: [r for r in cli.json("leaderboard", "--limit", "50")["rows"] if r["key"].startswith("demo-")],
        timeout=60,
    )
    assert board, cli.json("leaderboard", "--limit", "50")["rows"]
    # Idempotent seeding: a second run enrols nobody and reuses every live item.
    again = cli.json("demo", "seed", "--advocates", "40", "--items", "8")
    assert again["advocates_enrolled"] == 0 and again["items_created"] <= 1  # an expiring item may be renewed
    assert again["lessons_completed"] == 0, again
    # ... and imports no history twice.
    assert again["advocates_imported"] == 0 and again["history_items_imported"] == 0, again
    assert again["history_shares_imported"] == 0, again
    assert again["history_shares_existing"] == seeded["history_shares_imported"], again


def past_cohorts(cli, this_month: str, enrolled: int) -> list[dict] | None:
    """The programme's cohorts of months before this one, once they hold the `enrolled` advocates
    imported with a past month's enrolment (only the history import enrols anybody in the past)
    and some of them have shared."""
    past = [c for c in cli.json("analytics", "health").get("cohorts", []) if c["month"] < this_month]
    complete = sum(int(c["enrolled"]) for c in past) == enrolled and any(int(c.get("shared", 0)) for c in past)
    return past if complete else None


def replay_process(platform: Platform, service: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "replay", service, "--timeout", "150"],
        env={**os.environ, **env_of(platform)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_replay_refuses_while_the_worker_runs(cli):
    result = cli("replay", "analytics", "--no-wait", code=2)
    assert "worker is running" in result.output and "stop it first" in result.output


def test_replay_rebuilds_lost_analytics_documents_and_doubles_no_rewards(cli, platform: Platform, world):
    totals = program(cli)["totals"]
    assert int(totals["shares"]) > 0

    def board_now() -> dict[str, str]:
        return {r["key"]: r["points"] for r in cli.json("leaderboard", "--limit", "500")["rows"]}

    def settled_board() -> dict[str, str] | None:
        # A board may be up to the cache's ttl (1 s here) plus a computation behind the ledger:
        # the board to compare with is one that two reads 2.5 s apart agree on.
        first = board_now()
        time.sleep(2.5)
        second = board_now()
        return second if second == first else None

    board = eventually(settled_board, timeout=60)
    assert board is not None
    balance = cli.json("points", "--as", world["advocate"])
    # Both workers stopped at once (one restart cycle keeps the test short).
    platform.stop()  # every service; content and share come back untouched
    # Lose the analytics documents: every fact and every rollup document is gone (the worker's
    # records, on its disk and changelog, remain: the replay writes their documents again).
    with MongoClient(platform.env["ADVOCACY_MONGO_URL"]) as mongo:
        for collection in ("facts", "rollups"):
            mongo[platform.env["ADVOCACY_MONGO_DB"]][collection].delete_many({})
    procs = {name: replay_process(platform, name) for name in ("analytics", "rewards")}
    for name, proc in procs.items():
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "rewound" in first, f"{name}: {first}{proc.stderr.read() if proc.stderr else ''}"
    platform.start(timeout=120)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=200)
        assert proc.returncode == 0, f"{name}: {out}{err}"
        assert "has processed all" in out
    rebuilt = eventually(lambda: (t := program(cli)["totals"])["shares"] == totals["shares"] and t, timeout=30)
    assert rebuilt, program(cli)
    for key in ("shares", "potential_reach", "unique_clicks", "reactions", "comments", "impressions_reported"):
        assert rebuilt.get(key) == totals.get(key), key  # restored, and nothing counted twice
    # Rewards re-read every event: the same balances, nothing awarded twice.
    assert cli.json("points", "--as", world["advocate"]) == balance
    assert eventually(lambda: board_now() == board, timeout=30), (board_now(), board)


def test_notification_settings_and_opt_out(cli):
    """`advocacy notifications`: an advocate's settings (the defaults until they set their own), and
    --opt-out turning everything off through the notify service."""
    me = "cli-notify-advocate"
    shown = cli.json("notifications", "--as", me)
    assert shown["company_default"] is True and shown["preferences"]["opted_out"] is False
    assert "topic" in cli("notifications", "--as", me).stdout
    assert "OPTED OUT" in cli("notifications", "--as", me, "--opt-out").stdout
    after = cli.json("notifications", "--as", me)
    assert after["preferences"]["opted_out"] is True and after["company_default"] is False


def test_history_import_from_json_lines_files(cli, tmp_path: Path):
    """`advocacy import content|advocates|shares FILE.jsonl`: entries in the protos' JSON form, sent in
    batches; a second run records nothing; a refused batch is named by its lines."""
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)

    def iso(days_ago: float) -> str:
        return (now - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")

    def write(name: str, entries: list[dict]) -> str:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in entries) + "\n\n")  # a blank line is skipped
        return str(path)

    content = write(
        "content",
        [
            {
                "import_key": f"cli-{tag}",
                "item": {"title": "From the old tool", "url": f"https://example.com/old/{tag}"},
                "published_at": iso(40),
            }
        ],
    )
    people = [f"cli-imp-{tag}-{n}" for n in range(2)]
    advocates = write(
        "advocates",
        [
            {
                "advocate": {
                    "profile": {"advocate_id": a, "team": "cli"},
                    "networks": [{"network": "NETWORK_X", "audience_size": 90}],
                },
                "enrolled_at": iso(30),
            }
            for a in people
        ],
    )
    item_id = imported_content_id(f"cli-{tag}")
    past = [
        {
            "idempotency_key": "old-1",
            "advocate_id": a,
            "network": "NETWORK_X",
            "shared_at": iso(20),
            "content_id": item_id,
        }
        for a in people
    ] + [
        {
            "idempotency_key": "old-2",
            "advocate_id": people[0],
            "network": "NETWORK_X",
            "shared_at": iso(10),
            "own_post_url": "https://example.org/mine",
        }
    ]
    shares = write("shares", past)
    ids = {f"cli-{tag}": item_id}  # the content id the shares file refers to, printed by the import
    for kind, path, count in (("content", content, 1), ("advocates", advocates, 2), ("shares", shares, 3)):
        extra = {"content_ids": ids} if kind == "content" else {}
        assert cli.json("import", kind, path) == {"entries": count, "created": count, "existing": 0, **extra}
        assert cli.json("import", kind, path) == {"entries": count, "created": 0, "existing": count, **extra}
    early = write("early", [{**past[0], "idempotency_key": "old-3", "shared_at": iso(35)}])
    refused = cli("import", "shares", early, code=2)
    assert "lines 1..1 refused" in refused.output and "not enrolled at shared_at" in refused.output, refused.output
    bad = write("bad", [{"idempotency_key": "x", "no_such_field": 1}])
    assert f"{bad}:1: not an ImportedShare" in cli("import", "shares", bad, code=2).output
