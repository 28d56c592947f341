"""The award agent's decoding of its internal redemption-request topic: requests, sweep requests
(app/processor.py) and poison."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from services.rewards.app.incoming import REDEMPTION_KIND, SWEEP_KIND
from services.rewards.stream.decode import REDEMPTION_REQUESTS, decode, sweep_message


def event(value: bytes, key: bytes | None = None, partition: int = 3, offset: int = 7) -> SimpleNamespace:
    message = SimpleNamespace(topic="p-rewards-redemption-requests", partition=partition, offset=offset, key=key)
    message.timestamp = 1_760_000_000.0
    return SimpleNamespace(value=value, message=message)


def test_a_sweep_request_names_no_advocate_and_keeps_its_partition_and_offset():
    got = decode(event(sweep_message()), REDEMPTION_REQUESTS)
    assert (got.kind, got.advocate_id, got.partition, got.offset) == (SWEEP_KIND, "", 3, 7)
    assert got.source == "p-rewards-redemption-requests/3"


def test_a_redemption_request_is_the_keyed_advocate_s():
    body = json.dumps({"key": "k1", "request_id": "r1", "item_id": "mug", "cost": 20}).encode()
    got = decode(event(body, key=b"aino"), REDEMPTION_REQUESTS)
    assert (got.kind, got.advocate_id, got.source_id) == (REDEMPTION_KIND, "aino", "k1")
    assert got.redemption is not None and got.redemption.cost == 20


@pytest.mark.parametrize("value", [b"not json", b'{"sweep": "yes"}', b'{"key": "k1"}', b"[1, 2]"])
def test_anything_else_is_poison(value: bytes):
    with pytest.raises(ValueError):
        decode(event(value, key=b"aino"), REDEMPTION_REQUESTS)
