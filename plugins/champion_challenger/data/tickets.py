"""Synthetic support tickets to route to a queue (multiclass), arriving as six-hourly batch files.

Four queues (``account``, ``billing``, ``sales``, ``technical``), chosen from each ticket's channel,
product, plan tier, length, attachments, the customer's tenure and earlier tickets. From ``drift_at`` on,
covariate drift (more chat, more TV tickets, longer messages) and concept drift (TV tickets go to
technical, chat tickets to sales) start together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from champion_challenger.data.synthetic import BatchSpec, batch_rng, event_times, row_ids

QUEUES = ["account", "billing", "sales", "technical"]
CHANNELS = ["email", "chat", "phone", "web"]
PRODUCTS = ["mobile", "broadband", "tv"]
TIERS = ["basic", "plus", "premium"]


def generate_ticket_batch(spec: BatchSpec) -> pd.DataFrame:
    """Generate one batch of routed support tickets.

    Args:
        spec: batch index, row count, seed and whether drift has started.

    Returns:
        A DataFrame with ``ticket_id``, ``created_at``, four numeric and three categorical features and
        the queue label ``queue``.
    """
    rng = batch_rng(spec)
    n, d = spec.rows, spec.drifted
    frame = pd.DataFrame(
        {
            "ticket_id": row_ids("T", spec),
            "created_at": event_times(rng, spec),
            "message_words": np.clip(rng.lognormal(4.3 if d else 4.0, 0.6, n), 3, 2000).round().astype(int),
            "attachments": rng.poisson(0.6, n),
            "tenure_months": np.clip(rng.exponential(30, n), 0, 120).round().astype(int),
            "prior_tickets": rng.poisson(1.5, n),
            "channel": rng.choice(CHANNELS, n, p=[0.2, 0.5, 0.15, 0.15] if d else [0.35, 0.25, 0.25, 0.15]),
            "product": rng.choice(PRODUCTS, n, p=[0.3, 0.3, 0.4] if d else [0.45, 0.4, 0.15]),
            "plan_tier": rng.choice(TIERS, n, p=[0.5, 0.3, 0.2]),
        }
    )
    probabilities = _queue_probabilities(frame, d)
    drawn = (probabilities.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    frame["queue"] = np.asarray(QUEUES)[np.minimum(drawn, len(QUEUES) - 1)]
    return frame


def _queue_probabilities(f: pd.DataFrame, drifted: bool) -> np.ndarray:
    """Softmax over the queues' scores, columns in :data:`QUEUES` order."""

    def is_(column: str, value: str) -> np.ndarray:
        return (f[column] == value).to_numpy(dtype=float)

    words, attachments = f.message_words.to_numpy(dtype=float), f.attachments.to_numpy(dtype=float)
    tenure, prior = f.tenure_months.to_numpy(dtype=float), f.prior_tickets.to_numpy(dtype=float)
    scores = np.column_stack(
        [
            0.2 + 0.9 * is_("channel", "phone") - 0.015 * tenure + 0.2 * prior,  # account
            0.6 + 0.8 * is_("channel", "email") + 0.6 * is_("plan_tier", "premium") + 0.25 * prior,  # billing
            -0.4 + 1.0 * is_("plan_tier", "basic") + 0.9 * is_("channel", "web") - 0.3 * prior,  # sales
            0.1 + 1.3 * is_("product", "broadband") + 0.006 * words + 0.6 * attachments,  # technical
        ]
    )
    if drifted:  # TV tickets are now streaming-app faults; chat became the sales channel
        scores[:, 3] += 1.5 * is_("product", "tv") - 0.4 * attachments
        scores[:, 2] += 1.2 * is_("channel", "chat")
    else:
        scores[:, 1] += 0.8 * is_("product", "tv")
    scores -= scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=1, keepdims=True)
