"""The shared page-size and page-token helper of every List RPC."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from grpc_interceptor.exceptions import InvalidArgument

from services.common.paging import decode_token, encode_token, page_size, trim


def test_page_size_zero_is_the_default_and_above_the_maximum_is_refused():
    assert page_size(0, default=50, maximum=500) == 50
    assert page_size(7, default=50, maximum=500) == 7
    assert page_size(500, default=50, maximum=500) == 500
    with pytest.raises(InvalidArgument, match=r"page_size: must be 0\.\.500 \(0 = 50\)"):
        page_size(501, default=50, maximum=500)
    with pytest.raises(InvalidArgument, match="limit: must be"):
        page_size(-1, default=10, maximum=100, field="limit")


def test_a_token_round_trips_its_position_and_is_urlsafe():
    at = datetime(2026, 12, 6, 9, 30, 1, 250_000, tzinfo=UTC)
    token = encode_token([at, "e/1+2", 3, 0.1 + 0.2], scope="aino")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert decode_token(token, (datetime, str, int, float), scope="aino") == [at, "e/1+2", 3, 0.1 + 0.2]


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _raw(["x"]),  # not an object
        _raw({"k": "x"}),
        _raw({"k": ["x", "y"]}),  # one value too many
        _raw({"k": [1]}),  # wrong type
        _raw({"k": [True]}),
        "A" * 3000,
    ],
)
def test_a_token_not_issued_here_is_invalid_argument_naming_page_token(token):
    with pytest.raises(InvalidArgument, match="page_token: not a token this service issued"):
        decode_token(token, (str,))


def test_a_time_key_must_be_an_aware_iso_time_and_a_float_key_finite():
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_token(_raw({"k": ["2026-12-06T09:00:00"]}), (datetime,))
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_token(_raw({"k": ["yesterday"]}), (datetime,))
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_token(base64.urlsafe_b64encode(b'{"k": [NaN]}').decode(), (float,))
    assert decode_token(_raw({"k": [3]}), (float,)) == [3]


def test_a_token_of_another_request_is_refused():
    token = encode_token(["e1"], scope="ledger|aino")
    with pytest.raises(InvalidArgument, match="page_token: issued for a request with other parameters"):
        decode_token(token, (str,), scope="ledger|bob")
    with pytest.raises(InvalidArgument, match="other parameters"):
        decode_token(encode_token(["e1"]), (str,), scope="ledger|bob")


def test_trim_gives_a_token_only_when_a_row_follows_the_page():
    rows = ["a", "b", "c"]
    page, token = trim(rows, 2, lambda r: [r])
    assert page == ["a", "b"] and decode_token(token, (str,)) == ["b"]
    assert trim(rows, 3, lambda r: [r]) == (rows, "")
    assert trim([], 3, lambda r: [r]) == ([], "")


def test_following_tokens_over_a_sorted_collection_yields_every_element_once():
    keys = sorted(f"k{i:03}" for i in range(0, 230, 3))
    seen: list[str] = []
    token = ""
    while True:
        after = decode_token(token, (str,))[0] if token else ""
        rows = [k for k in keys if k > after][: 7 + 1]  # a keyset read with limit size + 1
        page, token = trim(rows, 7, lambda k: [k])
        seen.extend(page)
        if not token:
            break
    assert seen == keys


def test_a_naive_time_is_taken_as_utc():
    token = encode_token([datetime(2026, 12, 6, 9, 0)])
    assert decode_token(token, (datetime,)) == [datetime(2026, 12, 6, 9, 0, tzinfo=UTC)]
