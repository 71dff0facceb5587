"""The JSON manifest beside each snapshot, and what a snapshot file and its manifest say together (SnapshotInfo).

`<snapshot>.manifest.json` records the snapshot's sha256 and size (so a damaged or altered file is noticed), the
rows' `updated_at_ms`, each registry's profiles and default, and why the snapshot was taken.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.host_os import create_owner_only_file, replace_file
from registry.storage.backups.files import TMP_PREFIX, cached_sha, stamp_of
from registry.storage.backups.live import Database, live_database
from registry.storage.interface import CheckedDatabase, SnapshotError

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
# The `tool` a manifest names: retention deletes only snapshots this tool made.
TOOL = "profile-registry"
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

    @property
    def quarantined(self) -> list[str]:
        """Slugs of the rows the snapshot keeps as they were but quarantined (a backup taken while the live database
        had bad rows): the file is a faithful copy, but a whole restore of it is refused until they are repaired."""
        rows = self.manifest.get("quarantined") if self.verified else None
        return sorted(rows) if isinstance(rows, dict) else []

    def quarantined_text(self, shown: int = 10) -> str:
        """The quarantined slugs for a person to read: the first `shown`, each cut to a slug's length, then a count
        (a manifest is a file anyone with access to the backup folder can edit)."""
        slugs = self.quarantined
        text = ", ".join(slug if len(slug) <= 64 else slug[:63] + "…" for slug in slugs[:shown])
        return text + (f" and {len(slugs) - shown} more" if len(slugs) > shown else "")

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
            "quarantined": self.quarantined,
        }


def manifest_path(snapshot_path: Path) -> Path:
    """The manifest beside a snapshot."""
    return snapshot_path.with_name(snapshot_path.name + MANIFEST_SUFFIX)


def new_manifest(
    snapshot: Path, target: Database, created: datetime, reason: str, sha: str, checked: CheckedDatabase
) -> dict[str, Any]:
    """The manifest of a snapshot just taken and checked."""
    return {
        "format": MANIFEST_FORMAT,
        "tool": TOOL,
        "snapshot": snapshot.name,
        "database": live_database(target).location,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "reason": reason,
        "sha256": sha,
        "size": snapshot.stat().st_size,
        "page_size": checked.page_size,
        "registries": checked.registries,
        "default_profiles": checked.defaults,
        "profiles": checked.profiles,
        "newest_updated_at_ms": max(checked.registries.values(), default=None),
        # Rows kept as they were but quarantined (slug -> reason), and how the schema differs: such a snapshot
        # is a faithful copy, and restore_snapshot refuses it until it is repaired.
        "quarantined": checked.quarantined,
        "schema_problems": checked.schema_problems,
    }


# The largest manifest read. One written here lists every registry's profile slugs: a few hundred KiB for 10,000
# profiles. Anyone who can write to the backup folder can put a larger one there, and every listing (the dashboard,
# `backups`, retention) reads every manifest, so a larger one is refused unread, like a manifest that does not parse.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def read_manifest(snapshot_path: Path) -> dict[str, Any] | None:
    """The manifest's JSON, or None when there is none; SnapshotError when it exists but is unreadable."""
    path = manifest_path(snapshot_path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"{path.name}: cannot read manifest: {exc.strerror}") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise SnapshotError(f"{path.name}: manifest is larger than the {MAX_MANIFEST_BYTES} bytes a manifest may have")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{path.name}: manifest is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path.name}: manifest is not JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise SnapshotError(f"{path.name}: manifest is nested too deeply") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"{path.name}: manifest is not a JSON object")
    problem = manifest_problem(data)
    if problem:
        # Only this snapshot is affected: listed unverified with the reason, never restored, never pruned.
        raise SnapshotError(f"{path.name}: manifest is invalid: {problem}")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# Each field of a manifest and the type its value must have (a field may be absent: older manifests lack some).
_SCALAR_FIELDS = {
    "format": (_is_int, "a whole number"),
    "tool": (_is_str, "a string"),
    "snapshot": (_is_str, "a string"),
    "database": (_is_str, "a string"),
    "created_at": (_is_str, "a string"),
    "reason": (_is_str, "a string"),
    "sha256": (_is_str, "a string"),
    "size": (_is_int, "a whole number"),
    "page_size": (_is_int, "a whole number"),
    "newest_updated_at_ms": (lambda v: v is None or _is_int(v), "a whole number or null"),
    "schema_problems": (_is_str_list, "a list of strings"),
}
_MAP_FIELDS = {
    "registries": (_is_int, "a whole number"),
    "default_profiles": (_is_str, "a string"),
    "profiles": (_is_str_list, "a list of strings"),
    "quarantined": (_is_str, "a string"),
}


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """The first field of a manifest whose value has the wrong type, as one phrase; None when every field is right.

    A manifest is a file anyone with access to the backup folder can edit; everything that reads one (listing,
    retention, restore, the dashboard) relies on these types, so a manifest that breaks them is refused here.
    """
    for name, (ok, expected) in _SCALAR_FIELDS.items():
        if name in manifest and not ok(manifest[name]):
            return f"{name} is {json.dumps(manifest[name])[:60]}, not {expected}"
    for name, (ok, expected) in _MAP_FIELDS.items():
        value = manifest.get(name)
        if name not in manifest:
            continue
        if not isinstance(value, dict):
            return f"{name} is {json.dumps(value)[:60]}, not an object"
        for key, item in value.items():
            if not ok(item):
                return f"{name}[{key!r}] is {json.dumps(item)[:60]}, not {expected}"
    if "created_at" in manifest:
        try:
            datetime.fromisoformat(manifest["created_at"])
        except ValueError:
            return f"created_at {manifest['created_at'][:40]!r} is not an ISO 8601 time"
    return None


def write_manifest(snapshot: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest beside the snapshot: owner-only, synced, then renamed into place."""
    path = manifest_path(snapshot)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    create_owner_only_file(tmp)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        # A reader listing the backups may hold the old manifest open, which Windows refuses to replace (host_os).
        replace_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def snapshot_info(
    path: Path,
    target: Database,
    manifest: dict[str, Any] | None,
    sha_checked: str | None = None,
    *,
    hash_file: bool = True,
) -> SnapshotInfo:
    """SnapshotInfo from the file and its manifest; `verified` means the manifest's size and sha256 match.

    With hash_file=False the manifest's checksum is trusted (only the size is compared).
    """
    stamp = stamp_of(path.name, target)
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
            sha = sha_checked or cached_sha(path)
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


def broken_info(path: Path, problem: str) -> SnapshotInfo:
    """A snapshot whose manifest cannot be read: listed, never verified, never pruned."""
    st = path.stat()
    return SnapshotInfo(
        path.name, path, datetime.fromtimestamp(st.st_mtime, UTC), st.st_size, None, False, {}, None, problem
    )


def unlisted_info(path: Path, checked: CheckedDatabase) -> SnapshotInfo:
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
