"""What differs between POSIX and Windows, in one place: every branch on the operating system goes through here.

Each name says what differs, so a reader of the calling code sees the rule, not an `os.name` test:

- who may read a file: POSIX mode bits (`permissions_are_mode_bits`) or Windows ACLs, which Python cannot read
  portably (the README's ACL advice instead);
- durability: a folder can be fsynced on POSIX only (`fsync_folder`); NTFS journals a rename itself;
- the -shm wal-index shortcut (registry/storage/walwatch.py): mapped on POSIX only (`can_map_wal_index`);
- process priority of a backup: nice and, on Linux, SCHED_IDLE (`lower_process_priority`); nothing on Windows;
- the signals that stop `serve` (`stop_signals`): SIGTERM, plus Ctrl-Break (SIGBREAK) on Windows;
- the C allocator: glibc's trimming of freed heap is tuned for large answers (`keep_freed_memory_for_reuse`);
- waitress's event loop (`select_safe_connections`, `can_poll`): select() on either system, with a different
  ceiling, and poll() where there is one;
- file replacement: Windows refuses to replace a file another handle holds open (`replace_file` retries for a
  moment); hard links (`can_hard_link`) publish a snapshot without ever overwriting an existing name.

`PROFILE_REGISTRY_FORCE_WINDOWS=1` makes this module take its Windows branches on any system, so CI on Linux runs
them (`.ci/run` runs the suite a second time with it). Only what this module decides changes; a real POSIX system
call that a test makes itself still works. Tests may set `WINDOWS` directly (monkeypatch) to take one branch.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

FORCE_WINDOWS_VARIABLE = "PROFILE_REGISTRY_FORCE_WINDOWS"

# True on Windows, or where the test switch asks for the Windows branches. Read by every function below at call
# time, so a test can monkeypatch it.
WINDOWS: bool = os.name == "nt" or os.environ.get(FORCE_WINDOWS_VARIABLE, "") == "1"

# Windows-only open flag (no newline translation in the C runtime); 0 elsewhere, where os.open is always binary.
BINARY_OPEN_FLAG: int = getattr(os, "O_BINARY", 0)

# How long replace_file keeps retrying while Windows reports the target as in use (a reader has it open).
REPLACE_RETRY_SECONDS = 1.0


def can_poll() -> bool:
    """Whether waitress can use poll() for its event loop (POSIX); Windows has select() only."""
    return not WINDOWS


def select_safe_connections() -> int:
    """How many connections waitress's select() loop can hold on this system.

    POSIX select() cannot watch a descriptor numbered 1024 (FD_SETSIZE) or more, and the connections share the
    numbers below it with the database files, the listener and waitress's trigger pipe: 768 leaves that headroom.
    CPython on Windows builds select() for 512 sockets in all, the listener and the trigger socket pair among them.
    """
    return 500 if WINDOWS else 768


def permissions_are_mode_bits() -> bool:
    """Whether the mode bits of a file say who may read it (POSIX). On Windows ACLs do, and the mode is a stub."""
    return not WINDOWS


def create_owner_only_file(path: Path) -> None:
    """Create an empty file, failing if it exists: 0600 on POSIX; Windows ignores the mode (README: ACLs).

    Prompts in a registry are sensitive; creating the file before SQLite does (which would make it 0644) makes the
    -wal and -shm files, which copy the main file's mode, owner-only too.
    """
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | BINARY_OPEN_FLAG, 0o600))


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDWR | BINARY_OPEN_FLAG)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; directories cannot be opened on Windows, where NTFS journals the rename."""
    if WINDOWS:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def can_map_wal_index() -> bool:
    """Whether the -shm file may be memory-mapped to read the wal-index header (registry/storage/walwatch.py).

    Windows keeps its mapping of -shm in its own way and SQLite deletes the file on last close; mapping it there is
    untested, so Windows asks `PRAGMA data_version` on every check.
    """
    return not WINDOWS


def can_hard_link() -> bool:
    """Whether os.link exists (it does on POSIX and on Windows since Python 3.2; a filesystem may still refuse)."""
    return hasattr(os, "link")


def lower_process_priority(niceness: int) -> None:
    """Run the rest of this process as background work: nice +niceness (POSIX), and on Linux SCHED_IDLE.

    SCHED_IDLE is what makes the difference for a service's tail latency on the same host: the scheduler hands the
    CPU to a waking request thread at once instead of letting a merely niced process finish its time slice. It still
    gets a small share on a saturated host, so the work is slowed there, never starved. Nothing on Windows.
    """
    if WINDOWS:
        return
    if hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError:  # a container may forbid it; the work is still correct, only less polite
            pass
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass


# glibc mallopt() parameters (malloc.h) and the values `serve` sets: freed heap above TRIM is handed back to the
# system; blocks of MMAP or more get their own mapping.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
FREED_HEAP_KEPT_BYTES = 32 * 1024 * 1024
OWN_MAPPING_FROM_BYTES = 8 * 1024 * 1024


def keep_freed_memory_for_reuse() -> bool:
    """Let glibc keep up to FREED_HEAP_KEPT_BYTES of freed heap per arena instead of returning it at once.

    Each answer of the list route is a few hundred KiB copied through waitress's buffers in a worker thread. With
    glibc's defaults each worker's arena grows its heap for it (mprotect) and trims it again after (madvise), a
    dozen system calls per request: about a tenth of the list route's throughput under wrk (bench/read_api.py).
    The cost is memory the process keeps at its peak (bounded by the threshold per arena) rather than returns.
    Only glibc (Linux) has mallopt(); returns whether it was applied.
    """
    if WINDOWS or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt, nothing to tune
        return False
    # Both are set: setting the trim threshold alone would also freeze the mmap threshold at 128 KiB, and every
    # answer would then be its own mmap/munmap pair.
    return bool(mallopt(_M_MMAP_THRESHOLD, OWN_MAPPING_FROM_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, FREED_HEAP_KEPT_BYTES)
    )


def stop_signals() -> list[signal.Signals]:
    """Signals that should stop a server the way Ctrl-C (SIGINT, KeyboardInterrupt) does.

    SIGTERM everywhere (systemd stop, `kill`; on Windows Python can install it, though only the process itself
    raises it); on Windows also SIGBREAK, which Ctrl-Break and a console close send. A name this Python does not
    define (SIGBREAK off Windows, under the test switch) is left out.
    """
    names = ["SIGTERM", "SIGBREAK"] if WINDOWS else ["SIGTERM"]
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def replace_file(source: Path, target: Path) -> None:
    """os.replace, which on Windows fails with PermissionError while another handle has `target` open.

    A reader (listing the backups reads each manifest) holds a file only for a moment, so on Windows the replace is
    retried for up to REPLACE_RETRY_SECONDS before the error is raised. On POSIX a replace never waits on readers.
    """
    deadline = time.monotonic() + REPLACE_RETRY_SECONDS
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if not WINDOWS or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
