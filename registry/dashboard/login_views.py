"""The dashboard's login: the admin token form, logging in (the token checked in constant time, only the actor kept
in the signed session) and out. The token checks themselves are in login_cookie.py."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from registry.dashboard import login_cookie as admin
from registry.dashboard.blueprint import bp


def _safe_next(raw: str | None) -> str:
    """Only a path on this server: an open redirect after login would hand the session to anyone's link."""
    if raw and raw.startswith("/") and not raw.startswith("//") and not urlsplit(raw).netloc and "\\" not in raw:
        return raw
    return url_for("dashboard.overview")


@bp.get("/login")
def login_form() -> str:
    """The admin token form."""
    return render_template(
        "login.html", next=_safe_next(request.args.get("next")), error="", configured=admin.tokens_configured()
    )


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Check the token (constant time); keep only the actor and a login flag in the signed session."""
    admin.check_csrf()
    target = _safe_next(request.form.get("next"))
    if admin.log_in(request.form.get("token", "")) is None:
        error = "That token is not accepted." if admin.tokens_configured() else "No admin token is configured."
        return render_template("login.html", next=target, error=error, configured=admin.tokens_configured()), 401
    return redirect(target, 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the login (CSRF-checked, so another site cannot log the operator out)."""
    admin.check_csrf()
    admin.log_out()
    flash("Logged out.", "info")
    return redirect(url_for("dashboard.overview"), 303)
