"""The gate's paired bootstrap at holdout sizes of 25k and 250k rows: vectorised against the per-resample loop.

ROC AUC and ECE used to be resampled one resample at a time (``roc_auc_score`` per resample); they are now
resampled in blocks (:func:`champion_challenger.metrics.resampled_metric`) with the same values.
Prints seconds per interval (1,000 resamples, both models) and the largest difference between the two
intervals; the loop is timed at 25k rows only (it takes minutes at 250k).

    python benchmarks/bootstrap.py
"""

from __future__ import annotations

import time
from unittest import mock

import numpy as np

from champion_challenger.policy import gate
from champion_challenger.policy.gate import PairedScores, paired_bootstrap_ci

SAMPLES = 1000


def scores(n: int, seed: int = 0) -> PairedScores:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion = np.clip(0.30 * y + rng.uniform(0, 0.7, n), 0, 1).astype(np.float32)
    challenger = np.clip(0.32 * y + rng.uniform(0, 0.7, n), 0, 1).astype(np.float32)
    return PairedScores(y=y, challenger=challenger, champion=champion)


def timed(metric: str, paired: PairedScores) -> tuple[float, tuple[float, float]]:
    started = time.perf_counter()
    interval = paired_bootstrap_ci(metric, paired, SAMPLES, 0.95)
    return time.perf_counter() - started, interval


def main() -> None:
    print(f"{'rows':>8} {'metric':>8} {'vectorised s':>13} {'loop s':>8} {'max |diff|':>11}")
    for n in (25_000, 250_000):
        paired = scores(n)
        for metric in ("roc_auc", "ece"):
            seconds, interval = timed(metric, paired)
            loop, difference = "-", "-"
            if n <= 25_000:
                with mock.patch.object(gate, "_vectorised_gains", return_value=None):
                    loop_seconds, loop_interval = timed(metric, paired)
                gap = max(abs(a - b) for a, b in zip(interval, loop_interval, strict=True))
                loop, difference = f"{loop_seconds:.2f}", f"{gap:.1e}"
            print(f"{n:>8} {metric:>8} {seconds:>13.2f} {loop:>8} {difference:>11}")


if __name__ == "__main__":
    main()
