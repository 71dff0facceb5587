"""registry.web.signed_cookie: no signer is built for a request without a session cookie; signed sessions still
work."""

from __future__ import annotations

from flask import session

from registry.web.signed_cookie import LazySecureCookieSessionInterface


def test_no_signer_without_a_session_cookie_and_round_trip_with_one(seeded_db, make_app, monkeypatch):
    app = make_app(seeded_db)
    assert isinstance(app.session_interface, LazySecureCookieSessionInterface)
    built = []
    original = LazySecureCookieSessionInterface.get_signing_serializer

    def spy(self, flask_app):
        built.append(1)
        return original(self, flask_app)

    monkeypatch.setattr(LazySecureCookieSessionInterface, "get_signing_serializer", spy)

    @app.get("/_set")
    def set_value():
        session["who"] = "alice"
        return "set"

    @app.get("/_get")
    def get_value():
        return session.get("who", "nobody")

    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/chat/profiles").status_code == 200
    assert built == []
    assert client.get("/_set").data == b"set"
    assert client.get("/_get").data == b"alice"
    client.set_cookie("session", "forged.value.sig")
    assert client.get("/_get").data == b"nobody"
