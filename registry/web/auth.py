"""Admin tokens: where they come from (environment or a file, never the command line) and how they are checked.

A token may carry a name (`alice:s3cret`); the name becomes the actor recorded in metadata (`updated_by`).
A bare token is named `admin`. Comparison is constant-time; a rejected token is logged without its value.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flask import current_app, g, request

from registry.domain.errors import ReadOnlyStore, RegistryError, StartupError

log = logging.getLogger(__name__)

TOKEN_ENV = "PROFILE_REGISTRY_TOKEN"
DEFAULT_ACTOR = "admin"
CONFIG_KEY = "ADMIN_TOKENS"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AdminToken:
    """One accepted token and the actor name writes made with it are attributed to."""

    actor: str
    secret: str


class Unauthorized(RegistryError):
    """Missing or wrong bearer token (401)."""


def parse_tokens(text: str, origin: str) -> list[AdminToken]:
    """`name:token` or bare `token`, one per line; blank lines and `#` comments skipped."""
    tokens = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        actor, sep, secret = line.partition(":")
        token = AdminToken(actor.strip(), secret.strip()) if sep else AdminToken(DEFAULT_ACTOR, line)
        if not token.secret or not token.actor:
            raise StartupError(f"{origin}: a token line has an empty name or token")
        tokens.append(token)
    return tokens


def load_tokens(token_file: str | Path | None = None, environ: dict[str, str] | None = None) -> list[AdminToken]:
    """Tokens from `--token-file` and from PROFILE_REGISTRY_TOKEN; StartupError if the file cannot be read."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    tokens: list[AdminToken] = []
    if token_file:
        path = Path(token_file)
        try:
            tokens.extend(parse_tokens(path.read_text(encoding="utf-8"), f"token file {path}"))
        except OSError as exc:
            raise StartupError(f"cannot read token file {path}: {exc.strerror}") from exc
    if env.get(TOKEN_ENV, "").strip():
        tokens.extend(parse_tokens(env[TOKEN_ENV], TOKEN_ENV))
    return tokens


def match_token(candidate: str, tokens: list[AdminToken]) -> str | None:
    """The actor of the matching token, comparing every token in constant time; None if none matches."""
    actor = None
    for token in tokens:
        if hmac.compare_digest(candidate.encode(), token.secret.encode()):
            actor = token.actor
    return actor


def bearer_actor() -> str:
    """The actor of this request's `Authorization: Bearer` token; raises Unauthorized (logged, token never shown)."""
    tokens: list[AdminToken] = current_app.config.get(CONFIG_KEY) or []
    header = request.headers.get("Authorization", "")
    scheme, _, candidate = header.partition(" ")
    candidate = candidate.strip()
    if scheme.lower() != "bearer" or not candidate:
        log.warning("rejected %s %s from %s: no bearer token", request.method, request.path, request.remote_addr)
        raise Unauthorized("missing bearer token")
    actor = match_token(candidate, tokens)
    if actor is None:
        log.warning("rejected %s %s from %s: wrong bearer token", request.method, request.path, request.remote_addr)
        raise Unauthorized("invalid bearer token")
    return actor


def require_writable(view: F) -> F:
    """Decorator for routes that rewrite the database (restore): 403 `store is read-only` unless `serve --writable`.

    Applied outside `require_admin`, so a read-only instance answers 403 before it looks at the token.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_app.config.get("WRITABLE"):
            raise ReadOnlyStore()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_admin(view: F) -> F:
    """Decorator for admin routes: sets `g.actor` from the bearer token or answers 401."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.actor = bearer_actor()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
