"""Flask's signed-cookie sessions, without building the signer on requests that carry no session cookie.

The API is called far more often than the dashboard, and API clients send no session cookie; Flask's default
interface still builds an itsdangerous serializer (a key derivation) on every request once SECRET_KEY is set.
"""

from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


class LazySecureCookieSessionInterface(SecureCookieSessionInterface):
    """The default session interface; a request without the cookie gets an empty session straight away."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """`Secure` when configured (SESSION_COOKIE_SECURE) or when this request came over HTTPS.

        Behind a proxy that terminates TLS the request reaches waitress as plain HTTP, so either set
        SESSION_COOKIE_SECURE or let the proxy's X-Forwarded-Proto through (waitress's trusted_proxy settings).
        """
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when there is no cookie (as Flask would give), else Flask's own verification."""
        # The environ test first: parsing the Cookie header costs as much as the check saves.
        if app.secret_key and (
            not request.environ.get("HTTP_COOKIE") or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to do for a session nobody touched (every API request); else Flask's own saving."""
        # Flask's version reads seven cookie settings from the config before it finds there is nothing to save.
        if not session and not session.accessed and not session.modified:
            return
        super().save_session(app, session, response)
