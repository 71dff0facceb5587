"""The dashboard's actions on snapshots (a login, a CSRF token and, for a restore, `serve --writable`): back up
now, the restore confirmation page with its diff, and a whole or partial restore. Each ends in a redirect with a
flashed message saying what happened, or what failed and why; the data a restore replaces is kept as a safety
snapshot."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from registry.dashboard import context
from registry.dashboard import login_cookie as admin
from registry.dashboard.blueprint import bp
from registry.dashboard.formatting import file_size
from registry.dashboard.pages import BackupTarget, restore_rows
from registry.domain.errors import RegistryError, ValidationError
from registry.domain.partial_restore import RestoreConflict
from registry.service.partial_restore import Selection, restore_partially
from registry.service.snapshot_diff import diff_snapshot, live_side, snapshot_side
from registry.storage import backups

log = logging.getLogger(__name__)


@bp.post("/backups")
def backup_now() -> ResponseReturnValue:
    """Take a snapshot of the live database now."""
    actor = admin.require_login()
    target = context.require_target()
    try:
        info, _ = backups.backup_then_prune(
            target.database,
            target.backup_dir,
            keep=current_app.config.get("BACKUP_KEEP"),
            max_age_days=current_app.config.get("BACKUP_MAX_AGE_DAYS"),
        )
    except (OSError, RegistryError) as exc:
        log.error("dashboard backup by %s failed: %s", actor, exc)
        flash(f"Backup failed: {exc}", "error")
    else:
        log.info("dashboard backup by %s: %s", actor, info.name)
        flash(f"Snapshot {info.name} created ({file_size(info.size)}).", "info")
    return redirect(url_for("dashboard.overview") + "#snapshots", 303)


@bp.get("/backups/<name>/restore")
def restore_confirm(name: str) -> ResponseReturnValue:
    """What a restore would change: every registry's updated_at_ms, live against the snapshot."""
    if admin.current_actor() is None:
        return redirect(url_for("dashboard.login_form", next=request.path), 303)
    context.require_writable()
    target = context.require_target()
    snapshot = backups.find_snapshot(target.database, name, target.backup_dir)
    if snapshot.problem == backups.NO_MANIFEST:
        # A runbook `cp` copy: no manifest lists its rows, so the file is checked now, as the restore will check
        # it (a file that fails is the error page with the reason, and no button).
        snapshot, checked = backups.check_unlisted(snapshot.path)
        profiles: object = checked.profiles
    elif not snapshot.restorable:
        raise backups.SnapshotError(f"{snapshot.name}: {snapshot.problem}")
    else:
        profiles = snapshot.manifest.get("profiles")
    changes = backups.compare_with_live(target.database, snapshot)
    rows = restore_rows(changes, target.live_profiles(), profiles if isinstance(profiles, dict) else None)
    diff = diff_snapshot(live_side(target.database), snapshot_side(snapshot.path))
    return render_template(
        "restore.html",
        snapshot=snapshot,
        rows=rows,
        target=target,
        diff=diff,
        partial=bool(current_app.config.get("WRITABLE")),
    )


@bp.post("/backups/<name>/restore")
def restore(name: str) -> ResponseReturnValue:
    """Copy the snapshot into the live database; the data it replaces is kept as a safety snapshot."""
    actor = admin.require_login()
    context.require_writable()
    target = context.require_target()
    snapshot = backups.find_snapshot(target.database, name, target.backup_dir)
    if request.form.getlist("registry") or request.form.getlist("profile"):
        return _restore_partially(actor, target, snapshot.path)
    try:
        result = backups.restore_snapshot(target.database, snapshot.path, target.backup_dir)
    except (OSError, RegistryError) as exc:
        log.error("dashboard restore of %s by %s failed: %s", name, actor, exc)
        flash(f"Restore from {name} failed: {exc}", "error")
    else:
        log.warning("dashboard restore by %s from %s", actor, name)
        safety = result.safety_snapshot.name
        flash(f"Restored from {name}. The data it replaced is kept in snapshot {safety}.", "info")
    return redirect(url_for("dashboard.overview"), 303)


def _expected_stamps() -> dict[str, int | None]:
    """The `expected.<slug>` fields: the live updated_at_ms the confirmation page showed (`absent`: no row)."""
    stamps: dict[str, int | None] = {}
    for key, value in request.form.items():
        if key.startswith("expected."):
            if value != "absent" and not (value.isascii() and value.isdigit()):
                raise ValidationError(key, f"{value!r} is not an updated_at_ms")
            stamps[key.removeprefix("expected.")] = None if value == "absent" else int(value)
    return stamps


def _restore_partially(actor: str, target: BackupTarget, snapshot_path: Path) -> ResponseReturnValue:
    """Restore the one registry or profile a button of the confirmation page names; back to that page on a 409."""
    name = snapshot_path.name
    try:
        selection = Selection.parse(request.form.getlist("registry"), request.form.getlist("profile"))
        result = restore_partially(
            context.service(), snapshot_path, target.backup_dir, selection, expected=_expected_stamps(), actor=actor
        )
    except RestoreConflict as exc:
        flash(f"{exc}. The page now shows the current differences.", "error")
        return redirect(url_for("dashboard.restore_confirm", name=name), 303)
    except (OSError, RegistryError) as exc:
        log.error("dashboard partial restore from %s by %s failed: %s", name, actor, exc)
        flash(f"Restore from {name} failed: {exc}", "error")
        return redirect(url_for("dashboard.restore_confirm", name=name), 303)
    log.warning("dashboard restore of %s by %s from %s", selection.describe(), actor, name)
    flash(
        f"Restored {selection.describe()} from {name}. The data it replaced is kept in snapshot "
        f"{result.safety_snapshot.name}.",
        "info",
    )
    return redirect(url_for("dashboard.overview"), 303)
