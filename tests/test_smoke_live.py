"""The fixtures themselves: a seeded database served by a real waitress server."""

import json
import urllib.request


def test_seeded_database_is_served_over_http(seeded_db, make_app, live_server):
    server = live_server(make_app(seeded_db))
    with urllib.request.urlopen(server.url + "/api/chat/profiles") as response:
        items = json.load(response)
    assert {item["slug"] for item in items} == {"analyst", "default", "mock_parity"}
