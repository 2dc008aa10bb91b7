"""The drift step's choice of rows: what the champion has seen (its classes) and what it has not (the current side)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from champion_challenger.cycle.drift import _seen_classes, _split_window
from champion_challenger.data.store import DataStore


def context(tmp_path, task: str = "multiclass") -> SimpleNamespace:
    """A cycle context with a real data store holding two accepted batches of 10 rows (days 1..20)."""
    store = DataStore(tmp_path / "landing")
    store.accepted.mkdir(parents=True)
    for i, labels in enumerate((["a", "b"] * 5, ["a", "b", "c", "a", "b", "a", "b", "a", "b", "a"])):
        days = pd.date_range("2026-01-01", periods=10, freq="D") + pd.Timedelta(days=10 * i)
        batch = pd.DataFrame({"ts": days, "x": range(10), "topic": labels})
        batch.to_parquet(store.accepted / f"{i}__batch.parquet", index=False)
    config = SimpleNamespace(
        training=SimpleNamespace(window_batches=2),
        data=SimpleNamespace(timestamp_column="ts"),
        evaluation=SimpleNamespace(holdout_fraction=0.2),
    )
    return SimpleNamespace(store=store, config=config, task=task, schema=SimpleNamespace(target="topic"))


def test_rows_after_the_training_end_are_unseen_and_the_rest_seen(tmp_path):
    ctx = context(tmp_path)
    seen, unseen = _split_window(ctx, "2026-01-10T00:00:00")
    assert len(seen) == 10 and len(unseen) == 10
    assert unseen["ts"].min() > pd.Timestamp("2026-01-10")
    assert _seen_classes(ctx, seen) == ("a", "b")  # 'c' arrived after the champion trained: new to it


@pytest.mark.parametrize(
    ("train_end", "seen_rows"),
    [
        pytest.param("2030-01-01", 20, id="champion-trained-on-everything"),
        pytest.param(None, 16, id="training-end-unknown"),
    ],
)
def test_without_newer_rows_the_newest_holdout_share_is_compared(tmp_path, train_end, seen_rows):
    seen, unseen = _split_window(context(tmp_path), train_end)
    assert len(unseen) == 4 and unseen["ts"].min() == pd.Timestamp("2026-01-17")
    assert len(seen) == seen_rows


def test_only_multiclass_pipelines_name_seen_classes(tmp_path):
    ctx = context(tmp_path, task="binary")
    seen, _ = _split_window(ctx, None)
    assert _seen_classes(ctx, seen) == ()
