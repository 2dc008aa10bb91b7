"""Test helpers (not tests): live traffic through the router, its capture records, labels landing later."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.ingest import accept_batches, claim_batches
from champion_challenger.data.generate import BatchSpec, generate_batch, write_batches
from champion_challenger.serving.capture import read_captures


def live_traffic(ctx: CycleContext, batch_index: int, rows: int, seed: int) -> pd.DataFrame:
    """Score the rows of a future batch through the router, as clients would before labels exist."""
    batch = generate_batch(BatchSpec(batch_index, rows, seed, False))
    answered = ctx.triton.score(ctx.model_name, batch, ctx.schema, batch["customer_id"], batch_size=50)
    return batch.assign(answered_probability=answered["probability"].to_numpy(), answered_by=answered["version"].to_numpy())


def wait_for_captures(ctx: CycleContext, keys: set[str], timeout_s: float = 30) -> pd.DataFrame:
    """The capture records of ``keys``, once all are written (or whatever is there after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_captures(ctx.capture_dir, ctx.model_name)
        records = records[records["entity_key"].isin(keys)]
        if records["entity_key"].nunique() >= len(keys) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def flip_labels(paths: list[Path], target: str = "churned") -> None:
    """Make every label of these landed batch files wrong (a model trained on them is clearly worse)."""
    for path in paths:
        frame = pd.read_csv(path)
        frame[target] = 1 - frame[target]
        frame.to_csv(path, index=False)


def land_labels(ctx: CycleContext, batch_index: int, cycle: str, rows: int, seed: int, flip: bool = False) -> None:
    """The labels of the scored rows arrive in an ordinary batch file (optionally all wrong) and are accepted."""
    paths = write_batches(ctx.store.landing, 1, start=batch_index, seed=seed, rows=rows)
    if flip:
        flip_labels(paths)
    accept_batches(ctx, cycle, claim_batches(ctx, cycle))
