"""The dashboard's admin login and CSRF tokens, kept in Flask's signed session cookie.

The session holds only the actor's name, the login's nonce and the CSRF token, never the admin token itself. A
signed cookie alone cannot be revoked, so each login also gets a random nonce that the server keeps in memory
(LiveLogins) and checks on every request: logging out forgets it, so a copy of the cookie taken before is worthless,
and a restart forgets all of them, so logins end at restart even with a configured SECRET_KEY. A login also ends
when the actor no longer has a configured token or when the browser session ends.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections import OrderedDict

from flask import current_app, request, session

from registry.web.app_state import app_state
from registry.web.auth import CONFIG_KEY, AdminToken, match_token

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
_ACTOR = "actor"
_LOGGED_IN = "logged_in"
_CSRF = "csrf"
_NONCE = "login"
# Logins kept at once; beyond, the oldest ends (its browser is asked to log in again).
MAX_LIVE_LOGINS = 1000


class LiveLogins:
    """The nonces of the logins this process accepted and that have not logged out, oldest first."""

    def __init__(self, limit: int = MAX_LIVE_LOGINS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._nonces: OrderedDict[str, None] = OrderedDict()

    def start(self) -> str:
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            self._nonces[nonce] = None
            while len(self._nonces) > self.limit:
                self._nonces.popitem(last=False)
        return nonce

    def is_live(self, nonce: object) -> bool:
        with self._lock:
            return isinstance(nonce, str) and nonce in self._nonces

    def end(self, nonce: object) -> None:
        with self._lock:
            if isinstance(nonce, str):
                self._nonces.pop(nonce, None)


def _logins() -> LiveLogins:
    return app_state().part(LiveLogins)


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
    if not session.get(_LOGGED_IN) or not _logins().is_live(session.get(_NONCE)):
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
    session[_NONCE] = _logins().start()
    session[_CSRF] = secrets.token_urlsafe(32)
    log.info("dashboard login by %s from %s", actor, request.remote_addr)
    return actor


def log_out() -> None:
    """End the login on the server (its nonce) and forget it and the CSRF token in the cookie."""
    _logins().end(session.get(_NONCE))
    session.clear()
