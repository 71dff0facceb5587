"""Backups over HTTP: list, create (admin) and restore (admin) snapshots of the service's first database source
(SQLite or PostgreSQL: the snapshots are the same files, registry/storage/backups/live.py)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from flask import Response, current_app, g, request
from flask.views import MethodView
from marshmallow import Schema, fields

from registry.api.common import Blueprint, dumped, service
from registry.api.errors import json_error
from registry.api.schemas import ErrorBodySchema, ResponseSchema
from registry.service.partial_restore import Selection, restore_partially
from registry.service.snapshot_diff import diff_snapshot, live_side, snapshot_side
from registry.storage import backups
from registry.web.auth import require_admin, require_writable

blp = Blueprint("backups", __name__, url_prefix="/api/backups", description="Snapshots of the registry database")

# The bearer scheme is declared once, in register_api (registry/api/__init__.py).
AUTH_DOC: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


class SnapshotSchema(ResponseSchema):
    """One snapshot as `profile-registry backups --json` shows it."""

    name = fields.String(required=True)
    path = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    size = fields.Integer(required=True)
    sha256 = fields.String(allow_none=True)
    verified = fields.Boolean(required=True, metadata={"description": "manifest present, size and sha256 match"})
    registries = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "slug -> updated_at_ms"}
    )
    newest_updated_at_ms = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)
    reason = fields.String()
    quarantined = fields.List(
        fields.String(),
        metadata={"description": "rows kept as they were but quarantined: a whole restore of this snapshot is refused"},
    )


class BackupListSchema(ResponseSchema):
    """GET /api/backups."""

    database = fields.String(required=True)
    backup_dir = fields.String(required=True)
    snapshots = fields.List(fields.Nested(SnapshotSchema), required=True)


class CreatedBackupSchema(SnapshotSchema):
    """POST /api/backups: the new snapshot and what retention deleted."""

    pruned = fields.List(fields.String())


class RegistryChangeSchema(ResponseSchema):
    slug = fields.String(required=True)
    live_updated_at_ms = fields.Integer(allow_none=True)
    snapshot_updated_at_ms = fields.Integer(allow_none=True)
    change = fields.String(required=True, metadata={"description": "added, removed, older, newer or same"})


class RestoredRegistrySchema(ResponseSchema):
    slug = fields.String(required=True)
    change = fields.String(
        required=True, metadata={"description": "replaced, created, removed, profiles (some restored) or unchanged"}
    )
    before_updated_at_ms = fields.Integer(allow_none=True)
    after_updated_at_ms = fields.Integer(allow_none=True)
    profiles = fields.List(fields.String(), metadata={"description": "the profiles restored (a profile restore)"})


class RestoreResultSchema(ResponseSchema):
    """POST /api/backups/<name>/restore: `changes` for a whole restore, `registries` for a partial one."""

    restored = fields.Nested(SnapshotSchema, required=True)
    safety_snapshot = fields.Nested(SnapshotSchema, required=True)
    changes = fields.List(fields.Nested(RegistryChangeSchema))
    registries = fields.List(fields.Nested(RestoredRegistrySchema))


class RestoreRequestSchema(Schema):
    """An optional body: restore only these registries and profiles (needs `serve --writable`)."""

    registries = fields.List(fields.String(), metadata={"description": "registry slugs to restore whole"})
    profiles = fields.List(fields.String(), metadata={"description": "REGISTRY/PROFILE to restore one by one"})
    expected_updated_at_ms = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(strict=True, allow_none=True),
        metadata={
            "description": "slug -> the live updated_at_ms the diff showed (null: no row); a registry changed since "
            "is a 409 and nothing is restored"
        },
    )


class FieldChangeSchema(ResponseSchema):
    """One value that differs, at a JSON pointer inside the profile (or registry) document; secrets redacted."""

    path = fields.String(required=True, metadata={"description": "RFC 6901 JSON pointer; empty: the whole document"})
    op = fields.String(required=True, metadata={"description": "add (only after), remove (only before) or replace"})
    before = fields.Raw(allow_none=True, metadata={"description": "absent when op is add"})
    after = fields.Raw(allow_none=True, metadata={"description": "absent when op is remove"})


class ProfileDiffSchema(ResponseSchema):
    slug = fields.String(required=True)
    change = fields.String(required=True, metadata={"description": "added, removed or changed"})
    # data_key: a marshmallow Schema has its own `fields` attribute.
    changed_fields = fields.List(fields.Nested(FieldChangeSchema), required=True, data_key="fields", attribute="fields")


class RegistryDiffSchema(ResponseSchema):
    slug = fields.String(required=True)
    change = fields.String(
        required=True, metadata={"description": "added, removed, changed, same, or unreadable (a side's row is bad)"}
    )
    before_updated_at_ms = fields.Integer(allow_none=True, metadata={"description": "null: no row before"})
    after_updated_at_ms = fields.Integer(allow_none=True, metadata={"description": "null: no row after"})
    changed_fields = fields.List(
        fields.Nested(FieldChangeSchema),
        required=True,
        data_key="fields",
        attribute="fields",
        metadata={
            "description": "the registry's own fields (display_name, description, default_profile_slug, metadata)"
        },
    )
    profiles = fields.List(fields.Nested(ProfileDiffSchema), required=True)
    problem = fields.String(allow_none=True, metadata={"description": "why a side's row cannot be read"})


class DiffSideSchema(ResponseSchema):
    kind = fields.String(required=True, metadata={"description": "live or snapshot"})
    name = fields.String(required=True)
    path = fields.String(required=True)


class SnapshotDiffSchema(ResponseSchema):
    """GET /api/backups/<name>/diff: from `before` (live, or `?against=`) to `after` (the snapshot)."""

    before = fields.Nested(DiffSideSchema, required=True)
    after = fields.Nested(DiffSideSchema, required=True)
    registries = fields.List(fields.Nested(RegistryDiffSchema), required=True)


BACKUP_LIST = BackupListSchema()
CREATED_BACKUP = CreatedBackupSchema()
RESTORE_RESULT = RestoreResultSchema()
SNAPSHOT_DIFF = SnapshotDiffSchema()

AGAINST_PARAM = {
    "in": "query",
    "name": "against",
    "schema": {"type": "string"},
    "required": False,
    "description": "another snapshot's name: compare with it instead of the live data",
}


class NoDatabase(Exception):
    """The service has no database source (YAML only): there is nothing to back up."""


def database() -> backups.LiveDatabase:
    """The database the service backs up (RegistryService.backup_source), with every setting it is served with.

    The open store itself, so a restore into PostgreSQL goes through this instance's store and its next read
    shows the restored rows.
    """
    source = service().backup_source()
    if source is None:
        raise NoDatabase()
    return backups.live_database(source.store)


def folder() -> Path | None:
    value = current_app.config.get("BACKUP_DIR")
    return Path(value) if value else None


PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _guarded(fn):  # type: ignore[no-untyped-def]
    """Map this module's failures to JSON answers (404 unknown name, 422 refused snapshot, 409 no database or no
    backup folder, 503 the database unreachable or busy, 403/507 a snapshot that could not be written)."""

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except NoDatabase:
            return json_error(409, "no SQLite or PostgreSQL registry source to back up (YAML sources only)")
        except backups.NoBackupFolder as exc:
            return json_error(409, str(exc))
        except backups.SnapshotUnavailable as exc:
            return json_error(503, f"{exc}; nothing was changed")
        except backups.SnapshotNotFound as exc:
            return json_error(404, str(exc))
        except backups.BackupWriteError as exc:
            # The snapshot could not be written: 403 when the folder refuses us, 507 when the storage is full
            # (or fails otherwise); the message names the path and the operating system's reason.
            return json_error(403 if exc.errno in PERMISSION_ERRNOS else 507, str(exc))
        except backups.SnapshotError as exc:
            return json_error(422, str(exc))

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@blp.route("")
class Backups(MethodView):
    @blp.response(200, BackupListSchema)
    @blp.alt_response(409, schema=ErrorBodySchema, description="no database source, or no backup folder")
    @_guarded
    def get(self) -> Response:
        """Snapshots of the first database source (SQLite or PostgreSQL), newest first."""
        target = database()
        snapshots = backups.list_snapshots(target, folder())
        return dumped(
            BACKUP_LIST,
            {
                "database": target.location,
                "backup_dir": str(backups.backup_folder(target, folder())),
                "snapshots": [s.to_dict() for s in snapshots],
            }
        )

    @blp.doc(**AUTH_DOC)
    @blp.response(201, CreatedBackupSchema)
    @blp.alt_response(401, schema=ErrorBodySchema, description="missing or wrong bearer token")
    @blp.alt_response(409, schema=ErrorBodySchema, description="no database source, or no backup folder")
    @blp.alt_response(422, schema=ErrorBodySchema, description="the snapshot failed its checks")
    @blp.alt_response(503, schema=ErrorBodySchema, description="the database is unreachable or busy")
    @blp.alt_response(403, schema=ErrorBodySchema, description="the backup folder refuses the write (path, OS error)")
    @blp.alt_response(507, schema=ErrorBodySchema, description="the snapshot could not be stored (path, OS error)")
    @require_admin
    @_guarded
    def post(self) -> Response:
        """Take a checked snapshot now, then apply retention (BACKUP_KEEP, BACKUP_MAX_AGE_DAYS)."""
        info, pruned = backups.backup_then_prune(
            database(),
            folder(),
            keep=current_app.config.get("BACKUP_KEEP"),
            max_age_days=current_app.config.get("BACKUP_MAX_AGE_DAYS"),
            reason="api",
        )
        return dumped(CREATED_BACKUP, info.to_dict() | {"pruned": sorted(p.name for p in pruned)}, 201)


@blp.route("/<name>/restore")
class Restore(MethodView):
    @blp.doc(**AUTH_DOC)
    @blp.response(200, RestoreResultSchema)
    @blp.alt_response(400, schema=ErrorBodySchema, description="a bad registry or profile name")
    @blp.alt_response(401, schema=ErrorBodySchema, description="missing or wrong bearer token")
    @blp.alt_response(403, schema=ErrorBodySchema, description="store is read-only (restore needs `serve --writable`)")
    @blp.alt_response(404, schema=ErrorBodySchema, description="no snapshot of that name")
    @blp.alt_response(409, schema=ErrorBodySchema, description="a registry changed since the diff; nothing changed")
    @blp.alt_response(
        422, schema=ErrorBodySchema, description="the snapshot failed its checks, or the partial restore is refused"
    )
    @blp.alt_response(503, schema=ErrorBodySchema, description="the database is unreachable or busy; nothing changed")
    @require_writable
    @require_admin
    @blp.arguments(RestoreRequestSchema(), required=False)
    @_guarded
    def post(self, body: dict[str, Any], name: str) -> Response:
        """Restore a listed snapshot into the live database (a safety snapshot is taken first).

        Without a body, the whole database. With `registries`/`profiles`, only those rows change, as one
        validated write (see `GET /api/backups/<name>/diff` for what each would change).
        """
        target = database()
        snapshot = backups.find_snapshot(target, name, folder())
        if body.get("registries") or body.get("profiles"):
            partial = restore_partially(
                service(),
                snapshot.path,
                folder(),
                Selection.parse(body.get("registries", []), body.get("profiles", [])),
                expected=body.get("expected_updated_at_ms"),
                actor=g.actor,
            )
            return dumped(
                RESTORE_RESULT,
                {
                    "restored": snapshot.to_dict(),
                    "safety_snapshot": partial.safety_snapshot.to_dict(),
                    "registries": [r.to_dict() for r in partial.registries],
                }
            )
        result = backups.restore_snapshot(target, snapshot.path, folder())
        return dumped(
            RESTORE_RESULT,
            {
                "restored": result.snapshot.to_dict(),
                "safety_snapshot": result.safety_snapshot.to_dict(),
                "changes": [c.to_dict() for c in result.changes],
            }
        )


@blp.route("/<name>/diff")
class Diff(MethodView):
    @blp.doc(parameters=[AGAINST_PARAM])
    @blp.response(200, SnapshotDiffSchema)
    @blp.alt_response(404, schema=ErrorBodySchema, description="no snapshot of that name")
    @blp.alt_response(409, schema=ErrorBodySchema, description="no database source, or no backup folder")
    @blp.alt_response(422, schema=ErrorBodySchema, description="a file is not a registry database")
    @blp.alt_response(503, schema=ErrorBodySchema, description="the database is unreachable")
    @_guarded
    def get(self, name: str) -> Response:
        """What restoring the snapshot would change: per registry and profile, each field before and after."""
        target = database()
        after = snapshot_side(backups.find_snapshot(target, name, folder()).path)
        against = request.args.get("against")
        before = (
            live_side(target)
            if against is None
            else snapshot_side(backups.find_snapshot(target, against, folder()).path)
        )
        return dumped(SNAPSHOT_DIFF, diff_snapshot(before, after).to_dict())
