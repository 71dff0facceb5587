"""The "before" pictures of the dashboard polish (issue 14): the layout browser tests, run on the commit before it.

tests/browser/test_layout_browser.py takes its screenshots before asserting anything, so on the commit before the
polish (POLISH_COMMIT^) the same tests draw the same pages at 1280 px and 390 px and then fail on the very defects
the polish fixed. This script checks that commit out into a temporary git worktree, copies today's layout tests into
it, runs them there with Debian's Chromium, and keeps the pictures in tests/browser/screenshots-before/ (committed,
beside the "after" ones that every run of the browser tests writes to test-artifacts/screenshots/). It prints
which tests failed there: that list is the "before" state in words.

    python tests/browser/before_screenshots.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLISH_COMMIT = "d4d9391"  # "Dashboard polish (issue 14, part 2)"
LAYOUT_TESTS = Path("tests/browser/test_layout_browser.py")
BEFORE = ROOT / "tests" / "browser" / "screenshots-before"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="before-polish-"))
    tree = work / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), f"{POLISH_COMMIT}^"], check=True)
    try:
        shutil.copy(ROOT / LAYOUT_TESTS, tree / LAYOUT_TESTS)
        env = dict(os.environ, PYTHONPATH=str(tree))
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(LAYOUT_TESTS)],
            cwd=tree, env=env, capture_output=True, text=True, check=False,
        )
        summary = [line for line in run.stdout.splitlines() if line.startswith("FAILED") or line.endswith("s ====")]
        print("\n".join(summary or run.stdout.splitlines()[-1:]))
        shots = sorted((tree / "test-artifacts" / "screenshots").glob("layout-*.png"))
        if not shots:
            print("no screenshots were taken:\n" + run.stdout[-3000:], file=sys.stderr)
            return 1
        BEFORE.mkdir(exist_ok=True)
        for shot in shots:
            shutil.copy(shot, BEFORE / shot.name)
        print(f"{len(shots)} screenshots of {POLISH_COMMIT}^ in {BEFORE.relative_to(ROOT)}")
        return 0
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
