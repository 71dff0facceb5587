"""The app's JSON provider is Go's encoding: jsonify, flask-smorest and our JSON errors write the reference's bytes."""

from __future__ import annotations

import json

from flask import jsonify


def test_jsonify_writes_go_bytes(seeded_db, make_app):
    app = make_app(seeded_db)
    with app.app_context():
        body = jsonify({"tag": "<b>&</b>", "name": "Zoë", "n": [1, 2.5]}).get_data()
    assert body == '{"tag":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","name":"Zoë","n":[1,2.5]}\n'.encode()


def test_openapi_document_keeps_its_indent_with_go_escapes(seeded_db, make_app):
    raw = make_app(seeded_db).test_client().get("/api/openapi.json").get_data(as_text=True)
    spec = json.loads(raw)
    assert raw.startswith('{\n  "info": {\n    "description": ')  # flask-smorest's indent and order
    assert "/api/chat/profiles" in spec["paths"]
    assert "`GET /api/backups/\\u003cname\\u003e/diff`" in raw  # Flask's own provider writes `<name>`


def test_our_json_errors_are_compact_go_json(seeded_db, make_app):
    response = make_app(seeded_db).test_client().get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith('{"code":404,"status":"Not Found","message":')
