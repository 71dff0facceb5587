"""registry.dashboard: pages, login and CSRF, backup/restore actions, HTML errors, chart and formatting helpers."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry import host_os
from registry.dashboard.cache import DashboardCaches
from registry.dashboard.chart import ChartPoint, render_chart
from registry.dashboard.formatting import age, file_size, iso_time, utc_time
from registry.dashboard.pages import health_strip, relation_to_live, schema_properties
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path
from registry.web.app_state import app_state
from registry.web.auth import AdminToken

TOKEN = "s3cret-token-value"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def app(seeded_db, make_app, backup_dir):
    return make_app(seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(backup_dir))


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def log_in(client, token: str = TOKEN):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"token": token, "csrf_token": csrf_of(page), "next": "/"})


def overview_csrf(client) -> str:
    return csrf_of(client.get("/").get_data(as_text=True))


def row_of(html: str, attr: str, value: str) -> str:
    """The <tr> whose data attribute names `value`."""
    match = re.search(rf'<tr[^>]*data-{attr}="{re.escape(value)}".*?</tr>', html, re.DOTALL)
    assert match, f"no row with data-{attr}={value}"
    return match.group(0)


def stored_updated_at(db: Path, slug: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT updated_at_ms FROM profile_registries WHERE slug=?", (slug,)).fetchone()[0]
    finally:
        conn.close()


def stored_payload(db: Path, slug: str) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT payload_json FROM profile_registries WHERE slug=?", (slug,)).fetchone()[0]
    finally:
        conn.close()


# --- read pages ------------------------------------------------------------------------------------------------


def test_overview_lists_registries_with_raw_and_utc_updated_at(client, seeded_db):
    updated = stored_updated_at(seeded_db, "default")
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    row = row_of(html, "slug", "default")
    assert f'<code class="raw">{updated}</code>' in row
    assert utc_time(updated) in row
    assert "Example registry" in row
    assert 'href="/registries/default/profiles/default"' in row  # the default profile
    assert re.search(r'data-label="Profiles" class="num">2<', row)
    assert re.search(r"(just now|\d+ (s|min) ago)", row)


def test_quarantined_registry_is_red_with_reason_while_the_rest_renders(client, seeded_db):
    write_row(seeded_db, "broken", '{"slug": "broken", "profiles": ', 1_760_000_000_123)
    html = client.get("/").get_data(as_text=True)
    bad = row_of(html, "slug", "broken")
    assert 'class="quarantined"' in bad
    assert "payload_json is not valid JSON" in bad
    assert "1760000000123" in bad
    assert row_of(html, "slug", "default")  # the healthy registry is still listed
    assert "degraded" in html and "registry broken is quarantined" in html
    page = client.get("/registries/broken")
    assert page.status_code == 200
    assert "payload_json is not valid JSON" in page.get_data(as_text=True)


def test_registry_page_lists_profiles_with_default_model_stack_and_extension_keys(client):
    html = client.get("/registries/default").get_data(as_text=True)
    default = row_of(html, "slug", "default")
    analyst = row_of(html, "slug", "analyst")
    assert '<span class="badge">default</span>' in default and '<span class="badge">default</span>' not in analyst
    assert "gpt-4o-mini" in default
    # The stack reference may break only after "default/" (<wbr>), never inside a slug.
    assert '<code class="stack-ref"><span>default/</span><wbr><span>default</span></code>' in analyst
    assert 'data-label="Version" class="num">0</td>' in analyst  # unversioned: what expected_version must be
    assert 'gpt-4o-mini <span class="age">via stack</span>' in analyst  # analyst names no model of its own
    assert "webchat.starter_suggestions@v1" in default
    assert "pinocchio.webchat_runtime@v1" in analyst


def test_profile_page_shows_lineage_and_effective_settings(client):
    html = client.get("/registries/default/profiles/analyst").get_data(as_text=True)
    lineage = re.search(r'<ol class="lineage">(.*?)</ol>', html, re.DOTALL).group(1)
    assert lineage.index("default/default") < lineage.index("default/analyst")
    effective = re.search(r'data-testid="effective-settings">(.*?)</pre>', html, re.DOTALL).group(1)
    settings = json.loads(effective.replace("&#34;", '"'))
    # Leaf wins for temperature, the base supplies engine and model_info.
    assert settings["chat"] == {"api_type": "openai", "engine": "gpt-4o-mini", "temperature": 0.0}
    assert settings["model_info"]["cost"] == {"input": 0.15, "output": 0.6}
    stored = re.search(r'data-testid="stored-profile">(.*?)</pre>', html, re.DOTALL).group(1)
    assert json.loads(stored.replace("&#34;", '"'))["stack"] == [{"profile_slug": "default"}]


def test_profile_page_shows_a_stack_cycle_as_a_message_not_an_error_page(make_app, tmp_path):
    db = tmp_path / "cycle.db"
    write_row(db, "a", registry_payload("a", {"x": {"stack": [{"registry_slug": "b", "profile_slug": "y"}]}}))
    write_row(db, "b", registry_payload("b", {"y": {"stack": [{"registry_slug": "a", "profile_slug": "x"}]}}))
    write_row(db, "c", registry_payload("c", {"z": {"stack": [{"registry_slug": "ghost", "profile_slug": "p"}]}}))
    client = make_app(db).test_client()
    response = client.get("/registries/a/profiles/x")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "stack cycle detected: a/x -&gt; b/y -&gt; a/x" in html
    assert "Not available while the stack cannot be resolved" in html
    missing = client.get("/registries/c/profiles/z").get_data(as_text=True)
    assert "referenced registry &#34;ghost&#34; not found" in missing


def test_oauth_secrets_are_redacted_on_the_profile_page(make_app, tmp_path):
    db = tmp_path / "oauth.db"
    secret = {"pinocchio.oauth@v1": {"access_token": "tok-very-secret", "client_id": "visible"}}
    write_row(db, "r", registry_payload("r", {"p": {"extensions": secret}}))
    html = make_app(db).test_client().get("/registries/r/profiles/p").get_data(as_text=True)
    assert "tok-very-secret" not in html
    assert "visible" in html and "&lt;redacted&gt;" in html


def test_schemas_page_shows_properties_types_and_defaults(client):
    html = client.get("/schemas").get_data(as_text=True)
    assert "Agent Mode" in html
    agentmode = re.search(r'id="middleware-agentmode".*?</article>', html, re.DOTALL).group(0)
    assert re.search(
        r"<code>default_mode</code></td><td[^>]*>string</td><td[^>]*><code>&#34;financial_analyst&#34;", agentmode
    )
    assert re.search(r"<code>sanitize_yaml</code></td><td[^>]*>boolean</td><td[^>]*><code>true</code>", agentmode)
    ext = re.search(r'id="extension-middleware.agentmode_config@v1".*?</article>', html, re.DOTALL).group(0)
    assert "<code>instances.&lt;name&gt;.default_mode</code>" in ext
    suggestions = re.search(r'id="extension-webchat.starter_suggestions@v1".*?</article>', html, re.DOTALL).group(0)
    assert re.search(
        r"<code>items</code></td><td[^>]*>array of string</td><td[^>]*><code>\[\]</code></td><td[^>]*>yes", suggestions
    )


def test_health_strip_shows_database_settings_and_a_world_readable_database(client, seeded_db):
    os.chmod(seeded_db, 0o644)
    html = client.get("/").get_data(as_text=True)
    strip = re.search(r'<section class="health.*?</section>', html, re.DOTALL).group(0)
    assert str(seeded_db) in strip
    assert "wal" in strip and "5000 ms" in strip
    assert "1 middleware · 2 extensions" in strip
    if host_os.permissions_are_mode_bits():
        assert "is readable by every user (mode 644)" in strip
    else:  # Windows (or the switch forcing its branches): ACLs decide, the strip points at the README
        assert "is readable by every user" not in strip and "ACL" in strip


def test_health_strip_points_windows_operators_at_the_readme_acl_advice(monkeypatch):
    _, body = 200, {"status": "ok", "databases": [], "catalogs": {"middlewares": 1, "extensions": 2}}
    monkeypatch.setattr(host_os, "WINDOWS", True)
    assert "ACL" in health_strip(body).windows_hint
    monkeypatch.setattr(host_os, "WINDOWS", False)
    assert health_strip(body).windows_hint == ""


def test_pages_are_not_cached_and_allow_no_outside_resources(client):
    response = client.get("/")
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "http" not in csp
    html = response.get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#")), url


# --- errors ------------------------------------------------------------------------------------------------------


def test_unknown_dashboard_paths_get_the_html_404_page_and_the_api_keeps_its_shapes(client):
    for path in ("/nope", "/registries/ghost", "/registries/default/profiles/ghost", "/registries/BAD!/profiles/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        html = response.get_data(as_text=True)
        assert '<link rel="stylesheet" href="/static/dashboard.css">' in html
        assert "404" in html and "Not Found" in html
    api = client.get("/api/chat/profiles/ghost")
    assert api.status_code == 404 and api.get_data(as_text=True) == "profile not found\n"
    assert client.get("/api/nothing-here").mimetype == "application/json"


def test_an_unexpected_failure_is_the_html_500_page(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("registry.dashboard.read_views.registry_rows", explode)
    response = client.get("/")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "500" in html and "Internal Server Error" in html and "boom" not in html
    assert 'href="/static/dashboard.css"' in html


# --- login and CSRF ------------------------------------------------------------------------------------------


def test_without_login_no_action_buttons_and_posts_are_refused(client, backup_dir):
    html = client.get("/").get_data(as_text=True)
    assert "Back up now" not in html and "Restore" not in html
    assert client.post("/backups").status_code == 400  # no CSRF token at all
    csrf = csrf_of(client.get("/login").get_data(as_text=True))
    refused = client.post("/backups", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "log in" in refused.get_data(as_text=True)
    assert (
        backups.list_snapshots(
            target_from_path(
                Path(app_state(client.application).service.sqlite_sources()[0].store.target.path)
            ),
            backup_dir,
        )
        == []
    )


def test_wrong_token_is_refused_and_the_session_keeps_no_token(client, app):
    refused = log_in(client, "wrong")
    assert refused.status_code == 401
    assert "not accepted" in refused.get_data(as_text=True)
    ok = log_in(client)
    assert ok.status_code == 303 and ok.headers["Location"] == "/"
    cookie = client.get_cookie("session")
    assert cookie is not None and TOKEN not in cookie.value
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert set(data) == {"logged_in", "actor", "csrf", "login"}  # login: the nonce the server checks
    assert data["actor"] == "alice" and data["logged_in"] is True
    html = client.get("/").get_data(as_text=True)
    assert "Back up now" in html and "Signed in as <strong>alice</strong>" in html


def test_login_needs_the_csrf_token_and_ignores_outside_next_urls(client):
    assert client.post("/login", data={"token": TOKEN}).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(page), "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_a_logged_in_post_without_the_right_csrf_token_is_refused(client, app, backup_dir, seeded_db):
    log_in(client)
    assert client.post("/backups").status_code == 400
    assert client.post("/backups", data={"csrf_token": "forged"}).status_code == 400
    assert backups.list_snapshots(target_from_path(seeded_db), backup_dir) == []


def test_the_csrf_token_from_before_login_is_worthless_after_it(client):
    before = csrf_of(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"token": TOKEN, "csrf_token": before, "next": "/"})
    assert client.post("/backups", data={"csrf_token": before}).status_code == 400


def test_logout_needs_csrf_and_removes_the_buttons(client):
    log_in(client)
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": overview_csrf(client)}).status_code == 303
    assert "Back up now" not in client.get("/").get_data(as_text=True)


# --- actions -----------------------------------------------------------------------------------------------------


def test_back_up_now_adds_a_verified_snapshot_row(client, backup_dir, seeded_db):
    log_in(client)
    response = client.post("/backups", data={"csrf_token": overview_csrf(client)})
    assert response.status_code == 303
    snapshots = backups.list_snapshots(target_from_path(seeded_db), backup_dir)
    assert len(snapshots) == 1 and snapshots[0].verified
    html = client.get("/").get_data(as_text=True)
    row = row_of(html, "name", snapshots[0].name)
    assert ">yes<" in row  # verified
    assert str(stored_updated_at(seeded_db, "default")) in row
    assert "same as live" in row
    assert f"Snapshot {snapshots[0].name} created" in html
    assert "created" not in client.get("/").get_data(as_text=True)  # a flashed message is shown once
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, re.DOTALL).group(0))
    assert len(svg.findall(f"{SVG_NS}rect")) == 1


def test_snapshot_table_says_older_than_live_after_a_newer_write(client, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    write_row(seeded_db, "later", registry_payload("later", {"p": {}}), 4_000_000_000_000)
    row = row_of(client.get("/").get_data(as_text=True), "name", info.name)
    assert "older than live" in row


def test_a_damaged_snapshot_is_listed_unverified_without_a_restore_button(client, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    with open(info.path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"garbage")
    log_in(client)
    row = row_of(client.get("/").get_data(as_text=True), "name", info.name)
    assert "checksum mismatch" in row and ">no<" in row
    assert "Restore" not in row


def test_restore_confirmation_shows_live_against_snapshot_and_restore_brings_rows_back(client, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    snapshot_ms = stored_updated_at(seeded_db, "default")
    write_row(seeded_db, "default", registry_payload("default", {"only": {}}), snapshot_ms + 5000)
    write_row(seeded_db, "extra", registry_payload("extra", {"p": {}}), snapshot_ms + 9000)
    # Without a login the confirmation page sends the browser to the login form.
    anonymous = client.get(f"/backups/{info.name}/restore")
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/login?next=")
    log_in(client)
    page = client.get(f"/backups/{info.name}/restore")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    default = row_of(html, "slug", "default")
    assert str(snapshot_ms + 5000) in default and str(snapshot_ms) in default
    assert "goes back to the snapshot&#39;s older row" in default
    assert '<span class="gain">+ analyst</span>' in default and '<span class="gain">+ default</span>' in default
    assert '<span class="loss">− only</span>' in default
    extra = row_of(html, "slug", "extra")
    assert "removed: the snapshot does not hold it" in extra and '<span class="loss">− p</span>' in extra
    response = client.post(f"/backups/{info.name}/restore", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    overview = client.get("/").get_data(as_text=True)
    assert "Restored from" in overview
    assert 'data-slug="extra"' not in overview
    assert client.get("/registries/default/profiles/analyst").status_code == 200
    assert (
        len(backups.list_snapshots(target_from_path(seeded_db), backup_dir)) == 2
    )  # the safety snapshot was taken first


def test_restore_confirmation_shows_the_diff_per_profile_collapsed(client, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    payload = json.loads(stored_payload(seeded_db, "default"))
    payload["profiles"]["analyst"]["inference_settings"]["chat"]["temperature"] = 0.9
    payload["profiles"]["analyst"]["extensions"]["pinocchio.oauth@v1"] = {"access_token": "LIVE-SECRET"}
    del payload["profiles"]["default"]
    payload["default_profile_slug"] = "analyst"
    payload["profiles"]["analyst"]["stack"] = []
    write_row(seeded_db, "default", payload, stored_updated_at(seeded_db, "default") + 1000)
    log_in(client)
    html = client.get(f"/backups/{info.name}/restore").get_data(as_text=True)
    assert "LIVE-SECRET" not in html
    section = html[html.index('<section class="diff"') :]
    registry = re.search(r'<div class="diff-registry card" data-registry="default" data-change="changed">', section)
    assert registry is not None
    analyst = re.search(r'<details class="diff-profile" data-profile="analyst" data-change="changed">(.*?)</details>',
                        section, re.DOTALL).group(1)
    temperature = re.search(r'data-path="/inference_settings/chat/temperature" data-op="replace">(.*?)</li>', analyst,
                            re.DOTALL).group(1)
    assert re.search(r'class="diff-value diff-before">.*?0\.9</pre>', temperature, re.DOTALL)
    assert re.search(r'class="diff-value diff-after">.*?0\.0</pre>', temperature, re.DOTALL)
    assert 'data-path="/extensions/pinocchio.oauth@v1" data-op="remove"' in analyst
    assert "&lt;redacted&gt;" in analyst
    assert '<details class="diff-profile" data-profile="default" data-change="added">' in section
    assert 'data-path="/default_profile_slug" data-op="replace"' in section


def test_restore_only_one_profile_from_the_confirmation_page_and_a_stale_page_is_refused(
    app, client, backup_dir, seeded_db
):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    payload = json.loads(stored_payload(seeded_db, "default"))
    payload["profiles"]["analyst"]["description"] = "damaged"
    payload["profiles"]["default"]["description"] = "a colleague's edit"
    shown_ms = stored_updated_at(seeded_db, "default") + 1000
    write_row(seeded_db, "default", payload, shown_ms)
    log_in(client)
    app.config["WRITABLE"] = False
    html = client.get(f"/backups/{info.name}/restore").get_data(as_text=True)
    assert "Restore only this profile" not in html  # partial restores are writes: only with --writable
    app.config["WRITABLE"] = True
    html = client.get(f"/backups/{info.name}/restore").get_data(as_text=True)
    analyst = re.search(r'data-profile="analyst".*?</details>', html, re.DOTALL).group(0)
    form = {
        "csrf_token": csrf_of(html),
        "profile": re.search(r'name="profile" value="([^"]+)"', analyst).group(1),
        "expected.default": re.search(r'name="expected.default" value="([^"]+)"', analyst).group(1),
    }
    assert form["profile"] == "default/analyst" and form["expected.default"] == str(shown_ms)
    # Someone edits the registry after the page was shown: the button's restore is refused, nothing changes.
    write_row(seeded_db, "default", payload, shown_ms + 1)
    stale = client.post(f"/backups/{info.name}/restore", data=form)
    assert stale.status_code == 303 and stale.headers["Location"] == f"/backups/{info.name}/restore"
    page = client.get(stale.headers["Location"]).get_data(as_text=True)
    assert "changed since the diff was shown" in page
    assert json.loads(stored_payload(seeded_db, "default"))["profiles"]["analyst"]["description"] == "damaged"
    form["expected.default"] = str(shown_ms + 1)
    done = client.post(f"/backups/{info.name}/restore", data=form)
    assert done.status_code == 303 and done.headers["Location"] == "/"
    restored = json.loads(stored_payload(seeded_db, "default"))["profiles"]
    assert restored["analyst"].get("description") != "damaged"
    assert restored["default"]["description"] == "a colleague's edit"  # the rest of the registry stayed
    assert "Restored profile default/analyst" in client.get("/").get_data(as_text=True)


def test_a_runbook_cp_backup_without_a_manifest_can_be_restored_after_its_check(client, backup_dir, seeded_db):
    # The runbook's backup: `cp profiles.db profiles.db.bak.<stamp>` into the backup folder (the service
    # checkpoints after every write, so the main file holds every row). The CLI restores such a file after
    # checking it; the dashboard must offer the same.
    backup_dir.mkdir()
    copy = backup_dir / "profiles.db.bak.20260101-000000"
    shutil.copyfile(seeded_db, copy)
    snapshot_ms = stored_updated_at(seeded_db, "default")
    write_row(seeded_db, "default", registry_payload("default", {"only": {}}), snapshot_ms + 5000)
    log_in(client)
    row = row_of(client.get("/").get_data(as_text=True), "name", copy.name)
    assert "no manifest" in row and f'href="/backups/{copy.name}/restore"' in row
    assert 'class="quarantined"' not in row  # a copy to be checked, not a damaged file: not red
    page = client.get(f"/backups/{copy.name}/restore")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    default = row_of(html, "slug", "default")
    assert "goes back to the snapshot&#39;s older row" in default
    assert '<span class="gain">+ analyst</span>' in default and '<span class="loss">− only</span>' in default
    response = client.post(f"/backups/{copy.name}/restore", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    assert f"Restored from {copy.name}" in client.get("/").get_data(as_text=True)
    assert stored_updated_at(seeded_db, "default") == snapshot_ms
    assert client.get("/registries/default/profiles/analyst").status_code == 200


def test_a_manifestless_file_that_fails_its_check_is_refused_on_the_confirmation_page(client, backup_dir, seeded_db):
    backup_dir.mkdir()
    copy = backup_dir / "profiles.db.bak.20260101-000000"
    copy.write_bytes(b"SQLite format 3\x00" + b"\x00" * 1000)
    log_in(client)
    page = client.get(f"/backups/{copy.name}/restore")
    html = page.get_data(as_text=True)
    assert page.status_code != 200 and copy.name in html
    assert "Restore this snapshot" not in html


def test_restore_refuses_without_csrf_and_unknown_names_are_html_404(client, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    log_in(client)
    assert client.post(f"/backups/{info.name}/restore").status_code == 400
    for name in ("profiles.db.bak.20000101-000000", "..%2F..%2Fetc%2Fpasswd", "other.db"):
        response = client.get(f"/backups/{name}/restore")
        assert response.status_code == 404, name
        assert response.mimetype == "text/html"
        refused = client.post(f"/backups/{name}/restore", data={"csrf_token": overview_csrf(client)})
        assert refused.status_code == 404


def test_without_a_sqlite_source_there_is_nothing_to_back_up(make_app, tmp_path):
    source = tmp_path / "only.yaml"
    source.write_text("slug: only\nprofiles:\n  p: {}\n")
    client = make_app(source, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    html = client.get("/").get_data(as_text=True)
    assert "nothing to back up" in html
    log_in(client)
    assert "Back up now" not in client.get("/").get_data(as_text=True)
    assert client.post("/backups", data={"csrf_token": overview_csrf(client)}).status_code == 404


# --- helpers: formatting, chart, schema rows ---------------------------------------------------------------------


def test_age_and_time_formatting():
    now = datetime(2026, 11, 26, 19, 0, 0, tzinfo=UTC)
    ms = int((now - timedelta(minutes=3, seconds=20)).timestamp() * 1000)
    assert age(ms, now) == "3 min ago"
    assert age(now - timedelta(seconds=4), now) == "just now"
    assert age(now - timedelta(hours=5, minutes=59), now) == "5 h ago"
    assert age(now - timedelta(days=1), now) == "1 day ago"
    assert age(now - timedelta(days=12), now) == "12 days ago"
    assert age(now + timedelta(minutes=2), now) == "in 2 min"
    assert age(0, now) == ""
    assert utc_time(1_760_000_000_000) == "2025-10-09 08:53:20 UTC"
    assert iso_time(1_760_000_000_000) == "2025-10-09T08:53:20Z"
    assert utc_time(0) == "never"
    assert (file_size(512), file_size(12_800), file_size(3 * 1024 * 1024)) == ("512 B", "12.5 KiB", "3.0 MiB")


def test_relation_to_live():
    assert relation_to_live(5, 7) == "older"
    assert relation_to_live(9, 7) == "newer"
    assert relation_to_live(7, 7) == "same"
    assert relation_to_live(None, 7) == ""


def test_chart_bars_are_proportional_and_titles_escaped():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        ChartPoint("a<b", t0, 1000, 1_760_000_000_000),
        ChartPoint("c", t0 + timedelta(hours=1), 4000, 1_760_000_100_000),
        ChartPoint("d", t0 + timedelta(hours=2), 2000, None),
    ]
    svg = ET.fromstring(str(render_chart(points)))
    bars = svg.findall(f"{SVG_NS}rect")
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == pytest.approx(4 * heights[0]) and heights[2] == pytest.approx(2 * heights[0])
    assert bars[0].find(f"{SVG_NS}title").text.startswith("a<b:")
    dots = svg.findall(f"{SVG_NS}circle")
    assert len(dots) == 2  # the unreadable snapshot has no point
    assert float(dots[1].get("cy")) < float(dots[0].get("cy"))  # newer data is higher
    assert svg.get("role") == "img"
    assert str(render_chart([])) == ""


def test_schema_properties_flatten_nested_and_map_values():
    schema = {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"mode": {"type": "string", "default": "x", "description": "d"}},
                },
            }
        },
    }
    rows = {(r.path, r.type, r.default, r.required) for r in schema_properties(schema)}
    assert rows == {
        ("instances", "object", "", True),
        ("instances.<name>", "object", "", False),
        ("instances.<name>.mode", "string", '"x"', False),
    }


# --- caching: a cached overview never shows stale data or another session's token --------------------------------


def test_the_cached_overview_shows_a_row_written_behind_the_services_back(client, seeded_db):
    first = client.get("/").get_data(as_text=True)
    assert 'data-slug="late"' not in first
    write_row(seeded_db, "late", registry_payload("late", {"p": {}}), 1_770_000_000_000)
    second = client.get("/").get_data(as_text=True)
    assert "1770000000000" in row_of(second, "slug", "late")
    assert "\x1a" not in second  # every age marker was filled in


def test_cached_pages_are_never_shared_between_sessions(app):
    alice, other = app.test_client(), app.test_client()
    log_in(alice)
    token = overview_csrf(alice)
    page = other.get("/").get_data(as_text=True)
    assert token not in page and "Back up now" not in page and "Signed in" not in page
    log_in(other)
    assert overview_csrf(other) != token
    assert overview_csrf(alice) == token


def test_a_snapshot_damaged_in_place_is_noticed_once_the_listing_is_revalidated(client, app, backup_dir, seeded_db):
    info = backups.create_backup(target_from_path(seeded_db), backup_dir)
    assert ">yes<" in row_of(client.get("/").get_data(as_text=True), "name", info.name)
    with open(info.path, "r+b") as handle:  # same size, same folder entries: only the file's mtime moves
        handle.seek(300)
        handle.write(b"damage")
    app_state(app).part(DashboardCaches).listings.revalidate_seconds = 0
    row = row_of(client.get("/").get_data(as_text=True), "name", info.name)
    assert "checksum mismatch" in row and ">no<" in row


def test_age_markers_are_filled_per_second():
    from registry.dashboard.cache import age_marker, fill_ages, split_ages

    now = datetime(2026, 11, 26, 19, 0, 0, tzinfo=UTC)
    token = "t0"
    html = (
        f"<td>{age_marker(int(now.timestamp() * 1000) - 180_000, token)}</td>"
        f"<td>{age_marker(now - timedelta(hours=2), token)}</td>"
    )
    parts = split_ages(html, token)
    assert fill_ages(parts, now) == "<td>3 min ago</td><td>2 h ago</td>"
    assert fill_ages(parts, now + timedelta(minutes=1)) == "<td>4 min ago</td><td>2 h ago</td>"
    assert age_marker(0, token) == ""


def test_restore_rows_list_the_profiles_a_restore_brings_back_or_removes():
    from registry.dashboard.pages import restore_rows
    from registry.storage.backups import RegistryChange

    changes = [
        RegistryChange("a", 10, 5, "older"),
        RegistryChange("b", None, 3, "added"),
        RegistryChange("c", 4, None, "removed"),
        RegistryChange("d", 7, 7, "same"),
    ]
    live = {"a": ["p", "q"], "c": ["x"], "d": ["m"]}
    rows = {r.change.slug: r for r in restore_rows(changes, live, {"a": ["p", "r"], "b": ["n"], "d": ["m"]})}
    assert (rows["a"].profiles_back, rows["a"].profiles_gone) == (["r"], ["q"])
    assert rows["b"].profiles_back == ["n"] and rows["c"].profiles_gone == ["x"]
    assert rows["d"].profiles_back == rows["d"].profiles_gone == []
    assert rows["a"].text == "goes back to the snapshot's older row"
    # Without profile lists in the manifest, nothing is claimed about profiles.
    unknown = {r.change.slug: r for r in restore_rows(changes, live, None)}
    assert unknown["a"].profiles_back == unknown["a"].profiles_gone == []
