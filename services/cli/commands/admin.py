"""`advocacy admin token|claims`: tokens for the local platform (services/common/auth.py)."""

from __future__ import annotations

import json

import jwt
import typer

from services.cli.context import ToolError, UsageError, handled, state
from services.cli.output import emit_json
from services.common.auth import ROLES, TOKEN_ENV, dev_token

admin_app = typer.Typer(no_args_is_help=True, help="Admin: tokens for the local platform.")


@admin_app.command("token")
@handled
def admin_token(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", help=", ".join(sorted(ROLES))),
    sub: str = typer.Option(..., "--sub", help="Subject: the advocate id for --role advocate."),
    ttl: float = typer.Option(12 * 3600, "--ttl", help="Seconds until it expires."),
) -> None:
    """Print a token for the local platform (export ADVOCACY_TOKEN=$(advocacy admin token ...)),
    signed with ADVOCACY_AUTH_HS256_KEY or this checkout's development key."""
    if role not in ROLES:
        raise UsageError(f"--role one of {', '.join(sorted(ROLES))}")
    token = dev_token(sub, role, ttl_seconds=ttl)
    if state(ctx).json:
        emit_json({"token": token})
    else:
        typer.echo(token)  # plain: `$(...)` takes it as it is


@admin_app.command("claims")
@handled
def admin_claims(ctx: typer.Context) -> None:
    """Decode the token of --token / ADVOCACY_TOKEN (not verified) and print its claims."""
    token = state(ctx).clients.token
    if not token:
        raise ToolError(f"{TOKEN_ENV} is not set")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ToolError(f"{TOKEN_ENV}: not a JWT ({exc})") from None
    typer.echo(json.dumps(claims, indent=2))
