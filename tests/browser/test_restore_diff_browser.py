"""The restore confirmation's field-by-field diff in Chromium, on a laptop (1280 px) and a phone (390 px)."""

from __future__ import annotations

import pytest
from conftest import write_row

from registry.web.auth import AdminToken

from .conftest import CHROMIUM
from .test_dashboard_browser import TOKEN, log_in, stored_rows

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")

LAPTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "device_scale_factor": 2}
LONG_PROMPT = "You are a careful financial analyst who writes " + "very " * 60 + "long answers."


@pytest.fixture
def server(seeded_db, make_app, live_server, tmp_path):
    app = make_app(
        seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(tmp_path / "backups")
    )
    return live_server(app)


def confirmation_with_edits(page, server_url: str, db) -> None:
    """Back up, then edit `analyst` live (temperature, a long prompt) and drop `default`'s suggestions."""
    log_in(page, server_url)
    page.get_by_role("button", name="Back up now").click()
    name = page.locator("table.snapshots tbody tr").first.get_attribute("data-name")
    payload, updated = stored_rows(db)["default"]
    analyst = payload["profiles"]["analyst"]
    analyst["inference_settings"]["chat"]["temperature"] = 0.9
    analyst["extensions"]["pinocchio.webchat_runtime@v1"]["system_prompt"] = LONG_PROMPT
    del payload["profiles"]["default"]["extensions"]["webchat.starter_suggestions@v1"]
    write_row(db, "default", payload, updated + 1000)
    page.goto(f"{server_url}/backups/{name}/restore")


@pytest.mark.parametrize("label, options", [("1280", LAPTOP), ("390", PHONE)])
def test_the_diff_is_collapsed_per_profile_and_fits_the_screen(
    server, seeded_db, open_page, screenshots, label, options
):
    page, traffic = open_page(**options)
    confirmation_with_edits(page, server.url, seeded_db)
    width = options["viewport"]["width"]
    analyst = page.locator('details.diff-profile[data-profile="analyst"]')
    fields = analyst.locator("li.diff-field")
    assert analyst.get_attribute("open") is None
    assert not fields.first.is_visible(), "a profile's fields start collapsed"
    assert "changed" in analyst.locator("summary").inner_text()
    page.screenshot(path=str(screenshots / f"restore-diff-collapsed-{label}.png"), full_page=True)

    analyst.locator("summary").click()
    page.locator('details.diff-profile[data-profile="default"] summary').click()
    temperature = analyst.locator('li[data-path="/inference_settings/chat/temperature"]')
    assert temperature.is_visible()
    assert temperature.locator(".diff-before").inner_text().strip().endswith("0.9")
    assert temperature.locator(".diff-after").inner_text().strip().endswith("0.0")
    prompt = analyst.locator('li[data-path="/extensions/pinocchio.webchat_runtime@v1/system_prompt"]')
    assert "long answers" in prompt.locator(".diff-before").inner_text()
    page.screenshot(path=str(screenshots / f"restore-diff-open-{label}.png"), full_page=True)

    # Readable: nothing wider than the screen, every value box inside its card, text no smaller than 12 px.
    # Against the configured width: a mobile browser widens its layout viewport (innerWidth) to fit wide content.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    card = page.locator('.diff-registry[data-registry="default"]').bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= width
    values = page.locator(".diff-registry .diff-value")
    for i in range(values.count()):
        box = values.nth(i).bounding_box()
        assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5, (i, box, card)
    font = float(values.first.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
    assert font >= 12, font
    # The long prompt wraps inside its box instead of running off the side.
    prompt_box = prompt.locator(".diff-before").bounding_box()
    assert prompt_box["height"] > 3 * font
    traffic.assert_clean(server.url)


@pytest.fixture
def writable_server(seeded_db, make_app, live_server, tmp_path):
    app = make_app(
        seeded_db, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(tmp_path / "backups"), WRITABLE=True
    )
    return live_server(app)


def test_restore_only_one_registry_from_the_phone_keeps_the_other_registry(
    writable_server, seeded_db, open_page, screenshots
):
    page, traffic = open_page(**PHONE)
    log_in(page, writable_server.url)
    page.get_by_role("button", name="Back up now").click()
    name = page.locator("table.snapshots tbody tr").first.get_attribute("data-name")
    payload, updated = stored_rows(seeded_db)["default"]
    damaged = {**payload, "description": "damaged"}
    write_row(seeded_db, "default", damaged, updated + 1000)
    write_row(seeded_db, "team", {"slug": "team", "metadata": {}}, updated + 2000)  # a colleague's new registry
    page.goto(f"{writable_server.url}/backups/{name}/restore")
    card = page.locator('.diff-registry[data-registry="default"]')
    button = card.get_by_role("button", name="Restore only this registry")
    box, frame = button.bounding_box(), card.bounding_box()
    assert box["x"] >= frame["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    page.screenshot(path=str(screenshots / "restore-only-registry-390.png"), full_page=True)
    button.click()
    page.wait_for_url(writable_server.url + "/")
    assert "Restored registry default" in page.locator(".flash").inner_text()
    rows = stored_rows(seeded_db)
    assert rows["default"][0].get("description") == payload.get("description")
    assert "team" in rows  # not in the snapshot, and not selected: it stays
    traffic.assert_clean(writable_server.url)
