"""A read-only instance in Chromium: Back up now works, no Restore button is offered, one line says why."""

from __future__ import annotations

import pytest

from registry.web.auth import AdminToken

from .conftest import CHROMIUM
from .test_dashboard_browser import TOKEN, log_in

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")


def test_a_read_only_dashboard_offers_no_restore(seeded_db, make_app, live_server, tmp_path, open_page, screenshots):
    app = make_app(seeded_db, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(tmp_path / "backups"))
    server = live_server(app)  # no WRITABLE: served read-only
    page, traffic = open_page(viewport={"width": 390, "height": 844})
    log_in(page, server.url)
    page.get_by_role("button", name="Back up now").click()
    page.wait_for_url(server.url + "/#snapshots")
    assert page.locator("table.snapshots tbody tr").count() == 1
    assert page.get_by_role("link", name="Restore…").count() == 0
    hint = page.locator("#restore-needs-writable")
    assert hint.is_visible() and hint.inner_text() == (
        "Restore needs serve --writable: this instance is read-only, so snapshots can be taken here but not restored."
    )
    page.screenshot(path=str(screenshots / "read-only-no-restore-390.png"), full_page=True)
    traffic.assert_clean(server.url)
