"""Screenshots of the dashboard *before* its polish (issue 14), to set beside the browser tests' "after" ones.

The layout tests (tests/browser/test_layout_browser.py) can only photograph the code they run against. This script
photographs the commit before the polish the same way: it checks that commit out into a temporary `git worktree`,
serves it on loopback (waitress, port 0) with the same example data as the tests' fixture (the seeded example
registry, four snapshots of unchanged data, and the `team-analytics` registry with its long stack references),
and takes the same pages with Playwright and /usr/bin/chromium at 1280 px and 390 px:

    layout-overview-<w>.png   /, logged in (the snapshot table with its Restore column), full page
    layout-registry-<w>.png   /registries/team-analytics, full page
    layout-chart-<w>.png      the snapshot chart of /, or the whole section holding it
    layout-docs-<w>.png       /docs (Swagger UI), the first screen

Usage, from the repository root (the PNGs committed in docs/screenshots/before/ were made this way):

    PYTHONPATH=$PWD .venv/bin/python tests/browser/before_screenshots.py [--commit REV] [--out DIR]

REV defaults to the parent of the commit whose message starts with "Dashboard polish"; DIR to
docs/screenshots/before. The worktree and the server are removed afterwards, whatever happens. Not collected by
pytest (its name does not start with test_).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
TOKEN = "before-screenshots-token"
WIDTHS = {
    "1280": {"viewport": {"width": 1280, "height": 900}},
    "390": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "device_scale_factor": 2},
}

# Run by the child with the old tree first on sys.path: the data of test_layout_browser.py's `server` fixture,
# built with the old code's own functions, then served until stdin closes.
SERVER = r"""
import json, sqlite3, sys, threading, time
from pathlib import Path
import waitress
from registry import create_app
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path
from registry.web.auth import AdminToken

work = Path(sys.argv[1])
db = work / "data" / "profiles.db"
seed = create_app({"DEFAULT_DATABASE": str(db)})  # the service seeds the example registry
seed.extensions["profile_registry"].chain.close()
folder = work / "backups"
for _ in range(4):
    backups.create_backup(target_from_path(db), folder)
    time.sleep(1.05)
team = {
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
conn = sqlite3.connect(db)
with conn:
    conn.execute(
        "INSERT INTO profile_registries (slug, payload_json, updated_at_ms) VALUES (?, ?, ?)",
        ("team-analytics", json.dumps(team), int(time.time() * 1000)),
    )
conn.close()
app = create_app({
    "PROFILE_REGISTRIES": [str(db)],
    "DEFAULT_DATABASE": str(db),
    "WRITABLE": True,
    "ADMIN_TOKENS": [AdminToken("alice", sys.argv[2])],
    "BACKUP_DIR": str(folder),
})
server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
print(f"http://127.0.0.1:{server.effective_port}", flush=True)
threading.Thread(target=server.run, daemon=True).start()
sys.stdin.read()  # until the parent closes it
server.close()
app.extensions["profile_registry"].chain.close()
"""


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_before_polish() -> str:
    """The parent of the dashboard polish commit (found by its message among the commits touching templates)."""
    for line in git("log", "--format=%H %s", "--", "templates", "static").splitlines():
        sha, subject = line.split(" ", 1)
        if subject.startswith("Dashboard polish"):
            return git("rev-parse", f"{sha}^")
    raise SystemExit("no commit starting with 'Dashboard polish' touches templates/ or static/: pass --commit")


def log_in(page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")


def photograph(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    taken = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, options in WIDTHS.items():
                context = browser.new_context(**options)
                page = context.new_page()
                page.set_default_timeout(15_000)
                log_in(page, url)
                taken.append(out / f"layout-overview-{label}.png")
                page.screenshot(path=str(taken[-1]), full_page=True)
                chart = page.locator(".chart-box")
                if chart.count() == 0:  # older markup: the section that holds the chart
                    chart = page.locator("svg.chart").first.locator("xpath=ancestor::section[1]")
                taken.append(out / f"layout-chart-identical-{label}.png")
                chart.first.screenshot(path=str(taken[-1]))
                page.goto(url + "/registries/team-analytics")
                taken.append(out / f"layout-registry-{label}.png")
                page.screenshot(path=str(taken[-1]), full_page=True)
                page.goto(url + "/docs")
                page.locator(".swagger-ui .info").wait_for()
                taken.append(out / f"layout-docs-{label}.png")
                page.screenshot(path=str(taken[-1]))
                context.close()
        finally:
            browser.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", help="the revision to photograph (default: the parent of the polish commit)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "before")
    args = parser.parse_args()
    commit = git("rev-parse", args.commit) if args.commit else commit_before_polish()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="before-screenshots-") as tmp:
        tree = Path(tmp) / "tree"
        git("worktree", "add", "--detach", str(tree), commit)
        child = None
        try:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["PYTHONPATH"] = str(tree)  # the old code only, not this checkout
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            work = Path(tmp) / "work"
            work.mkdir()
            child = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(work), TOKEN],
                cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            if not re.fullmatch(r"http://127\.0\.0\.1:\d+", url):
                raise SystemExit(f"the server of {commit[:7]} did not start (said {url!r})")
            taken = photograph(url, args.out)
        finally:
            if child is not None:
                if child.stdin is not None:
                    child.stdin.close()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                if child.stdout is not None:
                    child.stdout.close()
            git("worktree", "remove", "--force", str(tree))
    (args.out / "COMMIT").write_text(f"{commit}\n", encoding="utf-8")
    for path in taken:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    print(f"commit {commit[:7]} photographed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
