"""A read-only instance (no `--writable`) offers no Restore button that would only answer 403; it says why."""

from __future__ import annotations

import re
from pathlib import Path

from registry.web.auth import AdminToken

SECRET = "dash-Token-41b7"


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def overview_after_a_backup(make_app, tmp_path: Path, writable: bool):  # type: ignore[no-untyped-def]
    """Log in, take a snapshot (allowed with the token alone), and return the client, the overview and the name."""
    tmp_path.mkdir()
    app = make_app(
        tmp_path / "p.db", ADMIN_TOKENS=[AdminToken("alice", SECRET)], BACKUP_DIR=str(tmp_path / "b"), WRITABLE=writable
    )
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"csrf_token": csrf_in(page), "token": SECRET, "next": "/"}).status_code == 303
    csrf = csrf_in(client.get("/").get_data(as_text=True))
    assert client.post("/backups", data={"csrf_token": csrf}).status_code == 303
    page = client.get("/").get_data(as_text=True)
    snapshot = re.search(r'data-name="(p\.db\.bak\.[^"]+)"', page)
    assert snapshot, page
    return client, page, snapshot.group(1)


HINT = "Restore needs <code>serve --writable</code>"


def test_a_read_only_dashboard_shows_no_restore_button_and_says_why(tmp_path: Path, make_app) -> None:
    client, page, name = overview_after_a_backup(make_app, tmp_path / "read-only", writable=False)
    link = f"/backups/{name}/restore"
    assert link not in page and ">Restore…<" not in page, page
    assert HINT in page
    assert client.get(link).status_code == 403  # the route itself still refuses, should anyone type its address
    # The same snapshot list on a writable instance offers the button, and no such line.
    client, page, name = overview_after_a_backup(make_app, tmp_path / "writable", writable=True)
    assert f"/backups/{name}/restore" in page and HINT not in page
    assert client.get(f"/backups/{name}/restore").status_code == 200
