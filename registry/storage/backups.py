"""Snapshots of a registry database: create, list, verify, prune, compare and restore. Paths in, paths out; no Flask.

A snapshot is taken with SQLite's online backup API (never a file copy of a live WAL database), written to an
owner-only temporary file, switched to journal_mode=DELETE so it is one self-contained file, checked, synced and
renamed to the runbook's name `profiles.db.bak.YYYYMMDD-HHMMSS` (UTC). A JSON manifest beside it
(`<name>.manifest.json`) records its sha256, size and the rows' `updated_at_ms`. Restore copies a checked snapshot
INTO the open live database through the backup API, so it works while the service runs and on Windows; the live
file is never renamed, replaced or deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from registry.domain.errors import SlugError, StartupError, ValidationError
from registry.domain.model import DecodeError
from registry.storage import sqlite_db as db
from registry.storage.interface import Progress, SnapshotError, SnapshotNotFound
from registry.storage.sqlite_store import (
    EXPECTED_COLUMNS,
    TABLE,
    copy_database,
    open_snapshot_file,
    parse_row,
    restore_database,
    row_timestamp,
)

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
TOOL = "profile-registry"
_STAMP = "%Y%m%d-%H%M%S"
_TMP_PREFIX = ".tmp-"
SQLITE_HEADER = b"SQLite format 3\x00"
NO_MANIFEST = "no manifest (not made by profile-registry backup)"

@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot file as listed: where, when, how big, whether its manifest and checksum agree."""

    name: str
    path: Path
    created_at: datetime
    size: int
    sha256: str | None
    verified: bool
    registries: dict[str, int]
    newest_updated_at_ms: int | None
    problem: str | None
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def restorable(self) -> bool:
        """Offered for restore: verified against its manifest, or a runbook `cp` copy that has none.

        Either way restore_snapshot checks the file itself first (integrity, schema, every row), as the CLI does;
        a snapshot whose manifest disagrees with it (or cannot be read) is never offered.
        """
        return self.verified or self.problem == NO_MANIFEST

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for `backups --json` and the API."""
        return {
            "name": self.name,
            "path": str(self.path),
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "size": self.size,
            "sha256": self.sha256,
            "verified": self.verified,
            "registries": dict(self.registries),
            "newest_updated_at_ms": self.newest_updated_at_ms,
            "problem": self.problem,
            "reason": self.manifest.get("reason", ""),
        }


@dataclass(frozen=True)
class RegistryChange:
    """How one registry in a snapshot compares with the live database."""

    slug: str
    live_updated_at_ms: int | None
    snapshot_updated_at_ms: int | None
    change: str  # "added" | "removed" | "older" | "newer" | "same", seen from the live side after a restore

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "live_updated_at_ms": self.live_updated_at_ms,
            "snapshot_updated_at_ms": self.snapshot_updated_at_ms,
            "change": self.change,
        }


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the snapshot restored, the safety snapshot taken first, and the per-registry changes."""

    snapshot: SnapshotInfo
    safety_snapshot: SnapshotInfo
    changes: list[RegistryChange]


@dataclass(frozen=True)
class CheckedDatabase:
    """The facts a successful check of a database file produced."""

    registries: dict[str, int]
    defaults: dict[str, str]
    profiles: dict[str, list[str]]
    page_size: int


# --- names and folders ------------------------------------------------------------------------------------


def backup_folder(db_path: Path, backup_dir: Path | None = None) -> Path:
    """Where snapshots of `db_path` live: `backup_dir`, else the database's own folder (as in the runbook)."""
    return Path(backup_dir) if backup_dir is not None else Path(db_path).absolute().parent


def _name_pattern(db_path: Path) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(Path(db_path).name)}\.bak\.(\d{{8}}-\d{{6}})(?:-(\d+))?$")


