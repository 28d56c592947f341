"""The authorization table covers every RPC, and tokens are verified the way the services rely on."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from advocacy.analytics.v1 import analytics_pb2
from advocacy.content.v1 import content_pb2, training_pb2
from advocacy.notify.v1 import notify_pb2
from advocacy.rewards.v1 import rewards_pb2
from advocacy.share.v1 import share_pb2
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.descriptor import FieldDescriptor
from grpc_interceptor.exceptions import PermissionDenied

from services.common.auth import (
    ADMIN,
    ADVOCATE,
    SERVICE,
    Caller,
    InvalidToken,
    TokenVerifier,
    authorize,
    bearer_token,
    mint_token,
)
from services.common.policy import LEADERBOARD_PUBLIC, POLICY

KEY = "k" * 40
FILES = (content_pb2, training_pb2, share_pb2, rewards_pb2, analytics_pb2, notify_pb2)


def all_methods():
    for module in FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


def test_every_rpc_of_every_service_has_a_policy_entry():
    methods = dict(all_methods())
    missing = sorted(set(methods) - set(POLICY))
    assert not missing, f"RPCs without an authorization policy (add them to services/common/policy.py): {missing}"
    stale = sorted(set(POLICY) - set(methods))
    assert not stale, f"policy entries for RPCs that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(POLICY))
def test_self_fields_name_a_string_field_of_the_request(name):
    rule = POLICY[name]
    if rule.self_field is None:
        return
    descriptor = dict(all_methods())[name].input_type
    *parents, leaf = rule.self_field.split(".")
    for part in parents:
        descriptor = descriptor.fields_by_name[part].message_type
    assert descriptor.fields_by_name[leaf].type == FieldDescriptor.TYPE_STRING


def test_advocates_act_only_as_themselves():
    rule = POLICY["/advocacy.share.v1.ShareService/RecordShare"]
    own = share_pb2.RecordShareRequest(advocate_id="ada")
    authorize(rule, Caller("ada", ADVOCATE), own, "RecordShare")
    with pytest.raises(PermissionDenied, match="advocate_id"):
        authorize(rule, Caller("bob", ADVOCATE), own, "RecordShare")
    authorize(rule, Caller("portal", SERVICE), own, "RecordShare")
    nested = POLICY["/advocacy.share.v1.ShareService/UpdateProfile"]
    with pytest.raises(PermissionDenied, match=r"profile\.advocate_id"):
        authorize(nested, Caller("bob", ADVOCATE), share_pb2.UpdateProfileRequest(), "UpdateProfile")


def test_admin_only_rpcs_refuse_other_roles():
    rule = POLICY["/advocacy.rewards.v1.RewardsService/PutRuleSet"]
    authorize(rule, Caller("root", ADMIN), rewards_pb2.PutRuleSetRequest(), "PutRuleSet")
    for role in (ADVOCATE, SERVICE):
        with pytest.raises(PermissionDenied, match="may not call"):
            authorize(rule, Caller("x", role), rewards_pb2.PutRuleSetRequest(), "PutRuleSet")


def test_leaderboard_shows_advocates_only_listed_fields():
    board = rewards_pb2.Leaderboard(rows=[rewards_pb2.LeaderboardRow(rank=1, key="ada", points=5)], first_day="x")
    LEADERBOARD_PUBLIC(board)
    assert board.rows[0].key == "ada" and board.rows[0].points == 5 and board.first_day == "x"
    # A field not on the public list is cleared: simulate one by narrowing with an empty list.
    from services.common.policy import public_fields

    public_fields({"advocacy.rewards.v1.LeaderboardRow": frozenset({"rank"})})(board)
    assert board.rows[0].rank == 1 and board.rows[0].key == "" and board.rows[0].points == 0


def test_hs256_tokens_verified_with_expiry_and_claims():
    verifier = TokenVerifier(KEY, leeway_seconds=5)
    assert verifier.verify(mint_token(KEY, "ada", ADVOCATE)) == Caller("ada", ADVOCATE)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(mint_token(KEY, "ada", ADVOCATE, ttl_seconds=-60))
    assert verifier.verify(mint_token(KEY, "ada", ADVOCATE, ttl_seconds=-2)).subject == "ada"  # within leeway
    with pytest.raises(InvalidToken, match="invalid token"):
        verifier.verify(mint_token("o" * 40, "ada", ADVOCATE))
    bad_role = jwt.encode({"sub": "a", "role": "root", "exp": time.time() + 60}, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken, match="role"):
        verifier.verify(bad_role)
    no_exp = jwt.encode({"sub": "a", "role": ADMIN}, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken, match="exp"):
        verifier.verify(no_exp)
    unsigned = jwt.encode({"sub": "a", "role": ADMIN, "exp": time.time() + 60}, None, algorithm="none")
    with pytest.raises(InvalidToken, match="not accepted"):
        verifier.verify(unsigned)
    with pytest.raises(InvalidToken):
        verifier.verify("not.a.jwt")


def test_issuer_and_audience_when_configured():
    verifier = TokenVerifier(KEY, issuer="https://idp", audience="advocacy")
    assert verifier.verify(mint_token(KEY, "a", ADMIN, issuer="https://idp", audience="advocacy")).role == ADMIN
    with pytest.raises(InvalidToken):
        verifier.verify(mint_token(KEY, "a", ADMIN, issuer="https://other", audience="advocacy"))
    with pytest.raises(InvalidToken):
        verifier.verify(mint_token(KEY, "a", ADMIN))


def test_es256_tokens_from_a_jwks_file_and_no_algorithm_confusion():
    private = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwks = jwt.PyJWKSet.from_dict({"keys": [{**public_jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]})
    verifier = TokenVerifier(jwks=jwks)
    claims = {"sub": "ada", "role": ADVOCATE, "exp": time.time() + 60}
    token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})
    assert verifier.verify(token) == Caller("ada", ADVOCATE)
    with pytest.raises(InvalidToken, match="no key"):
        verifier.verify(jwt.encode(claims, private, algorithm="ES256", headers={"kid": "other"}))
    # Without a shared key configured, an HS256 token (e.g. signed with the public key) is refused.
    with pytest.raises(InvalidToken, match="not accepted"):
        verifier.verify(jwt.encode(claims, KEY, algorithm="HS256"))


def test_short_or_missing_keys_fail_at_start_up():
    with pytest.raises(ValueError, match="HS256_KEY or"):
        TokenVerifier()
    with pytest.raises(ValueError, match="at least"):
        TokenVerifier("short")


def test_bearer_metadata():
    assert bearer_token([("x", "y"), ("authorization", "Bearer abc")]) == "abc"
    for metadata in ([], [("authorization", "Basic abc")], [("authorization", "Bearer ")]):
        with pytest.raises(InvalidToken):
            bearer_token(metadata)
