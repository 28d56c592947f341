"""`advocacy admin token|claims` (formerly `python -m services.common.auth token|claims`): the token
printed is one the services accept, claims decodes it, and the exit codes are the old tool's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from services.cli.__main__ import app
from services.common.auth import TokenVerifier

runner = CliRunner()
KEY = "k" * 40


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # The key the local platform would verify with; the checkout's dev key file stays untouched.
    monkeypatch.delenv("ADVOCACY_TOKEN", raising=False)
    return {"ADVOCACY_AUTH_HS256_KEY": KEY}


def test_token_is_accepted_by_the_services_verifier_and_claims_decodes_it(env):
    minted = runner.invoke(app, ["admin", "token", "--role", "advocate", "--sub", "aino", "--ttl", "600"], env=env)
    assert minted.exit_code == 0, minted.output
    token = minted.stdout.strip()
    assert "\n" not in token  # `export ADVOCACY_TOKEN=$(advocacy admin token ...)` takes it as it is
    caller = TokenVerifier(hs256_key=KEY).verify(token)
    assert (caller.subject, caller.role) == ("aino", "advocate")
    claims = runner.invoke(app, ["admin", "claims"], env={**env, "ADVOCACY_TOKEN": token})
    assert claims.exit_code == 0, claims.output
    decoded = json.loads(claims.stdout)
    assert decoded["sub"] == "aino" and decoded["role"] == "advocate" and decoded["exp"] - decoded["iat"] == 600


def test_token_as_json(env):
    result = runner.invoke(app, ["--json", "admin", "token", "--role", "admin", "--sub", "alice"], env=env)
    assert result.exit_code == 0, result.output
    assert TokenVerifier(hs256_key=KEY).verify(json.loads(result.stdout)["token"]).role == "admin"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["admin", "token", "--role", "boss", "--sub", "a"], 2, "--role one of admin, advocate, service"),
        (["admin", "token", "--role", "admin"], 2, "--sub"),
        (["admin", "claims"], 1, "ADVOCACY_TOKEN is not set"),
        (["--token", "not-a-jwt", "admin", "claims"], 1, "not a JWT"),
        (["dlq", "list", "--topic", "no-such-topic"], 1, "unknown topic 'no-such-topic'"),
        (["dlq", "replay", "--topic", "no-such-topic"], 1, "unknown topic"),
    ],
)
def test_refusals_give_one_line_and_the_old_exit_codes(env, args, code, message):
    result = runner.invoke(app, args, env={**env, "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output
