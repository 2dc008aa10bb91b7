"""Which capture partitions and cycle workspaces retention deletes (pure selection, real folders)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from champion_challenger.cycle.retention import StoredItem, capture_partitions, run_workspaces, select_prunable

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def items(*ages_days_and_sizes: tuple[float, int]) -> list[StoredItem]:
    return [StoredItem(Path(f"/p/{i}"), NOW - timedelta(days=age), size) for i, (age, size) in enumerate(ages_days_and_sizes)]


def names(chosen: list[StoredItem]) -> list[str]:
    return [item.path.name for item in chosen]


def test_items_older_than_the_age_limit_go():
    assert names(select_prunable(items((40, 1), (31, 1), (29, 1), (1, 1)), NOW, timedelta(days=30))) == ["0", "1"]


def test_beyond_the_size_limit_the_oldest_go_first():
    chosen = select_prunable(items((10, 100), (5, 100), (2, 100), (1, 100)), NOW, timedelta(days=30), max_bytes=250)
    assert names(chosen) == ["0", "1"]


def test_what_an_open_evaluation_reads_is_never_chosen_by_age_or_size():
    keep_after = NOW - timedelta(days=35)  # e.g. the challenger was registered 35 days ago
    chosen = select_prunable(items((40, 100), (34, 100), (1, 100)), NOW, timedelta(days=30), 50, keep_after)
    assert names(chosen) == ["0"]


def test_capture_partitions_are_hour_folders_dated_by_the_end_of_their_hour(tmp_path):
    hour = tmp_path / "model=m" / "date=2026-06-01" / "hour=07"
    hour.mkdir(parents=True)
    (hour / "part-1.parquet").write_bytes(b"x" * 10)
    (tmp_path / "model=other" / "date=2026-06-01" / "hour=07").mkdir(parents=True)
    (found,) = capture_partitions(tmp_path, "m")
    assert found == StoredItem(hour, datetime(2026, 6, 1, 8, tzinfo=UTC), 10)


def test_run_workspaces_are_dated_by_their_newest_file(tmp_path):
    old, fresh = tmp_path / "old_run", tmp_path / "fresh_run"
    for run in (old, fresh):
        (run / "training").mkdir(parents=True)
        (run / "training" / "model.bin").write_bytes(b"x" * 5)
    stamp = (NOW - timedelta(days=20)).timestamp()
    os.utime(old / "training" / "model.bin", (stamp, stamp))
    found = run_workspaces(tmp_path)
    assert [item.path.name for item in found] == ["old_run", "fresh_run"]
    assert found[0].newest == datetime.fromtimestamp(stamp, UTC) and found[0].size == 5
