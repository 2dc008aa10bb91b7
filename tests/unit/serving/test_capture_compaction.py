"""Capture compaction: an hour's many small files become one, no record is lost or seen twice, and a
reader never sees a partial file, also while compactions and writes run beside it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from champion_challenger.serving import capture
from champion_challenger.serving.capture import CaptureWriter, compact_captures, live_files, partition_dir, read_captures
from tests.unit.serving.capture_records import capture_records

START = datetime(2026, 11, 25, 9, tzinfo=UTC)
NOW = START + timedelta(hours=3, minutes=30)  # hours 09..11 finished, 12 still open


def _fill(root: Path, files_per_hour: int = 6, hours: int = 4, rows: int = 7) -> pd.DataFrame:
    """``files_per_hour`` flushes into each of ``hours`` hours from START; returns what was written."""
    writer = CaptureWriter(root, "router", flush_rows=10**6, flush_seconds=3600)
    written = []
    for h in range(hours):
        for f in range(files_per_hour):
            records = capture_records(rows, START + timedelta(hours=h, minutes=5 * f), f"h{h}f{f}")
            writer.add(records)
            writer.flush()
            written.append(records)
    return pd.concat(written, ignore_index=True)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("request_id").reset_index(drop=True)[sorted(frame.columns)]


def test_each_finished_hour_becomes_one_file_with_every_record(tmp_path):
    written = _fill(tmp_path)
    before = read_captures(tmp_path, "router")
    result = compact_captures(tmp_path, "router", now=NOW)
    after = read_captures(tmp_path, "router")
    assert (result.hours, result.files_before, result.files_after, result.records) == (3, 18, 3, 3 * 6 * 7)
    assert len(before) == len(after) == len(written) and after["request_id"].is_unique
    pd.testing.assert_frame_equal(_sorted(after), _sorted(before))
    counts = [len(live_files(partition_dir(tmp_path, "router", START + timedelta(hours=h)))) for h in range(4)]
    assert counts == [1, 1, 1, 6]  # the open hour (12:00) is left to the router
    assert not list(tmp_path.rglob(".*.tmp"))
    assert compact_captures(tmp_path, "router", now=NOW).hours == 0  # nothing left to merge


def test_a_file_written_late_into_a_compacted_hour_is_read_then_merged(tmp_path):
    _fill(tmp_path, hours=1)
    compact_captures(tmp_path, "router", now=NOW)
    late = CaptureWriter(tmp_path, "router", flush_rows=10**6)
    late.add(capture_records(5, START + timedelta(minutes=59), "late"))
    late.flush()
    assert len(read_captures(tmp_path, "router")) == 6 * 7 + 5
    assert compact_captures(tmp_path, "router", now=NOW).files_before == 2
    hour = partition_dir(tmp_path, "router", START)
    assert len(live_files(hour)) == len(list(hour.glob("part-*.parquet"))) == 1
    assert len(read_captures(tmp_path, "router")) == 6 * 7 + 5


def test_a_compaction_that_dies_after_its_rename_is_read_correctly_and_finished_next_time(tmp_path, monkeypatch):
    written = _fill(tmp_path, hours=1)

    def die(self, missing_ok=False):
        raise KeyboardInterrupt("killed between the rename and the deletions")

    monkeypatch.setattr(Path, "unlink", die)
    with pytest.raises(KeyboardInterrupt):
        compact_captures(tmp_path, "router", now=NOW)
    monkeypatch.undo()
    hour = partition_dir(tmp_path, "router", START)
    assert len(list(hour.glob("part-*.parquet"))) == 7  # six originals and the merged file
    assert len(read_captures(tmp_path, "router")) == len(written)  # the originals are skipped, nothing twice
    compact_captures(tmp_path, "router", now=NOW)
    assert len(list(hour.glob("part-*.parquet"))) == 1 and len(read_captures(tmp_path, "router")) == len(written)


def test_dry_run_counts_and_changes_nothing(tmp_path):
    _fill(tmp_path, hours=2)
    files = sorted(tmp_path.rglob("*.parquet"))
    result = compact_captures(tmp_path, "router", now=NOW, dry_run=True)
    assert (result.hours, result.files_before, result.records) == (2, 12, 0)
    assert sorted(tmp_path.rglob("*.parquet")) == files


def test_readers_never_see_a_partial_or_doubled_store_while_compactions_and_writes_run(tmp_path, monkeypatch):
    """A reader loops while a writer keeps adding files to finished hours and compactions keep merging
    them: every read holds every record acknowledged before it started, exactly once."""
    monkeypatch.setattr(capture, "COMPACTION_SETTLE", timedelta(0))
    acknowledged = [len(_fill(tmp_path, files_per_hour=3, hours=2))]
    stop, problems, reads = threading.Event(), [], [0]

    def write() -> None:
        writer = CaptureWriter(tmp_path, "router", flush_rows=10**6)
        for i in range(60):
            writer.add(capture_records(3, START + timedelta(hours=i % 2, minutes=59), f"w{i}"))
            writer.flush()
            acknowledged.append(acknowledged[-1] + 3)
            seen, deadline = reads[0], time.monotonic() + 5
            while reads[0] == seen and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.001)  # let a read happen between writes

    def compact() -> None:
        while not stop.is_set():
            compact_captures(tmp_path, "router", now=NOW)

    def read() -> None:
        while not stop.is_set():
            expected_at_least = acknowledged[-1]
            records = read_captures(tmp_path, "router")
            reads[0] += 1
            if len(records) < expected_at_least or not records["request_id"].is_unique:
                problems.append((expected_at_least, len(records), int(records["request_id"].duplicated().sum())))

    def reporting(loop):
        def run() -> None:
            try:
                loop()
            except Exception as exc:  # noqa: BLE001 - a failure of the compactor or reader is the finding
                problems.append(repr(exc))
                stop.set()

        return run

    threads = [threading.Thread(target=reporting(f)) for f in (compact, read)]
    for t in threads:
        t.start()
    write()
    stop.set()
    for t in threads:
        t.join(60)
    compact_captures(tmp_path, "router", now=NOW)
    final = read_captures(tmp_path, "router")
    assert reads[0] >= 30 and not problems, (reads[0], problems[:5])
    assert len(final) == acknowledged[-1] == 2 * 3 * 7 + 60 * 3 and final["request_id"].is_unique
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_second_compaction_of_the_same_model_waits_its_turn(tmp_path):
    """Two compactions merging the same files would each write a merged file: the second one returns."""
    import fcntl

    _fill(tmp_path, hours=1)
    with open(tmp_path / "model=router" / ".compaction.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert compact_captures(tmp_path, "router", now=NOW).hours == 0
    assert compact_captures(tmp_path, "router", now=NOW).hours == 1
