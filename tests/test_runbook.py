"""Runbook steps 1-3, as written, against `python -m registry serve` (path form and the runbook's DSN form)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from serve_process import ServeProcess

pytestmark = [
    pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (apt-get install -y jq)"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
    pytest.mark.skipif(shutil.which("bash") is None, reason="the runbook's commands are bash"),
]

# Step 1, verbatim apart from the command name.
PATH_FORM = ["--profile-registries", "./data/profiles.db"]
DSN_FORM = [
    "--profile-registries",
    "sqlite-dsn:file:./data/profiles.db?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on",
]

# Steps 2 and 3, verbatim (the port is substituted).
LIST = "curl -s http://localhost:8080/api/chat/profiles | jq ."
MIDDLEWARES = "curl -s http://localhost:8080/api/chat/schemas/middlewares | jq ."
EXTENSIONS = "curl -s http://localhost:8080/api/chat/schemas/extensions | jq ."
MIDDLEWARE_CONTRACT = """curl -s http://localhost:8080/api/chat/schemas/middlewares \\
  | jq '.[0] | {name,version,display_name,description}'"""
EXTENSION_KEY = """curl -s http://localhost:8080/api/chat/schemas/extensions \\
  | jq 'map(select(.key | startswith("middleware."))) | .[0].key'"""
AGENTMODE_SHAPE = """curl -s http://localhost:8080/api/chat/schemas/middlewares \\
  | jq '.[] | select(.name == "agentmode") | {name,version,schema}'"""
MIDDLEWARE_EXTENSIONS = """curl -s http://localhost:8080/api/chat/schemas/extensions \\
  | jq 'map(select(.key | startswith("middleware.")))'"""


def sh(command: str, port: int) -> str:
    """Run one runbook command in bash with the service's port; its stdout (it must succeed)."""
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace("localhost:8080", f"localhost:{port}")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("form", [PATH_FORM, DSN_FORM], ids=["path", "sqlite-dsn"])
def test_runbook_steps_1_to_3(seeded_db: Path, form: list[str]):
    cwd = seeded_db.parent.parent  # the runbook's ./data/profiles.db
    server = ServeProcess(form, cwd)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        profiles = json.loads(sh(LIST, port))
        assert isinstance(profiles, list) and profiles
        assert {"default", "analyst"} <= {p["slug"] for p in profiles}

        middlewares = json.loads(sh(MIDDLEWARES, port))
        extensions = json.loads(sh(EXTENSIONS, port))
        assert isinstance(middlewares, list) and middlewares
        assert isinstance(extensions, list) and extensions
        assert set(middlewares[0]) == {"name", "version", "display_name", "description", "schema"}

        contract = json.loads(sh(MIDDLEWARE_CONTRACT, port))
        assert contract == {"name": "agentmode", "version": 1, "display_name": "Agent Mode",
                            "description": "Parses and applies agent-mode switches from model output."}
        assert sh(EXTENSION_KEY, port) == '"middleware.agentmode_config@v1"\n'

        shape = json.loads(sh(AGENTMODE_SHAPE, port))
        assert (shape["name"], shape["version"]) == ("agentmode", 1)
        assert shape["schema"]["type"] == "object" and "default_mode" in shape["schema"]["properties"]
        typed = json.loads(sh(MIDDLEWARE_EXTENSIONS, port))
        assert [item["key"] for item in typed] == ["middleware.agentmode_config@v1"]
        assert typed[0]["schema"]["required"] == ["instances"]
    finally:
        server.stop()
    assert "Traceback" not in "".join(server.lines)
