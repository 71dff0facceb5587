"""HTTP errors reach the shape table through flask-smorest's documented hook, registered once."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from registry.api.errors import Api


def test_the_apis_documented_hook_is_the_one_http_error_handler(seeded_db, make_app):
    app = make_app(seeded_db)
    handler = app.error_handler_spec[None][None][HTTPException]
    assert isinstance(getattr(handler, "__self__", None), Api)
    assert handler.__func__ is Api.handle_http_exception
    # The hook answers each family in its shape: the reference's text, the chat JSON, ours, an HTML page.
    client = app.test_client()
    assert client.get("/api/chat/profiles/a/b/c").get_data(as_text=True) == "404 page not found\n"
    assert client.get("/api/nothing-here").get_json()["code"] == 404
    assert client.get("/no-such-page").mimetype == "text/html"
