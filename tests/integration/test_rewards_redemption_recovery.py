"""A redemption cut short by a crash between its steps (intent, stock claim, wallet debit) ends
consistent: the recovery sweep completes it when the debit was written, and otherwise rolls it back
(the stock unit is given back, nothing is debited). The crashes are real: a process SIGKILLs
itself right after a step's write, on the real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from pymongo import AsyncMongoClient

from services.rewards.adapters.ledger import LedgerRepository
from services.rewards.adapters.redemption import Interrupted, Recovery, Redemptions
from services.rewards.adapters.store import CatalogRepository, WalletRepository
from tests.conftest import ROOT
from tests.integration.test_rewards_ledger import entry

# Runs one redemption in its own process and SIGKILLs that process right after step `argv[3]`.
CRASHING_REDEMPTION = """
import asyncio, os, signal, sys
from pymongo import AsyncMongoClient
from services.rewards.adapters.ledger import LedgerRepository
from services.rewards.adapters.redemption import Redemptions
from services.rewards.adapters.store import CatalogRepository, WalletRepository

async def main(url, database, step):
    db = AsyncMongoClient(url, tz_aware=True)[database]
    async def crash(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)
    redemptions = Redemptions(LedgerRepository(db), WalletRepository(db), CatalogRepository(db), fault=crash)
    await redemptions.redeem("aino", "mug", "k1")

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
async def setup(isolated):
    mongo = AsyncMongoClient(isolated.stack.mongo_url, tz_aware=True)
    db = mongo[isolated.database]
    ledger, wallets, catalog = LedgerRepository(db), WalletRepository(db), CatalogRepository(db)
    await ledger.ensure_indexes()
    await wallets.ensure_indexes()
    await catalog.ensure_indexes()
    await catalog.upsert("mug", "Mug", cost=30, stock=3)
    await wallets.credit("aino", "e1", 100)
    await ledger.record([entry("e1", "share", 100)])
    yield isolated, db, Redemptions(ledger, wallets, catalog)
    await mongo.close()


def crash_after(isolated, step: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_REDEMPTION, isolated.stack.mongo_url, isolated.database, step],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode


async def state(redemptions: Redemptions) -> tuple[int, int, int]:
    """(stock, wallet balance, ledger balance)."""
    item = await redemptions.catalog.get("mug")
    assert item is not None
    return item["stock"], await redemptions.wallets.balance("aino"), (await redemptions.ledger.balance("aino"))[0]


@pytest.mark.parametrize(
    ("step", "completed", "after"),
    [
        ("pending", False, (3, 100, 100)),  # only the intent was written: rolled back
        ("claimed", False, (3, 100, 100)),  # a unit claimed, nothing debited: the unit comes back
        ("debited", True, (2, 70, 70)),  # debited, no ledger entry yet: completed
    ],
)
async def test_a_redemption_killed_after_a_step_is_completed_or_rolled_back(setup, step, completed, after):
    isolated, _, redemptions = setup
    assert crash_after(isolated, step) == -9  # SIGKILL
    stock, _, _ = await state(redemptions)
    assert stock == (3 if step == "pending" else 2)  # the crash left its claim (if any) behind
    report = await redemptions.recover(older_than_seconds=0)
    assert (report.completed, report.compensated) == ((1, 0) if completed else (0, 1))
    assert await state(redemptions) == after
    assert await redemptions.recover(older_than_seconds=0) == Recovery()  # nothing left to do
    if completed:  # the client's retry gets the redemption that happened
        again = await redemptions.redeem("aino", "mug", "k1")
        assert not again.created and again.balance == 70 and again.entry["points"] == -30
    else:  # the client's retry learns it was rolled back; a new key redeems normally
        with pytest.raises(Interrupted):
            await redemptions.redeem("aino", "mug", "k1")
        assert (await redemptions.redeem("aino", "mug", "k2")).created
        assert await state(redemptions) == (2, 70, 70)


async def test_a_retry_before_the_sweep_resumes_the_redemption_with_its_own_unit(setup):
    isolated, _, redemptions = setup
    assert crash_after(isolated, "claimed") == -9
    assert (await state(redemptions))[0] == 2
    done = await redemptions.redeem("aino", "mug", "k1")
    assert done.created and done.balance == 70
    assert await state(redemptions) == (2, 70, 70)  # the claimed unit was reused, not a second one
    assert await redemptions.recover(older_than_seconds=0) == Recovery()


async def test_the_sweep_and_a_slow_attempt_never_both_win(setup):
    """The sweep rolls back an attempt that is only slow (it passed the age limit while still
    running): the wallet's unique key lets exactly one of the void and the debit in."""
    _, db, redemptions = setup
    sweeper = Redemptions(redemptions.ledger, WalletRepository(db), redemptions.catalog)

    async def sweep_while_claimed(name: str) -> None:
        if name == "claimed":
            report = await sweeper.recover(older_than_seconds=0)
            assert report.compensated == 1

    slow = Redemptions(redemptions.ledger, WalletRepository(db), redemptions.catalog, fault=sweep_while_claimed)
    with pytest.raises(Interrupted):
        await slow.redeem("aino", "mug", "k1")
    assert await state(redemptions) == (3, 100, 100)


async def test_concurrent_sweeps_and_retries_agree(setup):
    isolated, _, redemptions = setup
    assert crash_after(isolated, "debited") == -9
    results = await asyncio.gather(
        redemptions.recover(older_than_seconds=0),
        redemptions.recover(older_than_seconds=0),
        redemptions.redeem("aino", "mug", "k1"),
    )
    assert results[2].balance == 70 and not results[2].created
    assert await state(redemptions) == (2, 70, 70)
