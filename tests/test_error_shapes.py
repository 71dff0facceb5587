"""One table decides the error shape (registry/api/error_shapes.py): routes of ours get JSON wherever they live."""

from __future__ import annotations

from flask import Blueprint

from registry.api.error_shapes import Shape, shape_of
from registry.domain.errors import ProfileNotFound


def test_a_new_get_of_ours_under_the_reference_prefix_answers_json(seeded_db, make_app):
    app = make_app(seeded_db)
    lineage = Blueprint("lineage", __name__, url_prefix="/api/chat/profiles")

    @lineage.get("/<slug>/lineage")
    def profile_lineage(slug: str):  # a route added later, beside the reference's profile routes
        raise ProfileNotFound()

    app.register_blueprint(lineage)
    response = app.test_client().get("/api/chat/profiles/analyst/lineage")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"code": 404, "status": "Not Found", "message": "profile not found"}


def test_the_reference_routes_keep_their_plain_text(seeded_db, make_app):
    client = make_app(seeded_db).test_client()
    missing = client.get("/api/chat/profiles/ghost")
    assert (missing.status_code, missing.get_data(as_text=True)) == (404, "profile not found\n")
    unrouted = client.get("/api/chat/profiles/analyst/nothing-here")
    assert (unrouted.status_code, unrouted.get_data(as_text=True)) == (404, "404 page not found\n")
    head = client.head("/api/chat/profiles/analyst/resolved")
    assert head.status_code == 405 and head.mimetype == "application/json"
    session_miss = client.get("/api/chat/sessions/a/b/c")
    assert (session_miss.status_code, session_miss.get_json()) == (404, {"error": "not found"})


def test_unrouted_requests_go_by_the_path_table():
    assert shape_of("GET", "/api/chat/profiles/x/unknown") is Shape.REFERENCE
    assert shape_of("PATCH", "/api/chat/profiles/x") is Shape.JSON
    assert shape_of("PUT", "/api/chat/profiles/x/resolved") is Shape.JSON
    assert shape_of("GET", "/api/chat/sessions/x/y/z") is Shape.CHAT
    assert shape_of("GET", "/api/nothing") is Shape.JSON
    assert shape_of("GET", "/registries/x") is None
    assert shape_of("GET", "/api/chat/profiles/x/lineage", "lineage") is Shape.JSON
    assert shape_of("GET", "/api/chat/profiles/x", "profiles") is Shape.REFERENCE
