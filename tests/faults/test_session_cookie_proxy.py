"""The dashboard's session cookie over a real `serve` on loopback: `Secure` exactly when the request was HTTPS.

Behind a TLS-terminating proxy the request reaches waitress as plain HTTP; only a proxy named with
`--trusted-proxy` may say otherwise (X-Forwarded-Proto), and `--session-cookie-secure` marks it Secure always.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ._support import ServeProcess, run_serve_expecting_exit

SECRET = "cookie-Token-8c2f41"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def send(url: str, path: str, headers: dict[str, str], form: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """One request without a cookie jar (a jar would not send a Secure cookie over http): status, headers, text."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.build_opener(NoRedirect()).open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def login_cookie(url: str, extra: dict[str, str]) -> str:
    """Log in through the form with `extra` headers on every request; the session cookie the login set."""
    status, headers, page = send(url, "/login", extra)
    assert status == 200, page[:300]
    csrf = re.search(r'name="csrf_token"\s+value="([^"]+)"', page)
    assert csrf, page[:500]
    pre_login = [c.split(";")[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
    status, headers, page = send(
        url,
        "/login",
        {**extra, "Cookie": "; ".join(pre_login)},
        {"csrf_token": csrf.group(1), "token": SECRET, "next": "/"},
    )
    assert status == 303, (status, page[:300])
    cookies = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
    assert len(cookies) == 1, cookies
    return cookies[0]


def is_secure(cookie: str) -> bool:
    return "secure" in [attribute.strip().lower() for attribute in cookie.split(";")[1:]]


HTTPS_FROM_PROXY = {"X-Forwarded-Proto": "https"}


@pytest.mark.parametrize(
    "args, cases",
    [
        # The proxy on loopback is trusted: what it says about the client's scheme decides.
        (
            ["--trusted-proxy", "127.0.0.1"],
            [(HTTPS_FROM_PROXY, True), ({"X-Forwarded-Proto": "http"}, False), ({}, False)],
        ),
        # A proxy elsewhere is trusted, not this peer: plain loopback http, and a client merely claiming https.
        (["--trusted-proxy", "10.9.8.7"], [({}, False), (HTTPS_FROM_PROXY, False)]),
        # Secure always, even on plain http.
        (["--session-cookie-secure"], [({}, True)]),
    ],
)
def test_session_cookie_is_secure_exactly_when_the_request_was_https(
    tmp_path: Path, args: list[str], cases: list[tuple[dict[str, str], bool]]
) -> None:
    server = ServeProcess(args, tmp_path, PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}")
    try:
        for headers, secure in cases:
            cookie = login_cookie(server.url, headers)
            assert is_secure(cookie) is secure, (args, headers, cookie)
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        server.stop()


def test_proxy_flags_are_checked_as_parsed(tmp_path: Path) -> None:
    for args, fragment in (
        (["--trusted-proxy", "proxy.example"], "not an IP address"),
        (["--trusted-proxy", "127.0.0.1", "--trusted-proxy-headers", "x-real-ip"], "unknown proxy header x-real-ip"),
        (["--trusted-proxy-headers", "x-forwarded-for"], "--trusted-proxy-headers needs --trusted-proxy"),
    ):
        done = run_serve_expecting_exit(args, tmp_path)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert fragment in done.stderr, done.stderr
