"""registry/host_os.py: each rule that differs on Windows, both branches, and the switch that forces the Windows ones.

`PROFILE_REGISTRY_FORCE_WINDOWS=1` runs the whole suite on the Windows branches (.ci/run does it after the normal
run); here each branch is also taken on its own by setting `host_os.WINDOWS`, so a plain run covers both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry import host_os
from registry.service.registry_service import permission_warnings
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=[False, True], ids=["posix", "windows"])
def windows(request, monkeypatch) -> bool:
    """Run the test once on each branch."""
    monkeypatch.setattr(host_os, "WINDOWS", request.param)
    return request.param


def windows_flag_in_child(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != host_os.FORCE_WINDOWS_VARIABLE}
    if value is not None:
        env[host_os.FORCE_WINDOWS_VARIABLE] = value
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", "from registry import host_os; print(host_os.WINDOWS)"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    return done.stdout.strip()


def test_the_environment_switch_forces_the_windows_branches():
    assert windows_flag_in_child("1") == "True"
    # Unset, or any other value, leaves the real operating system in charge.
    real = str(os.name == "nt")
    assert windows_flag_in_child(None) == real
    assert windows_flag_in_child("0") == real


def test_mode_bits_warn_only_where_they_are_the_permissions(tmp_path, windows):
    exposed = tmp_path / "profiles.db"
    exposed.write_bytes(b"")
    os.chmod(exposed, 0o646)
    warnings = permission_warnings(exposed)
    if windows:
        assert warnings == []  # ACLs decide there; the dashboard points at the README instead
    else:
        assert warnings == [
            f"{exposed} is readable by every user (mode 646)",
            f"{exposed} is writable by other users (mode 646)",
        ]


def test_folder_sync_opens_the_folder_on_posix_only(tmp_path, windows, monkeypatch):
    opened: list[str] = []
    real_open = os.open

    def spy(path, flags, *args):
        opened.append(str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    host_os.fsync_folder(tmp_path)
    assert opened == ([] if windows else [str(tmp_path)])


def test_owner_only_file_is_created_once(tmp_path, windows):
    path = tmp_path / "snapshot"
    host_os.create_owner_only_file(path)
    assert path.read_bytes() == b""
    with pytest.raises(FileExistsError):
        host_os.create_owner_only_file(path)


def test_backup_priority_is_lowered_on_posix_only(windows, monkeypatch):
    calls: list[object] = []
    monkeypatch.setattr(os, "nice", calls.append, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", lambda pid, policy, param: calls.append(policy), raising=False)
    host_os.lower_process_priority(10)
    if windows:
        assert calls == []
    else:
        assert calls == [10] + ([os.SCHED_IDLE] if hasattr(os, "SCHED_IDLE") else [])


def test_stop_signals(windows):
    stops = host_os.stop_signals()
    assert stops[0] == signal.SIGTERM
    if windows and hasattr(signal, "SIGBREAK"):
        assert stops == [signal.SIGTERM, signal.SIGBREAK]
    else:
        assert stops == [signal.SIGTERM]


def test_replace_waits_for_a_reader_on_windows_only(tmp_path, windows, monkeypatch):
    """Windows refuses to replace a file another handle holds open; a reader lets go within moments."""
    source, target = tmp_path / "new", tmp_path / "manifest.json"
    source.write_text("new")
    target.write_text("old")
    real_replace = os.replace
    refusals = [PermissionError(13, "The process cannot access the file because it is being used")] * 2

    def replace(src, dst):
        if refusals:
            raise refusals.pop()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    if windows:
        host_os.replace_file(source, target)
        assert target.read_text() == "new" and refusals == []
    else:
        with pytest.raises(PermissionError):  # POSIX never waits on readers: a refusal is real
            host_os.replace_file(source, target)
        assert target.read_text() == "old"


def test_replace_gives_up_after_the_retry_window(tmp_path, monkeypatch):
    monkeypatch.setattr(host_os, "WINDOWS", True)
    monkeypatch.setattr(host_os, "REPLACE_RETRY_SECONDS", 0.1)
    attempts: list[int] = []

    def refuse(src, dst):
        attempts.append(1)
        raise PermissionError(13, "in use")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        host_os.replace_file(tmp_path / "a", tmp_path / "b")
    assert len(attempts) > 1


def test_wal_index_shortcut_is_posix_only(tmp_path, windows):
    """The -shm header is read on POSIX; on Windows every check asks SQLite, and commits are seen on both."""
    path = tmp_path / "p.db"
    write_row(path, "default", registry_payload("default", {"one": {}}))
    store = SQLiteRegistryStore(target_from_path(path)).open()
    try:
        store.snapshot()  # creates this thread's reader
        header = store._wal_index.header()
        assert (header is None) if windows else (isinstance(header, bytes) and len(header) == 48)
        statements: list[str] = []
        store._local.reader.conn.set_trace_callback(statements.append)
        store.snapshot()
        asked = [s for s in statements if "data_version" in s]
        assert len(asked) == (1 if windows else 0)
        write_row(path, "default", registry_payload("default", {"one": {}, "two": {}}))
        assert "two" in store.snapshot().registries["default"].registry["profiles"]
    finally:
        store.close()


def test_no_module_outside_host_os_branches_on_the_operating_system():
    """Every OS test goes through registry/host_os.py, so the switch reaches all of them."""
    needles = ("os.name", "sys.platform", "platform.system", "hasattr(os", "hasattr(signal", "O_BINARY", "msvcrt",
               "fcntl")
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in sorted((ROOT / "registry").rglob("*.py"))
        if path.name != "host_os.py"
        for needle in needles
        if needle in path.read_text(encoding="utf-8")
    ]
    assert offenders == []



def test_allocator_tuning_applies_on_glibc_and_nowhere_else(monkeypatch):
    """`serve` keeps freed heap for reuse through glibc's mallopt (the list route's large answers); Windows and
    other C libraries are left alone, and calling it never fails."""
    import platform

    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    code = "from registry import host_os; print(host_os.keep_freed_memory_for_reuse())"
    env = {k: v for k, v in os.environ.items() if k != host_os.FORCE_WINDOWS_VARIABLE}  # the real branch
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60)
    assert done.stdout.strip() == str(on_glibc)
    monkeypatch.setattr(host_os, "WINDOWS", True)
    assert host_os.keep_freed_memory_for_reuse() is False
