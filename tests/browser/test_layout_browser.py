"""Dashboard layout in Chromium at 1280 px and 390 px, measured from element boxes (never judged by eye).

Snapshot names and sizes on one line, a Version for every profile, stack references that never break inside a
slug, a snapshot chart that stays short and legible, a way back from Swagger UI, and /favicon.ico. Screenshots go to
test-artifacts/screenshots/layout-*.png.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
from conftest import write_row

from registry.storage import backups
from registry.storage.sqlite_db import target_from_path
from registry.web.auth import AdminToken

from .conftest import CHROMIUM
from .test_dashboard_browser import TOKEN, log_in, stored_rows

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")

WIDTHS = {
    "1280": {"viewport": {"width": 1280, "height": 900}},
    "390": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "device_scale_factor": 2},
}

# Distinct line boxes an element's text occupies (fragments whose tops differ by more than 8 px).
LINES_JS = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
  let lines = 0, last = -1e9;
  for (const top of tops) { if (top - last > 8) { lines += 1; last = top; } }
  return lines;
}"""
# The size in CSS px a piece of SVG text is drawn at: its font size times the SVG's scale on screen.
DRAWN_FONT_PX_JS = "el => parseFloat(getComputedStyle(el).fontSize) * el.getScreenCTM().a"


@pytest.fixture
def server(seeded_db, make_app, live_server, tmp_path):
    folder = tmp_path / "backups"
    target = target_from_path(seeded_db)
    # Four snapshots of unchanged data: the chart's identical-bars case, and runbook-length names.
    for _ in range(4):
        backups.create_backup(target, folder)
        time.sleep(1.05)
    add_team_registry(seeded_db)
    # Writable: only then does the snapshot table carry its Restore column, the widest case measured below.
    app = make_app(seeded_db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)], BACKUP_DIR=str(folder))
    return live_server(app)


def add_team_registry(db) -> None:
    """A second registry whose profile stacks on two long references, one of them versioned."""
    payload = {
        "slug": "team-analytics",
        "default_profile_slug": "quarterly-reporting",
        "profiles": {
            "base-settings": {"slug": "base-settings", "metadata": {"version": 7}},
            "quarterly-reporting": {
                "slug": "quarterly-reporting",
                "display_name": "Quarterly reporting",
                "stack": [{"registry_slug": "default", "profile_slug": "default"}, {"profile_slug": "base-settings"}],
                "metadata": {"version": 3},
                "extensions": {"webchat.starter_suggestions@v1": {"items": ["Summarise Q3"]}},
            },
        },
        "metadata": {"version": 1},
    }
    write_row(db, "team-analytics", payload, int(time.time() * 1000))


def assert_labels_legible(chart, width: int) -> None:
    """Every text of the chart drawn at 10 px or more, inside the chart and the screen, none over another."""
    frame = chart.bounding_box()
    boxes = []
    for text in chart.locator("text").all():
        drawn = text.evaluate(DRAWN_FONT_PX_JS)
        assert drawn >= 10, f"{text.text_content()!r} is drawn at {drawn:.1f} px"
        box = text.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= min(frame["x"] + frame["width"], width) + 0.5, (
            text.text_content(),
            box,
            frame,
        )
        for other, other_box in boxes:
            apart = (
                box["x"] >= other_box["x"] + other_box["width"]
                or other_box["x"] >= box["x"] + box["width"]
                or box["y"] >= other_box["y"] + other_box["height"]
                or other_box["y"] >= box["y"] + box["height"]
            )
            assert apart, f"{text.text_content()!r} overlaps {other!r}"
        boxes.append((text.text_content(), box))


def shoot(page, selector: str, path: Path) -> None:
    """A screenshot of `selector`, or of the whole page where there is no such element, taken before any assertion:
    tests/browser/before_screenshots.py runs these tests on the commit before the polish for its "before" pictures."""
    target = page.locator(selector)
    if target.count():
        target.first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)


def open_at(open_page, label: str):
    return open_page(**WIDTHS[label])


@pytest.mark.parametrize("label", WIDTHS)
def test_snapshot_names_and_sizes_do_not_wrap(server, open_page, screenshots, label):
    page, traffic = open_at(open_page, label)
    log_in(page, server.url)  # logged in: the table has its Restore column too, the widest case
    page.screenshot(path=str(screenshots / f"layout-overview-{label}.png"), full_page=True)
    rows = page.locator("table.snapshots tbody tr")
    assert rows.count() == 4
    for i in range(rows.count()):
        name = rows.nth(i).locator('td[data-label="Name"] code')
        size = rows.nth(i).locator('td[data-label="Size"]')
        assert size.evaluate(LINES_JS) == 1, f"size {size.inner_text()!r} wraps"
        # A laptop has room for the whole name; a phone card may break it once, never into three lines.
        assert name.evaluate(LINES_JS) <= (1 if label == "1280" else 2), name.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[label]["viewport"]["width"]
    # ...and the table itself does not scroll sideways (its Restore buttons in view).
    wrap = page.locator("#snapshots .table-wrap")
    assert wrap.evaluate("el => el.scrollWidth - el.clientWidth") <= 0
    button = rows.first.get_by_role("link", name="Restore")
    box, frame = button.bounding_box(), wrap.bounding_box()
    assert box["x"] + box["width"] <= frame["x"] + frame["width"], (box, frame)
    traffic.assert_clean(server.url)


