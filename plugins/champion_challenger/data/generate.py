"""Synthetic data sets arriving as six-hourly batch files, one per task.

``binary``: telecom churn (this module); ``multiclass``: support tickets routed to a queue
(:mod:`~champion_challenger.data.tickets`); ``regression``: product demand
(:mod:`~champion_challenger.data.demand`). Each batch is deterministic in ``(seed, batch index)``, so
batches can be generated one at a time (as the demo does, to simulate arrival) or all at once with
identical content. From ``drift_at`` on, covariate and concept drift start together; for churn: pricier
plans, more month-to-month contracts, more support calls, and payment method and support calls change
how they relate to churn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.data.demand import generate_demand_batch
from champion_challenger.data.synthetic import BATCH_HOURS, EPOCH, BatchSpec, batch_rng, batch_start, event_times, row_ids
from champion_challenger.data.tickets import generate_ticket_batch
from champion_challenger.task import TaskKind

__all__ = ["BATCH_HOURS", "EPOCH", "GENERATORS", "BatchSpec", "batch_filename", "generate_batch", "write_batches"]

CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["electronic_check", "credit_card", "bank_transfer", "mailed_check"]
INTERNET = ["fiber", "dsl", "none"]


def generate_batch(spec: BatchSpec) -> pd.DataFrame:
    """Generate one batch of labelled churn rows.

    Args:
        spec: batch index, row count, seed and whether drift has started.

    Returns:
        A DataFrame with an id, a timestamp, four numeric and three categorical features and the
        binary label ``churned``.
    """
    rng = batch_rng(spec)
    n = spec.rows
    d = spec.drifted
    frame = pd.DataFrame(
        {
            "customer_id": row_ids("C", spec),
            "event_timestamp": event_times(rng, spec),
            "tenure_months": np.clip(rng.exponential(24, n), 0, 72).round().astype(int),
            "monthly_charges": np.clip(rng.normal(80 if d else 65, 25, n), 18, 140).round(2),
            "support_calls": rng.poisson(2.2 if d else 1.2, n),
            "late_payments": rng.poisson(0.5, n),
            "contract_type": rng.choice(CONTRACTS, n, p=[0.7, 0.2, 0.1] if d else [0.5, 0.3, 0.2]),
            "payment_method": rng.choice(PAYMENTS, n, p=[0.35, 0.25, 0.25, 0.15]),
            "internet_service": rng.choice(INTERNET, n, p=[0.45, 0.4, 0.15]),
        }
    )
    frame["churned"] = (rng.uniform(size=n) < _churn_probability(frame, d)).astype(int)
    return frame


def _churn_probability(f: pd.DataFrame, drifted: bool) -> np.ndarray:
    logit = (
        -1.2
        + 1.3 * (f.contract_type == "month-to-month")
        - 0.9 * (f.contract_type == "two-year")
        - 0.035 * f.tenure_months
        + 0.02 * (f.monthly_charges - 65)
        + 0.4 * f.late_payments
        + 0.3 * (f.internet_service == "fiber")
    )
    if drifted:  # concept drift: e-check payers now stay, support calls matter far more
        logit = logit - 1.0 * (f.payment_method == "electronic_check") + 0.9 * (f.support_calls - 2)
    else:
        logit = logit + 0.8 * (f.payment_method == "electronic_check") + 0.25 * f.support_calls
    return 1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=float)))


#: The synthetic data set of each task: a function from a batch's spec to its rows.
GENERATORS: Mapping[TaskKind, Callable[[BatchSpec], pd.DataFrame]] = {
    "binary": generate_batch,
    "multiclass": generate_ticket_batch,
    "regression": generate_demand_batch,
}


def batch_filename(index: int) -> str:
    """File name of batch ``index``: sortable, with its start time."""
    return f"batch_{index:05d}_{batch_start(index):%Y%m%dT%H%M}.csv"


def write_batches(
    out_dir: Path,
    batches: int,
    *,
    start: int = 0,
    drift_at: int | None = None,
    seed: int = 7,
    rows: int = 2000,
    on_written: Callable[[Path], None] | None = None,
    task: TaskKind = "binary",
) -> list[Path]:
    """Write batches ``start .. start+batches-1`` of the ``task``'s data set as CSV files into ``out_dir``.

    Files are written under a temporary name and renamed, so a reader never sees half a file.

    Args:
        out_dir: landing folder (created if missing).
        batches: how many batches to write.
        start: index of the first batch.
        drift_at: index of the first drifted batch, or None for no drift.
        seed: random seed shared by all batches.
        rows: rows per batch.
        on_written: called with each path once written (e.g. to advance a progress bar).
        task: ``binary`` (churn), ``multiclass`` (support tickets) or ``regression`` (demand).

    Returns:
        The written paths, in batch order.
    """
    if batches < 1 or rows < 1:
        raise ValueError("batches and rows must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + batches):
        drifted = drift_at is not None and index >= drift_at
        frame = GENERATORS[task](BatchSpec(index=index, rows=rows, seed=seed, drifted=drifted))
        path = out_dir / batch_filename(index)
        tmp = path.with_name(f".{path.name}.tmp")
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        os.replace(tmp, path)
        paths.append(path)
        if on_written is not None:
            on_written(path)
    return paths