def manifest_path(snapshot_path: Path) -> Path:
    """The manifest beside a snapshot."""
    return snapshot_path.with_name(snapshot_path.name + MANIFEST_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; directories cannot be opened on Windows, where NTFS journals the rename itself."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_private(path: Path) -> None:
    """Create an empty owner-only file (0600 on POSIX; Windows ignores the mode, see README on ACLs)."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600))


def _publish(tmp: Path, folder: Path, base: str) -> Path:
    """Move `tmp` to `base` or `base-2`, `base-3`...: never over an existing file."""
    n = 1
    while True:
        final = folder / (base if n == 1 else f"{base}-{n}")
        try:
            if hasattr(os, "link"):
                # link() fails when the name exists, which rename() on POSIX would silently overwrite.
                os.link(tmp, final)
                os.unlink(tmp)
            else:
                os.rename(tmp, final)  # Windows: rename refuses an existing target
            return final
        except FileExistsError:
            n += 1
        except OSError:
            if final.exists():
                n += 1
                continue
            # A filesystem without hard links (FAT, some network shares): fall back to a checked rename.
            os.rename(tmp, final)
            return final


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress("hash", done, total)
    return digest.hexdigest()


# --- checking a database file -----------------------------------------------------------------------------


def check_connection(conn: sqlite3.Connection, label: str, progress: Progress | None = None) -> CheckedDatabase:
    """integrity_check, the table and its columns, every payload decodes and validates; SnapshotError otherwise."""
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        if result != ["ok"]:
            raise SnapshotError(f"{label}: integrity check failed: {'; '.join(result[:5])}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if TABLE not in tables:
            raise SnapshotError(f"{label}: no {TABLE} table")
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
        if not set(EXPECTED_COLUMNS) <= columns:
            raise SnapshotError(
                f"{label}: table {TABLE} lacks columns {', '.join(sorted(set(EXPECTED_COLUMNS) - columns))}"
            )
        total = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        registries: dict[str, int] = {}
        defaults: dict[str, str] = {}
        profiles: dict[str, list[str]] = {}
        for i, (slug, payload, updated) in enumerate(
            conn.execute(f"SELECT slug, payload_json, updated_at_ms FROM {TABLE} ORDER BY slug")
        ):
            text = payload if isinstance(payload, str) else bytes(payload or b"").decode("utf-8", "replace")
            try:
                registry = parse_row(str(slug), text)
            except (DecodeError, SlugError, ValidationError) as exc:
                raise SnapshotError(f"{label}: registry {slug!r} has a bad payload: {exc}") from exc
            updated_at_ms, stamp_problem = row_timestamp(updated)
            if stamp_problem:
                raise SnapshotError(f"{label}: registry {slug!r}: {stamp_problem}")
            registries[registry["slug"]] = updated_at_ms
            defaults[registry["slug"]] = registry.get("default_profile_slug") or ""
            profiles[registry["slug"]] = sorted(registry["profiles"])
            if progress:
                progress("check", i + 1, total)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{label}: not a usable SQLite database: {exc}") from exc
    return CheckedDatabase(registries, defaults, profiles, int(page_size))


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError as exc:
        raise SnapshotNotFound(f"{path.name}: no such snapshot") from exc
    except OSError as exc:
        raise SnapshotError(f"{path.name}: cannot read: {exc.strerror}") from exc
    if header != SQLITE_HEADER:
        raise SnapshotError(f"{path.name}: not a SQLite database (file header is wrong)")
    size = path.stat().st_size
    if size < 512:
        raise SnapshotError(f"{path.name}: truncated ({size} bytes)")


def read_manifest(snapshot_path: Path) -> dict[str, Any] | None:
    """The manifest's JSON, or None when there is none; SnapshotError when it exists but is unreadable."""
    path = manifest_path(snapshot_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"{path.name}: cannot read manifest: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path.name}: manifest is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path.name}: manifest is not a JSON object")
    return data


def _verify(path: Path, progress: Progress | None = None) -> CheckedDatabase:
    """Every check of `verify_snapshot`; returns the facts the check produced."""
    _check_header(path)
    manifest = read_manifest(path)
    if manifest is not None:
        size = path.stat().st_size
        if manifest.get("size") != size:
            raise SnapshotError(f"{path.name}: size {size} does not match the manifest ({manifest.get('size')})")
        sha = sha256_file(path, progress)
        if manifest.get("sha256") != sha:
            raise SnapshotError(f"{path.name}: checksum mismatch with its manifest (the file changed or is damaged)")
        _remember_sha(path, sha)
    try:
        conn = open_snapshot_file(path)
    except sqlite3.Error as exc:
        raise SnapshotError(f"{path.name}: cannot open: {exc}") from exc
    try:
        return check_connection(conn, path.name, progress)
    finally:
        conn.close()


def check_unlisted(path: Path) -> tuple[SnapshotInfo, CheckedDatabase]:
    """A snapshot without a manifest, checked now (what restore_snapshot will check); SnapshotError otherwise."""
    checked = _verify(Path(path))
    return _unlisted(Path(path), checked), checked


def verify_snapshot(path: Path) -> None:
    """Raise SnapshotError(reason) unless the file is a sound registry database matching its manifest (if any)."""
    _verify(Path(path))


# --- creating ---------------------------------------------------------------------------------------------


def _target_for(db_path: Path) -> db.DatabaseTarget:
    return db.target_from_path(db_path)


def create_backup(
    db_path: Path,
    backup_dir: Path | None = None,
    *,
    keep: int | None = None,
    max_age_days: float | None = None,
    progress: Progress | None = None,
    reason: str = "backup",
) -> SnapshotInfo:
    """Snapshot `db_path` into the backup folder, check it, write its manifest, then prune (if keep/max_age given)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise SnapshotError(f"database {db_path} does not exist")
    folder = backup_folder(db_path, backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    tmp = folder / f"{_TMP_PREFIX}{db_path.name}.{secrets.token_hex(4)}"
    _create_private(tmp)
    try:
        copy_database(_target_for(db_path), tmp, progress)
        # The file is final now: sync it to disk and hash it, each in a thread, while the rows are checked (all
        # three release the GIL for most of their work), which takes about a third off a large backup.
        syncing = _Background(_fsync_file, tmp)
        hashing = _Background(sha256_file, tmp, progress)
        dest = open_snapshot_file(tmp)
        try:
            checked = check_connection(dest, f"snapshot of {db_path.name}", progress)
        finally:
            dest.close()
            sha = hashing.result()
            syncing.result()  # the file is on disk before it gets its name
        _checkpoint_after_backup(db_path)
        size = tmp.stat().st_size
        final = _publish(tmp, folder, f"{db_path.name}.bak.{now.strftime(_STAMP)}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = {
        "format": MANIFEST_FORMAT,
        "tool": TOOL,
        "snapshot": final.name,
        "database": str(db_path.absolute()),
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "reason": reason,
        "sha256": sha,
        "size": size,
        "page_size": checked.page_size,
        "registries": checked.registries,
        "default_profiles": checked.defaults,
        "profiles": checked.profiles,
        "newest_updated_at_ms": max(checked.registries.values(), default=None),
    }
    try:
        _write_manifest(final, manifest)
        _fsync_dir(folder)
    except BaseException:
        # Interrupted (Ctrl-C) or failed between the rename and the manifest: a snapshot is the file and its
        # manifest together, so neither stays behind and the command can say "nothing written".
        final.unlink(missing_ok=True)
        manifest_path(final).unlink(missing_ok=True)
        raise
    _remember_sha(final, sha)
    info = _info(final, db_path, manifest, sha_checked=sha)
    log.info("backup of %s written to %s (%d bytes, sha256 %s)", db_path, final, size, sha)
    if keep is not None or max_age_days is not None:
        prune(db_path, backup_dir, keep=keep, max_age_days=max_age_days)
    return info


class _Background:
    """`function(*args)` in a daemon thread; `result()` joins, then returns its value or re-raises its error."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self.thread.start()

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self.value = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self.error = exc

    def result(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


def _checkpoint_after_backup(db_path: Path) -> None:
    """The backup's read transaction pinned the WAL; writes made meanwhile are moved into the main file now.

    Without this, the service's per-write checkpoint property ("cp of the main file holds every row") would not
    hold for writes committed while a backup ran, until the next write.
    """
    try:
        conn = db.connect(_target_for(db_path))
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("checkpoint after backup of %s failed: %s", db_path, exc)


def _write_manifest(snapshot: Path, manifest: dict[str, Any]) -> None:
    path = manifest_path(snapshot)
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    _create_private(tmp)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- listing ----------------------------------------------------------------------------------------------

# (path, size, mtime_ns, inode) -> sha256: hashing a large snapshot once per process is enough.
_sha_cache: dict[tuple[str, int, int, int], str] = {}
_sha_cache_lock = threading.Lock()


def _sha_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def _remember_sha(path: Path, sha: str) -> None:
    with _sha_cache_lock:
        _sha_cache[_sha_key(path)] = sha


def _cached_sha(path: Path) -> str:
    key = _sha_key(path)
    with _sha_cache_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    sha = sha256_file(path)
    with _sha_cache_lock:
        _sha_cache[key] = sha
    return sha


def _info(
    path: Path,
    db_path: Path,
    manifest: dict[str, Any] | None,
    sha_checked: str | None = None,
    *,
    hash_file: bool = True,
) -> SnapshotInfo:
    """SnapshotInfo from the file and its manifest; `verified` means the manifest's size and sha256 match.

    With hash_file=False the manifest's checksum is trusted (only the size is compared).
    """
    match = _name_pattern(db_path).match(path.name)
    stamp = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC) if match else None
    size = path.stat().st_size
    problem = None
    sha = None
    registries: dict[str, int] = {}
    newest = None
    if manifest is None:
        problem = NO_MANIFEST
    else:
        raw = manifest.get("registries")
        registries = {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        newest = manifest.get("newest_updated_at_ms")
        if manifest.get("snapshot") != path.name:
            problem = f"manifest names {manifest.get('snapshot')!r}, not this file"
        elif manifest.get("size") != size:
            problem = f"size {size} does not match the manifest ({manifest.get('size')})"
        elif not hash_file and sha_checked is None:
            sha = manifest.get("sha256")
        else:
            sha = sha_checked or _cached_sha(path)
            if sha != manifest.get("sha256"):
                problem = "checksum mismatch with the manifest"
        try:
            created = datetime.fromisoformat(str(manifest.get("created_at")))
            stamp = created.astimezone(UTC)
        except ValueError:
            pass
    if stamp is None:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return SnapshotInfo(
        name=path.name,
        path=path,
        created_at=stamp,
        size=size,
        sha256=sha if problem is None else (manifest or {}).get("sha256"),
        verified=problem is None,
        registries=registries,
        newest_updated_at_ms=int(newest) if isinstance(newest, int) else None,
        problem=problem,
        manifest=manifest or {},
    )


def list_snapshots(db_path: Path, backup_dir: Path | None = None, *, verify: bool = True) -> list[SnapshotInfo]:
    """Every snapshot of `db_path` in the backup folder (runbook-named files included), newest first.

    `verify` hashes each snapshot against its manifest (once per file per process, then cached by size, mtime
    and inode); verify=False trusts the manifests and compares sizes only.
    """
    folder = backup_folder(db_path, backup_dir)
    if not folder.is_dir():
        return []
    pattern = _name_pattern(db_path)
    infos = []
    for path in folder.iterdir():
        if not pattern.match(path.name) or not path.is_file():
            continue
        try:
            manifest = read_manifest(path)
            infos.append(_info(path, Path(db_path), manifest, hash_file=verify))
        except SnapshotError as exc:
            infos.append(_broken(path, str(exc)))
        except OSError:
            continue  # vanished while listing (a concurrent prune)
    infos.sort(key=lambda i: (i.created_at, _suffix(i.name)), reverse=True)
    return infos


def _suffix(name: str) -> int:
    match = re.search(r"-(\d+)$", name.rsplit(".", 1)[-1])
    return int(match.group(1)) if match and len(match.group(1)) < 6 else 1


def _broken(path: Path, problem: str) -> SnapshotInfo:
    """A snapshot whose manifest cannot be read: listed, never verified, never pruned."""
    st = path.stat()
    return SnapshotInfo(
        path.name, path, datetime.fromtimestamp(st.st_mtime, UTC), st.st_size, None, False, {}, None, problem
    )


def find_snapshot(db_path: Path, name: str, backup_dir: Path | None = None) -> SnapshotInfo:
    """The snapshot called `name` among those listed; SnapshotNotFound for anything else (paths included)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or not _name_pattern(db_path).match(name):
        raise SnapshotNotFound(f"no snapshot named {name!r}")
    for info in list_snapshots(db_path, backup_dir):
        if info.name == name:
            return info
    raise SnapshotNotFound(f"no snapshot named {name!r}")


# --- retention --------------------------------------------------------------------------------------------


def prune(
    db_path: Path, backup_dir: Path | None = None, *, keep: int | None = None, max_age_days: float | None = None
) -> list[Path]:
    """Delete our snapshots beyond the newest `keep` or older than `max_age_days`; never the newest verified one.

    Only files with a manifest written by this tool are candidates: a runbook `cp` copy or a foreign file stays.
    `keep` None/0 and `max_age_days` None/0 switch that rule off.
    """
    snapshots = [s for s in list_snapshots(db_path, backup_dir, verify=False) if s.manifest.get("tool") == TOOL]
    # Hash newest first and stop at the first match: usually the snapshot just made, whose sha is cached.
    newest_verified = next((s for s in snapshots if s.verified and _info(s.path, db_path, s.manifest).verified), None)
    now = datetime.now(UTC)
    deleted = []
    for index, snap in enumerate(snapshots):
        if newest_verified is not None and snap.name == newest_verified.name:
            continue
        too_many = bool(keep) and index >= int(keep)  # type: ignore[arg-type]
        too_old = bool(max_age_days) and now - snap.created_at > timedelta(days=float(max_age_days))  # type: ignore[arg-type]
        if too_many or too_old:
            snap.path.unlink(missing_ok=True)
            manifest_path(snap.path).unlink(missing_ok=True)
            deleted.append(snap.path)
            log.info("pruned snapshot %s (%s)", snap.name, "beyond keep" if too_many else "older than max age")
    _remove_abandoned_temporaries(backup_folder(db_path, backup_dir), Path(db_path).name)
    return deleted


def _remove_abandoned_temporaries(folder: Path, db_name: str) -> None:
    """Temporary files of backups that died (a killed process) a day or more ago; a running backup is younger."""
    cutoff = datetime.now(UTC).timestamp() - 86400
    for path in folder.glob(f"{_TMP_PREFIX}{db_name}.*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("removed abandoned temporary file %s", path)
        except OSError:
            continue


# --- comparing and restoring ------------------------------------------------------------------------------


def live_registries(db_path: Path) -> dict[str, int]:
    """slug -> updated_at_ms of the live database's rows."""
    conn = db.connect(_target_for(db_path), read_only=True)
    try:
        return {str(s): row_timestamp(u)[0] for s, u in conn.execute(f"SELECT slug, updated_at_ms FROM {TABLE}")}
    finally:
        conn.close()


def compare(live: dict[str, int], snapshot: dict[str, int]) -> list[RegistryChange]:
    """Per registry: what restoring `snapshot` over `live` would do (added/removed/older/newer/same)."""
    changes = []
    for slug in sorted(set(live) | set(snapshot)):
        lv, sv = live.get(slug), snapshot.get(slug)
        if lv is None:
            change = "added"
        elif sv is None:
            change = "removed"
        elif sv < lv:
            change = "older"
        elif sv > lv:
            change = "newer"
        else:
            change = "same"
        changes.append(RegistryChange(slug, lv, sv, change))
    return changes


def compare_with_live(db_path: Path, snapshot: SnapshotInfo) -> list[RegistryChange]:
    """How the snapshot's registries differ from the live rows ("older" = the snapshot's row is older)."""
    return compare(live_registries(db_path), snapshot.registries)


def restore_snapshot(db_path: Path, snapshot_path: Path, backup_dir: Path | None = None) -> RestoreResult:
    """Check the snapshot, take a safety snapshot, then copy the snapshot into the open live database.

    The copy goes through the backup API into a connection on the live file (one step, under the process-wide
    write lock), followed by a TRUNCATE checkpoint; running services see it through `PRAGMA data_version`.
    The live file is never renamed, replaced or deleted. A refused snapshot changes nothing.
    """
    db_path = Path(db_path)
    snapshot_path = Path(snapshot_path)
    if not db_path.is_file():
        raise SnapshotError(f"database {db_path} does not exist")
    checked = _verify(snapshot_path)
    target = _target_for(db_path)

    def safety_snapshot() -> tuple[dict[str, int], SnapshotInfo]:
        before = live_registries(db_path)
        return before, create_backup(db_path, backup_dir, reason=f"before restore of {snapshot_path.name}")

    before, safety = restore_database(target, snapshot_path, safety_snapshot)
    manifest = read_manifest(snapshot_path)
    info = _info(snapshot_path, db_path, manifest) if manifest else _unlisted(snapshot_path, checked)
    log.warning("restored %s from %s (safety snapshot %s)", db_path, snapshot_path, safety.path)
    return RestoreResult(info, safety, compare(before, checked.registries))


def _unlisted(path: Path, checked: CheckedDatabase) -> SnapshotInfo:
    """A checked snapshot without a manifest (a runbook `cp` file): facts from the check itself."""
    st = path.stat()
    return SnapshotInfo(
        name=path.name,
        path=path,
        created_at=datetime.fromtimestamp(st.st_mtime, UTC),
        size=st.st_size,
        sha256=None,
        verified=False,
        registries=checked.registries,
        newest_updated_at_ms=max(checked.registries.values(), default=None),
        problem=NO_MANIFEST,
    )


# --- stale WAL after an offline copy ----------------------------------------------------------------------


def stale_wal_reason(db_path: Path) -> str | None:
    """Why a `-wal` beside `db_path` cannot belong to it (the offline restore's trap), or None.

    A WAL-mode database carries 2 in header bytes 18-19; our snapshots (and any rollback-journal file) carry 1.
    A non-empty `-wal` beside a file whose header says rollback journal was left by the file that was copied
    over: SQLite would replay it on open and bring old rows back. (A runbook `cp` of a WAL-mode file carries 2
    and cannot be told apart from a crashed service's own database; README says to remove its -wal/-shm.)
    """
    wal = Path(f"{db_path}-wal")
    try:
        if wal.stat().st_size == 0:
            return None
        with Path(db_path).open("rb") as handle:
            header = handle.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return None
    if header[18] == 1 and header[19] == 1:
        return "the database file is in rollback-journal mode (a copied-in snapshot), so the WAL beside it is left over"
    return None


def move_stale_wal(db_path: Path) -> list[Path]:
    """If the `-wal` beside `db_path` is stale, rename it and `-shm` to `*.stale-<UTC stamp>`; returns new paths.

    Call only before any connection to `db_path` is open (the service's open does).
    """
    reason = stale_wal_reason(db_path)
    if reason is None:
        return []
    stamp = datetime.now(UTC).strftime(_STAMP)
    moved = []
    for suffix in ("-wal", "-shm"):
        path = Path(f"{db_path}{suffix}")
        if path.exists():
            dest = path.with_name(f"{path.name}.stale-{stamp}")
            n = 2
            while dest.exists():
                dest = path.with_name(f"{path.name}.stale-{stamp}-{n}")
                n += 1
            try:
                os.rename(path, dest)
            except OSError as exc:
                raise StartupError(
                    f"{path} is left over from the database that was copied over {db_path} ({reason}) and could "
                    f"not be moved aside: {exc.strerror}; stop every process using it and move it away by hand"
                ) from exc
            moved.append(dest)
    log.warning("%s: moved the stale -wal/-shm aside as %s (%s)", db_path, ", ".join(p.name for p in moved), reason)
    return moved