@pytest.mark.parametrize("label", WIDTHS)
def test_registry_page_shows_versions_and_whole_stack_references(server, open_page, screenshots, label):
    page, traffic = open_at(open_page, label)
    page.goto(server.url + "/registries/team-analytics")
    page.screenshot(path=str(screenshots / f"layout-registry-{label}.png"), full_page=True)
    versions = {
        row.get_attribute("data-slug"): row.locator('td[data-label="Version"]').inner_text().strip()
        for row in page.locator("table.profiles tbody tr").all()
    }
    assert versions == {"base-settings": "7", "quarterly-reporting": "3"}
    refs = page.locator('tr[data-slug="quarterly-reporting"] td[data-label="Stack"] code')
    assert refs.all_inner_texts() == ["default/default", "team-analytics/base-settings"]
    for ref in refs.all():
        # One line, or two split right after "registry/" (the first line ends with the slash): never inside a slug.
        lines = ref.evaluate(LINES_JS)
        first_line_ends_at_slash = ref.evaluate(
            """el => {
              const range = document.createRange();
              range.selectNodeContents(el.firstElementChild || el);
              const rects = [...range.getClientRects()];
              return el.firstElementChild !== null && el.firstElementChild.textContent.endsWith("/")
                && rects.every(r => Math.abs(r.top - rects[0].top) < 8);
            }"""
        )
        assert lines == 1 or (lines == 2 and first_line_ends_at_slash), (ref.inner_text(), lines)
        cell = ref.locator("xpath=ancestor::td").bounding_box()
        box = ref.bounding_box()
        assert box["x"] + box["width"] <= cell["x"] + cell["width"] + 0.5, (ref.inner_text(), box, cell)
    page.goto(server.url + "/registries/default")
    seeded = page.locator('table.profiles td[data-label="Version"]').all_inner_texts()
    assert [v.strip() for v in seeded] == ["0", "0"]  # seeded profiles carry no version yet: writes expect 0
    traffic.assert_clean(server.url)


@pytest.mark.parametrize("label", WIDTHS)
def test_snapshot_chart_is_short_for_identical_snapshots_and_legible(
    server, seeded_db, tmp_path, open_page, screenshots, label
):
    page, traffic = open_at(open_page, label)
    width = WIDTHS[label]["viewport"]["width"]
    page.goto(server.url + "/")
    shoot(page, ".chart-box", screenshots / f"layout-chart-identical-{label}.png")
    chart = page.locator("svg.chart:visible")
    assert chart.count() == 1
    identical = chart.bounding_box()
    assert identical["height"] <= 160, f"identical snapshots take {identical['height']:.0f} px"
    assert identical["x"] + identical["width"] <= width
    assert_labels_legible(chart, width)

    # Snapshots that differ in size and content: a real chart, still short and with legible labels.
    payload, updated = stored_rows(seeded_db)["default"]
    bigger = copy.deepcopy(payload)
    bigger["description"] = "x" * 40_000
    write_row(seeded_db, "default", bigger, updated + 1000)
    backups.create_backup(target_from_path(seeded_db), tmp_path / "backups")
    page.goto(server.url + "/")
    chart = page.locator("svg.chart:visible")
    varied = chart.bounding_box()
    assert identical["height"] < varied["height"] <= 320, varied
    assert_labels_legible(chart, width)
    page.locator(".chart-box").screenshot(path=str(screenshots / f"layout-chart-{label}.png"))
    traffic.assert_clean(server.url)


@pytest.mark.parametrize("label", WIDTHS)
def test_swagger_ui_links_back_to_the_dashboard(server, open_page, screenshots, label):
    page, traffic = open_at(open_page, label)
    page.goto(server.url + "/docs")
    page.locator(".swagger-ui .info").wait_for()
    page.screenshot(path=str(screenshots / f"layout-docs-{label}.png"))
    home = page.get_by_role("link", name="profile-registry dashboard")
    box = home.bounding_box()
    assert home.is_visible() and box["y"] < 100, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[label]["viewport"]["width"]
    home.click()
    page.wait_for_url(server.url + "/")
    assert page.locator("h1").inner_text() == "Overview"
    traffic.assert_clean(server.url)


def test_favicon_ico_is_an_icon_the_browser_decodes(server, open_page):
    page, traffic = open_page()
    response = page.request.get(server.url + "/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] == "image/vnd.microsoft.icon"
    page.goto(server.url + "/")
    sizes = page.evaluate(
        """url => new Promise((resolve, reject) => {
             const img = new Image();
             img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
             img.onerror = () => reject(new Error("favicon.ico did not decode"));
             img.src = url;
           })""",
        server.url + "/favicon.ico",
    )
    assert sizes[0] >= 16 and sizes[0] == sizes[1]
    traffic.assert_clean(server.url)
