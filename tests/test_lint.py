"""The code stays as clean as the linters say: ruff (the rule set in pyproject.toml) and mypy on the whole package.

Both are development tools (the `dev` extra); where they are not installed these tests are skipped with that
reason, and CI (.ci/run) installs them so they run there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """The tool beside this Python (the venv's), else on PATH; skip when neither exists."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_ruff_finds_nothing():
    result = subprocess.run(
        [tool("ruff"), "check", "--no-cache", "registry", "tests", "bench", "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_package(tmp_path):
    result = subprocess.run(
        [tool("mypy"), "--cache-dir", str(tmp_path), "registry"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
