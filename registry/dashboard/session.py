"""The dashboard's admin login and CSRF tokens, kept in Flask's signed session cookie.

The session holds only the actor's name, a login flag and the CSRF token, never the admin token itself. A login
ends when the actor no longer has a configured token (token file changed and the service restarted with the same
SECRET_KEY) or when the browser session ends.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import current_app, request, session

from registry.web.auth import CONFIG_KEY, AdminToken, match_token

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
_ACTOR = "actor"
_LOGGED_IN = "logged_in"
_CSRF = "csrf"


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (400)."""


class LoginRequired(Exception):
    """An action was posted without an admin login (403)."""


def _tokens() -> list[AdminToken]:
    return current_app.config.get(CONFIG_KEY) or []


def tokens_configured() -> bool:
    """True when at least one admin token exists, so logging in is possible at all."""
    return bool(_tokens())


def current_actor() -> str | None:
    """The logged-in actor, or None; a login whose actor has no token any more counts as logged out."""
    if not session.get(_LOGGED_IN):
        return None
    actor = session.get(_ACTOR)
    if not isinstance(actor, str) or actor not in {t.actor for t in _tokens()}:
        return None
    return actor


def csrf_token() -> str:
    """This session's CSRF token, created on first use (the login form needs one before anyone is logged in)."""
    token = session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF] = token
    return token


def check_csrf() -> None:
    """Refuse the current POST unless its form carries this session's CSRF token (compared in constant time)."""
    expected = session.get(_CSRF)
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning(
            "refused %s %s from %s: missing or wrong CSRF token", request.method, request.path, request.remote_addr
        )
        raise CsrfRefused("the form's CSRF token is missing or does not match this session; reload the page and retry")


def require_login() -> str:
    """The actor for an action POST: CSRF first (a forged request learns nothing), then the login."""
    check_csrf()
    actor = current_actor()
    if actor is None:
        log.warning("refused %s %s from %s: not logged in", request.method, request.path, request.remote_addr)
        raise LoginRequired("log in with an admin token to back up or restore")
    return actor


def log_in(candidate: str) -> str | None:
    """Check a token typed into the login form; on success start a fresh session and return the actor."""
    actor = match_token(candidate.strip(), _tokens()) if candidate.strip() else None
    if actor is None:
        log.warning("dashboard login refused from %s: wrong token", request.remote_addr)
        return None
    # A new session (and CSRF token) at login, so a token planted before login is worthless afterwards.
    session.clear()
    session[_LOGGED_IN] = True
    session[_ACTOR] = actor
    session[_CSRF] = secrets.token_urlsafe(32)
    log.info("dashboard login by %s from %s", actor, request.remote_addr)
    return actor


def log_out() -> None:
    """Forget the login and the CSRF token."""
    session.clear()
