"""Routing decisions and the capture store, without Triton."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from champion_challenger.serving.capture import CaptureWriter, partition_dir, read_captures
from champion_challenger.serving.routing import (
    CANARY_SALT,
    LOG_SALT,
    SHADOW_SALT,
    RoutingTable,
    bucket,
    plan_rows,
    row_keys,
)
from tests.unit.serving.capture_records import capture_records

KEYS = [f"customer-{i}" for i in range(4000)]


def test_buckets_are_stable_uniform_and_independent_per_salt():
    shadow, canary = bucket(KEYS, SHADOW_SALT), bucket(KEYS, CANARY_SALT)
    np.testing.assert_array_equal(shadow, bucket(list(KEYS), SHADOW_SALT))  # same key, same bucket
    assert ((shadow >= 0) & (shadow < 1)).all()
    assert abs((shadow < 0.25).mean() - 0.25) < 0.03
    assert abs(np.corrcoef(shadow, canary)[0, 1]) < 0.05


def test_plan_answers_with_the_champion_and_mirrors_the_shadow_share():
    plan = plan_rows(KEYS, RoutingTable("m_versions", champion=3, challenger=5, shadow_fraction=0.1))
    assert (plan.answer_version == 3).all()
    np.testing.assert_array_equal(plan.mirror, bucket(KEYS, SHADOW_SALT) < 0.1)


def test_canary_entities_are_answered_by_the_challenger_and_never_mirrored():
    plan = plan_rows(KEYS, RoutingTable("m_versions", 3, 5, shadow_fraction=1.0, canary_fraction=0.2))
    canary = bucket(KEYS, CANARY_SALT) < 0.2
    np.testing.assert_array_equal(plan.answer_version, np.where(canary, 5, 3))
    np.testing.assert_array_equal(plan.mirror, ~canary)


def test_without_a_challenger_nothing_is_mirrored_or_canaried():
    for table in (RoutingTable("m", 3, None, 1.0, 1.0), RoutingTable("m", 3, 3, 1.0, 1.0)):
        plan = plan_rows(KEYS[:10], table)
        assert (plan.answer_version == 3).all() and not plan.mirror.any()
    with pytest.raises(ValueError, match="no champion"):
        plan_rows(KEYS[:1], RoutingTable("m", None))


def test_row_keys_prefer_entity_keys_then_request_id_then_row_content():
    assert row_keys(["a", "b"], "req", None, 2) == ["a", "b"]
    assert row_keys(None, "req", None, 1) == ["req"] and row_keys(None, "req", None, 2) == ["req:0", "req:1"]
    by_content = row_keys(None, "", [b"1|x", b"2|y", b"1|x"], 3)
    assert by_content[0] == by_content[2] != by_content[1]


def test_routing_table_round_trips_atomically(tmp_path):
    table = RoutingTable("m_versions", 2, 4, 0.5, 0.1, str(tmp_path / "captures"), disagreement_tolerance=2.5)
    table.write(tmp_path)
    assert RoutingTable.read(tmp_path) == table
    assert [p.name for p in tmp_path.iterdir()] == ["routing.json"]


def test_a_routing_table_written_before_the_tolerance_existed_reads_with_zero(tmp_path):
    (tmp_path / "routing.json").write_text('{"versions_model": "m_versions", "champion": 1}')
    assert RoutingTable.read(tmp_path).disagreement_tolerance == 0.0


def test_capture_writer_flushes_by_size_into_hour_partitions(tmp_path):
    writer = CaptureWriter(tmp_path, "router", flush_rows=10, flush_seconds=3600)
    at = datetime(2026, 11, 25, 9, 59, 55, tzinfo=UTC)
    assert writer.add(capture_records(6, at)) == []  # buffered
    written = writer.add(capture_records(6, at, prefix="j"))  # 12 rows, crossing 10:00
    hours = [partition_dir(tmp_path, "router", at), partition_dir(tmp_path, "router", at + timedelta(hours=1))]
    assert [p.parent for p in written] == hours
    assert not list(tmp_path.rglob(".*.tmp"))
    everything = read_captures(tmp_path, "router")
    assert len(everything) == 12 and everything["timestamp"].is_monotonic_increasing
    ten = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert len(read_captures(tmp_path, "router", since=ten)) == 2  # seconds 5 of each batch are past 10:00
    assert len(read_captures(tmp_path, "router", until=ten)) == 10
    assert read_captures(tmp_path, "other").empty


def test_capture_writer_flushes_by_age(tmp_path):
    writer = CaptureWriter(tmp_path, "router", flush_rows=1000, flush_seconds=0.0)
    writer.add(capture_records(3, datetime.now(UTC)))
    assert writer.due()
    assert len(writer.flush()) == 1 and writer.flush() == []
    assert len(read_captures(tmp_path, "router")) == 3


def test_a_failed_write_keeps_its_records_for_the_next_flush_and_leaves_no_file(tmp_path):
    root = tmp_path / "captures"
    root.write_text("not a folder")  # every write fails, as on a full or broken disk
    writer = CaptureWriter(root, "router", flush_rows=5, flush_seconds=3600)
    at = datetime(2026, 11, 25, 9, 59, 58, tzinfo=UTC)
    with pytest.raises(OSError):
        writer.add(capture_records(6, at))  # crosses 10:00: two partitions, both fail
    with pytest.raises(OSError):
        writer.flush()
    assert writer.dropped == 0
    root.unlink()
    writer.flush()
    kept = read_captures(root, "router")
    assert sorted(kept["entity_key"]) == sorted(f"k{i}" for i in range(6)) and not list(root.rglob(".*.tmp"))


def test_while_writes_fail_the_buffer_is_bounded_and_drops_are_counted(tmp_path):
    root = tmp_path / "captures"
    root.write_text("not a folder")
    writer = CaptureWriter(root, "router", flush_rows=2, flush_seconds=3600)  # keeps at most 10 x 2 records
    for batch in range(8):
        with pytest.raises(OSError):
            writer.add(capture_records(3, datetime(2026, 11, 25, 9, tzinfo=UTC), prefix=f"b{batch}-"))
    assert writer.dropped == 8 * 3 - 20
    root.unlink()
    writer.flush()
    assert len(read_captures(root, "router")) == 20  # the newest records


def test_prediction_log_samples_champion_rows_that_are_not_mirrored():
    keys = [f"k{i}" for i in range(4000)]
    alone = plan_rows(keys, RoutingTable("m_versions", champion=1, prediction_log_fraction=0.1))
    np.testing.assert_array_equal(alone.log, bucket(keys, LOG_SALT) < 0.1)
    assert not alone.mirror.any()
    shadowed = plan_rows(
        keys, RoutingTable("m_versions", champion=1, challenger=2, shadow_fraction=0.5, prediction_log_fraction=0.1)
    )
    assert not (shadowed.log & shadowed.mirror).any()  # a mirrored row is captured once, with both answers
    np.testing.assert_array_equal(shadowed.mirror, bucket(keys, SHADOW_SALT) < 0.5)
