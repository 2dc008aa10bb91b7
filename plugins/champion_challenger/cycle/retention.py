"""Retention: prune the capture store and the per-cycle workspaces by age and size.

``retention:`` in the pipeline YAML sets how long capture partitions (one folder per hour) and cycle
workspaces (``<CCP_HOME>/runs/<model>/<run_id>/``) are kept, and optionally a size limit for each (the oldest go
first). Never deleted:

* captures an open evaluation still reads: those since the ``@challenger`` was registered (its online
  shadow window) and since the latest promotion while the watch still judges it (``watch.window_hours``);
* anything while a champion change is pending in the journal (pruning waits until it is recovered);
* batch data (``raw/``, ``accepted/``, ``quarantine/``): the lineage of every model is kept.

Before pruning, finished capture hours are compacted (their many small files merged into one;
:func:`~champion_challenger.serving.capture.compact_captures`), which deletes no record.

Run by the ``champion_watch`` DAG after each watch, and by ``ccp prune``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from champion_challenger.cycle.context import CycleContext
from champion_challenger.registry import journal, ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import compact_captures, hour_partitions, hour_start

log = logging.getLogger(__name__)
GB = 1024**3


@dataclass(frozen=True)
class StoredItem:
    """A folder retention may delete: a capture hour partition or a cycle workspace.

    Attributes:
        path: the folder.
        newest: when its newest data was written (a partition: the end of its hour; a workspace: its
            newest file's modification time).
        size: bytes of its files.
    """

    path: Path
    newest: datetime
    size: int


@dataclass
class PruneReport:
    """What a prune deleted (or, in a dry run, would delete) and what it kept on purpose."""

    dry_run: bool
    captures_deleted: list[str] = field(default_factory=list)
    capture_bytes_deleted: int = 0
    runs_deleted: list[str] = field(default_factory=list)
    run_bytes_deleted: int = 0
    captures_kept_since: str | None = None
    capture_hours_compacted: int = 0
    capture_files_compacted: int = 0
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capture_partitions(capture_dir: Path, model: str) -> list[StoredItem]:
    """The hour partitions of ``model``'s capture store, oldest first."""
    return [StoredItem(hour, hour_start(hour) + timedelta(hours=1), _size(hour)) for hour in hour_partitions(capture_dir, model)]


def run_workspaces(runs_dir: Path) -> list[StoredItem]:
    """The cycle workspaces under ``runs_dir``, oldest first."""
    items = []
    for run_dir in (p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []:
        files = [f for f in run_dir.rglob("*") if f.is_file()]
        newest = max((f.stat().st_mtime for f in files), default=run_dir.stat().st_mtime)
        items.append(StoredItem(run_dir, datetime.fromtimestamp(newest, UTC), sum(f.stat().st_size for f in files)))
    return sorted(items, key=lambda item: item.newest)


def select_prunable(
    items: list[StoredItem], now: datetime, max_age: timedelta, max_bytes: int | None = None, keep_after: datetime | None = None
) -> list[StoredItem]:
    """The items to delete: every one older than ``max_age``, then, while the rest exceed ``max_bytes``,
    the oldest of the rest. An item with data newer than ``keep_after`` is never chosen.
    """

    def protected(item: StoredItem) -> bool:
        return keep_after is not None and item.newest > keep_after

    chosen = [item for item in items if now - item.newest > max_age and not protected(item)]
    rest = sorted((item for item in items if item not in chosen), key=lambda item: item.newest)
    total = sum(item.size for item in rest)
    for item in rest:
        if max_bytes is None or total <= max_bytes:
            break
        if not protected(item):
            chosen.append(item)
            total -= item.size
    return chosen


def captures_needed_since(ctx: CycleContext, now: datetime) -> datetime | None:
    """The earliest capture time an open evaluation still reads (None: none is open)."""
    needed = []
    state = registry.alias_state(ctx.client, ctx.model_name)
    if state.challenger is not None:
        version = ctx.client.get_model_version(ctx.model_name, str(state.challenger))
        needed.append(datetime.fromtimestamp(version.creation_timestamp / 1000, UTC))
    events = ledger.history(ctx.client, ctx.config.experiment_name, limit=1, changes_only=True)
    if events and state.champion == events[0].to_version:
        promoted = datetime.fromisoformat(events[0].at)
        if now - promoted <= timedelta(hours=ctx.config.watch.window_hours):
            needed.append(promoted)
    return min(needed) if needed else None


def prune(ctx: CycleContext, now: datetime | None = None, dry_run: bool = False) -> PruneReport:
    """Compact finished capture hours, then delete capture partitions and cycle workspaces past
    ``retention:`` (see the module docstring).

    Args:
        ctx: the pipeline.
        now: the current time (tests pass one).
        dry_run: report what would go, delete nothing.
    """
    now, limits, report = now or datetime.now(UTC), ctx.config.retention, PruneReport(dry_run)
    compacted = compact_captures(ctx.capture_dir, ctx.model_name, now, dry_run)
    report.capture_hours_compacted, report.capture_files_compacted = compacted.hours, compacted.files_before
    pending = journal.read(ctx.client, ctx.model_name)
    if pending is not None:
        report.skipped = f"a {pending.action} of {ctx.model_name} is pending in the journal; pruning waits until it is recovered"
        return report
    keep_after = captures_needed_since(ctx, now)
    report.captures_kept_since = keep_after.isoformat() if keep_after else None
    captures = capture_partitions(ctx.capture_dir, ctx.model_name)
    doomed = select_prunable(captures, now, timedelta(days=limits.capture_days), _bytes(limits.capture_max_gb), keep_after)
    report.captures_deleted, report.capture_bytes_deleted = _delete(doomed, dry_run)
    runs = run_workspaces(ctx.workspaces)
    doomed_runs = select_prunable(runs, now, timedelta(days=limits.run_days), _bytes(limits.run_max_gb))
    report.runs_deleted, report.run_bytes_deleted = _delete(doomed_runs, dry_run)
    kept = sum(item.size for item in captures if item not in doomed)
    if limits.capture_max_gb is not None and kept > limits.capture_max_gb * GB:
        report.warnings.append(
            f"captures still hold {kept / GB:.2f} GB (> retention.capture_max_gb {limits.capture_max_gb:g}): the rest is "
            f"read by an open evaluation (since {report.captures_kept_since})"
        )
    for line in report.warnings:
        log.warning(line)
    return report


def _delete(items: list[StoredItem], dry_run: bool) -> tuple[list[str], int]:
    for item in items if not dry_run else []:
        shutil.rmtree(item.path, ignore_errors=True)
        parent = item.path.parent
        if parent.name.startswith("date=") and not any(parent.iterdir()):
            parent.rmdir()
    return [str(item.path) for item in items], sum(item.size for item in items)


def _bytes(gigabytes: float | None) -> int | None:
    return None if gigabytes is None else int(gigabytes * GB)


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
