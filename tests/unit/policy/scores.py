"""Paired scores with a known quality difference, shared by the gate and evidence tests."""

from __future__ import annotations

import numpy as np

from champion_challenger.policy.gate import PairedScores


def paired_models(n: int, seed: int, fixes: float, breaks: float, base_accuracy: float = 0.8) -> PairedScores:
    """A champion right on ``base_accuracy`` of rows; the challenger fixes/breaks a share of rows.

    Real challengers share most of the champion's errors, which is why the comparison is paired.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion_right = rng.uniform(size=n) < base_accuracy
    u = rng.uniform(size=n)
    challenger_right = np.where(champion_right, u >= breaks / base_accuracy, u < fixes / (1 - base_accuracy))
    confidence = rng.uniform(0.55, 0.95, n)

    def proba(right):
        return np.where(right == (y == 1), confidence, 1 - confidence)

    return PairedScores(y=y, challenger=proba(challenger_right), champion=proba(champion_right))


def class_probabilities(rng: np.random.Generator, y: np.ndarray, shared: np.ndarray, skill: float) -> np.ndarray:
    """A multiclass model's probabilities: ``shared`` logit noise (what every model trained on the same
    features gets wrong alike) plus its own, and ``skill`` added to the true class's logit."""
    n, k = shared.shape
    logits = shared + rng.normal(0, 0.5, (n, k))
    logits[np.arange(n), y] += skill
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)
