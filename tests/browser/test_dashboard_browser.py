"""The dashboard in Chromium: seeded registries, a corrupt row, Back up now, restore through the confirmation page."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import write_row

from registry.web.auth import AdminToken

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")

TOKEN = "browser-test-token"


@pytest.fixture
def server(seeded_db, make_app, live_server, tmp_path):
    app = make_app(
        seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(tmp_path / "backups")
    )
    return live_server(app)


def stored_rows(db: Path) -> dict[str, tuple[dict, int]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries").fetchall()
    finally:
        conn.close()
    parsed = {}
    for slug, payload, updated in rows:
        try:
            parsed[slug] = (json.loads(payload), updated)
        except json.JSONDecodeError:
            parsed[slug] = ({}, updated)  # a deliberately corrupt row
    return parsed


def log_in(page, server_url: str) -> None:
    page.goto(server_url + "/")
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server_url + "/")
    assert "Signed in as alice" in page.locator(".session").inner_text()


def test_overview_lists_seeded_registries_and_a_corrupt_row_in_red(server, seeded_db, open_page, screenshots):
    write_row(seeded_db, "broken", '{"slug": "broken", "profiles": {"x": ', 1_760_000_000_999)
    updated = stored_rows(seeded_db)["default"][1]
    page, traffic = open_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    default_row = page.locator('table.registries tr[data-slug="default"]')
    assert str(updated) in default_row.inner_text()
    assert "Example registry" in default_row.inner_text()
    broken = page.locator('table.registries tr[data-slug="broken"]')
    assert "payload_json is not valid JSON" in broken.inner_text()
    assert "1760000000999" in broken.inner_text()
    color = broken.locator("td").first.evaluate("td => getComputedStyle(td).color")
    red, green, blue = (int(v) for v in re.findall(r"\d+", color)[:3])
    assert red > 150 and green < 80 and blue < 80, color
    assert page.locator(".health-status").inner_text().lower() == "degraded"
    page.screenshot(path=str(screenshots / "overview.png"), full_page=True)
    traffic.assert_clean(server.url)


def test_overview_fits_a_phone_screen(server, open_page, screenshots):
    page, traffic = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    page.goto(server.url + "/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the phone screen"
    page.screenshot(path=str(screenshots / "overview-phone.png"), full_page=True)
    traffic.assert_clean(server.url)


def test_back_up_now_after_login_adds_a_snapshot_row_without_javascript(server, open_page):
    page, traffic = open_page(java_script_enabled=False)
    page.goto(server.url + "/")
    assert page.get_by_role("button", name="Back up now").count() == 0
    before = page.locator("table.snapshots tbody tr").count()
    log_in(page, server.url)
    page.get_by_role("button", name="Back up now").click()
    page.wait_for_url(server.url + "/#snapshots")
    rows = page.locator("table.snapshots tbody tr")
    assert rows.count() == before + 1
    assert "yes" in rows.first.locator('td[data-label="Verified"]').inner_text()
    assert "created" in page.locator(".flash").inner_text()
    assert page.locator("svg.chart:visible rect").count() == before + 1  # the drawing for this width
    traffic.assert_clean(server.url)


def test_restore_through_the_confirmation_page_brings_back_a_deleted_profile(server, seeded_db, open_page, screenshots):
    page, traffic = open_page(viewport={"width": 1280, "height": 900})
    log_in(page, server.url)
    page.get_by_role("button", name="Back up now").click()
    snapshot_name = page.locator("table.snapshots tbody tr").first.get_attribute("data-name")

    # Delete the stacked profile behind the service's back, as an operator's sqlite3 session would.
    payload, updated = stored_rows(seeded_db)["default"]
    del payload["profiles"]["analyst"]
    deleted_at = max(updated + 1, int(time.time() * 1000))
    write_row(seeded_db, "default", payload, deleted_at)
    page.goto(server.url + "/")
    registry_row = page.locator('table.registries tr[data-slug="default"]')
    assert registry_row.locator('td[data-label="Profiles"]').inner_text() == "1"

    page.locator(f'table.snapshots tr[data-name="{snapshot_name}"]').get_by_role("link", name="Restore").click()
    change = page.locator('table.changes tr[data-slug="default"]')
    assert str(deleted_at) in change.locator('td[data-label="Live"]').inner_text()
    assert str(updated) in change.locator('td[data-label="Snapshot"]').inner_text()
    verdict = change.locator('td[data-label="After restore"]').inner_text()
    assert "goes back to the snapshot's older row" in verdict and "+ analyst" in verdict
    page.screenshot(path=str(screenshots / "restore-confirmation.png"), full_page=True)

    page.get_by_role("button", name="Restore this snapshot").click()
    page.wait_for_url(server.url + "/")
    assert "Restored from" in page.locator(".flash").inner_text()
    assert registry_row.locator('td[data-label="Profiles"]').inner_text() == "2"
    assert str(updated) in registry_row.inner_text()
    assert page.locator("table.snapshots tbody tr").count() == 2  # the safety snapshot taken before the restore
    page.screenshot(path=str(screenshots / "overview-after-restore.png"), full_page=True)

    page.goto(server.url + "/registries/default")
    page.get_by_role("link", name="analyst").click()
    assert "default/default" in page.locator("ol.lineage").inner_text()
    assert '"temperature": 0.0' in page.get_by_test_id("effective-settings").inner_text()
    page.screenshot(path=str(screenshots / "profile.png"), full_page=True)
    traffic.assert_clean(server.url)


def test_missing_pages_are_html_in_the_site_layout(server, open_page):
    page, traffic = open_page()
    response = page.goto(server.url + "/registries/ghost")
    assert response.status == 404
    assert "404 Not Found" in page.locator("h1").inner_text()
    assert page.locator("link[rel=stylesheet]").get_attribute("href") == "/static/dashboard.css"
    # A 404 document is logged by Chromium as a failed resource; everything else must be clean.
    traffic.errors = [e for e in traffic.errors if "404" not in e]
    traffic.assert_clean(server.url)
