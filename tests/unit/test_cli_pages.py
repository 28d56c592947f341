"""The command line's paging: --all follows next_page_token to the end, one page prints the next
token, and `export` writes every page of a series to the file (against in-memory services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from advocacy.analytics.v1 import analytics_pb2
from advocacy.content.v1 import content_pb2
from advocacy.rewards.v1 import rewards_pb2
from typer.testing import CliRunner

import services.cli.__main__ as cli

runner = CliRunner()


class Paged:
    """A List RPC over `items`: the token is the index of the next element."""

    def __init__(self, response: type, field: str, items: list[Any]) -> None:
        self.response, self.field, self.items = response, field, items
        self.requests: list[Any] = []

    def __call__(self, request: Any, timeout: float | None = None) -> Any:
        self.requests.append(request)
        start = int(request.page_token or 0)
        end = start + (request.page_size or 2)
        token = str(end) if end < len(self.items) else ""
        return self.response(**{self.field: self.items[start:end]}, next_page_token=token)


class Service:
    def __init__(self, **methods: Any) -> None:
        self.__dict__.update(methods)


class FakeClients:
    timeout = 10.0

    def __init__(self) -> None:
        entries = [rewards_pb2.LedgerEntry(entry_id=f"e{i}", rule="share", points=10) for i in range(7)]
        self.ledger = Paged(rewards_pb2.ListLedgerResponse, "entries", entries)
        items = [rewards_pb2.CatalogItem(item_id=f"i{i}", name="Mug", cost=5) for i in range(5)]
        self.catalog = Paged(rewards_pb2.ListCatalogResponse, "items", items)
        sources = [content_pb2.FeedSource(source_id=f"s{i}", url="https://example.com/f.xml") for i in range(3)]
        self.sources = Paged(content_pb2.ListSourcesResponse, "sources", sources)
        self.exports: list[analytics_pb2.GetStatsRequest] = []
        self.rewards = Service(ListLedger=self.ledger, ListCatalog=self.catalog)
        self.content = Service(ListSources=self.sources)
        self.analytics = Service(ExportStatsCsv=self.export)

    def export(self, request: analytics_pb2.GetStatsRequest, timeout: float | None = None) -> analytics_pb2.CsvExport:
        """Three pages of 2, 2 and 1 windows, a row each; the header on the first only."""
        self.exports.append(analytics_pb2.GetStatsRequest.FromString(request.SerializeToString()))
        page = int(request.page_token or 0)
        csv = ("window_start,shares\r\n" if page == 0 else "") + f"2026-12-0{page + 1},{page}\r\n"
        token = str(page + 1) if page < 2 else ""
        return analytics_pb2.CsvExport(filename="f.csv", csv=csv, next_page_token=token, total_windows=5)

    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClients:
    clients = FakeClients()
    monkeypatch.setattr(cli.Clients, "from_env", classmethod(lambda cls, **kw: clients))
    return clients


def run(*args: str) -> Any:
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_all_follows_every_page_of_the_ledger(fake: FakeClients):
    result = run("--json", "history", "--as", "aino", "--page-size", "3", "--all")
    assert [e["entry_id"] for e in json.loads(result.stdout)] == [f"e{i}" for i in range(7)]
    assert [r.page_token for r in fake.ledger.requests] == ["", "3", "6"]
    assert "next_page_token" not in result.stderr


def test_one_page_prints_the_next_token_and_page_token_continues(fake: FakeClients):
    first = run("--json", "history", "--as", "aino", "--page-size", "3")
    assert [e["entry_id"] for e in json.loads(first.stdout)] == ["e0", "e1", "e2"]
    assert "next_page_token: 3" in first.stderr and "--page-token 3" in first.stderr
    last = run("--json", "history", "--as", "aino", "--page-size", "3", "--page-token", "6")
    assert [e["entry_id"] for e in json.loads(last.stdout)] == ["e6"] and not last.stderr


@pytest.mark.parametrize(
    ("args", "field", "expected"),
    [
        (("catalog", "list"), "item_id", [f"i{i}" for i in range(5)]),
        (("sources", "list"), "source_id", ["s0", "s1", "s2"]),
    ],
)
def test_catalogue_and_sources_list_every_page_with_all(fake: FakeClients, args, field, expected):
    result = run("--json", *args, "--all")
    assert [x[field] for x in json.loads(result.stdout)] == expected
    assert len(json.loads(run("--json", *args).stdout)) == 2  # one page of the service's default


def test_export_writes_every_page_to_the_file_with_one_header(fake: FakeClients, tmp_path: Path):
    out = tmp_path / "series.csv"
    result = run("--json", "export", "program", "--granularity", "hour", "--page-size", "2", "--out", str(out))
    assert out.read_text() == "window_start,shares\n2026-12-01,0\n2026-12-02,1\n2026-12-03,2\n"
    assert json.loads(result.stdout) == {"file": str(out), "rows": 3, "filename": "f.csv"}
    assert [(r.page_size, r.page_token) for r in fake.exports] == [(2, ""), (2, "1"), (2, "2")]
    stdout = run("export", "program", "--granularity", "hour", "--start", "2026-12-01")
    assert stdout.stdout.count("window_start") == 1 and stdout.stdout.count("2026-12-0") == 3
    assert fake.exports[-1].start.seconds > 0 and fake.exports[-1].page_size == 168
