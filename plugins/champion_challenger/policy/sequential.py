"""An always-valid test of the online shadow evidence: look at it every cycle without inflating the error.

The evidence is the paired per-entity gain ``champion loss − challenger loss`` (positive: the
challenger is better) of mirrored live requests joined with their late labels. The per-row loss is
bounded (Brier, 0/1 error, or log loss clipped at ``LOG_LOSS_CAP`` for classifiers; absolute or squared
error capped at ``decision.online.error_cap`` for regression), so the gain lies in ``[-1, 1]`` once
scaled, and a *confidence sequence* for its mean holds at every sample size at once:

    P(the true mean gain leaves the sequence at ANY n) ≤ α.

We use the predictable-plug-in empirical-Bernstein confidence sequence of Waudby-Smith & Ramdas
(2023, "Estimating means of bounded random variables by betting", Thm. 2; see also Howard et al.
2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences"). It is nonasymptotic and
needs no variance assumption; each side holds at its own level α, so the one-sided chance of a false
promotion is at most α however often the test is looked at.

Stopping rules, at each look (``decision.online``):

* **promote** — the lower bound of the gain is above 0 (the challenger is better, with confidence);
* **reject** — the upper bound is below 0 (worse, with confidence);
* **futility hold** — the upper bound is below ``futility_gain``: whatever the truth, the gain is too
  small to be worth waiting for;
* **max-duration hold** — ``max_duration_hours`` of shadow traffic passed without a decision;
* otherwise **continue** (the challenger stays in shadow when ``decision.online.required``).
"""

from __future__ import annotations

import math

import numpy as np

from champion_challenger.metrics import per_row_loss
from champion_challenger.payloads import SequentialAction, SequentialOutcome
from champion_challenger.task import ONLINE_LOSSES, TaskKind

#: Per-row log loss is clipped here (probabilities kept in [e^-cap, 1 - e^-cap]) so gains are bounded.
LOG_LOSS_CAP = 7.0


def per_row_gain(
    loss: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    task: TaskKind = "binary",
    error_cap: float | None = None,
) -> np.ndarray:
    """Paired per-row gain ``champion loss − challenger loss`` (positive: challenger better).

    Args:
        loss: classifiers: ``brier``, ``accuracy`` (0/1 error) or ``log_loss`` (clipped at
            :data:`LOG_LOSS_CAP`); regression: ``absolute_error`` or ``squared_error``, each row's error
            capped at ``error_cap`` first. :func:`gain_bound` gives the gains' bound.
        y: labels (0/1, class indices or values).
        champion / challenger: both models' scores on the same rows.
        task: the task.
        error_cap: regression: the largest absolute error a row counts with (label units).

    Raises:
        ValueError: ``loss`` does not fit ``task``, or a regression test has no positive ``error_cap``.
    """
    if loss not in ONLINE_LOSSES[task]:
        raise ValueError(f"unknown sequential loss {loss!r} for a {task} target; use one of {list(ONLINE_LOSSES[task])}")
    if task == "regression":
        cap = _cap(error_cap)
        y = np.asarray(y, dtype=float)
        champion = y - np.clip(y - np.asarray(champion, dtype=float), -cap, cap)
        challenger = y - np.clip(y - np.asarray(challenger, dtype=float), -cap, cap)
    eps = math.exp(-LOG_LOSS_CAP)
    champion_loss, challenger_loss = per_row_loss(loss, y, champion, eps, task), per_row_loss(loss, y, challenger, eps, task)
    assert champion_loss is not None and challenger_loss is not None, "every online loss is a per-row loss (ROW_LOSSES)"
    return champion_loss - challenger_loss


def gain_bound(loss: str, task: TaskKind = "binary", error_cap: float | None = None) -> float:
    """The largest absolute per-row gain of ``loss`` (the scale of the bounded test)."""
    if task == "regression":
        return _cap(error_cap) ** (2 if loss == "squared_error" else 1)
    if loss == "log_loss":
        return LOG_LOSS_CAP
    return 2.0 if task == "multiclass" and loss == "brier" else 1.0


def _cap(error_cap: float | None) -> float:
    if error_cap is None or not error_cap > 0:
        raise ValueError(f"a regression online test needs a positive error cap, got {error_cap}")
    return float(error_cap)


def confidence_sequence(
    gains: np.ndarray, alpha: float, bound: float = 1.0, planned_rows: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Time-uniform lower and upper bounds of the mean gain after each of the first n rows.

    Each side holds at level ``alpha`` at every n simultaneously (predictable-plug-in
    empirical-Bernstein confidence sequence, Waudby-Smith & Ramdas 2023, Theorem 2). Any
    predictable bet size λ_t in (0, 1/2] keeps it valid; ours, λ_t = min(sqrt(2 log(1/α) /
    (σ̂²_{t-1} max(t, planned_rows))), 1/2), weighs the first ``planned_rows`` rows equally (the
    sequence is sharpest around that size) and then shrinks like 1/sqrt(t).

    Args:
        gains: per-row gains in ``[-bound, bound]``, in arrival order along the last axis (leading
            axes: independent streams, e.g. simulated pipelines).
        alpha: one-sided error level of each bound (or one per stream).
        bound: the gains' bound.
        planned_rows: the sample size the sequence is tuned for (it stays valid at every size).

    Returns:
        ``(low, high)``, arrays shaped like ``gains`` (bounds of the mean gain after each row, in gain units).
    """
    x = (np.clip(np.asarray(gains, dtype=float), -bound, bound) / bound + 1) / 2  # in [0, 1]
    if x.shape[-1] == 0:
        return np.empty(x.shape), np.empty(x.shape)
    t = np.arange(1, x.shape[-1] + 1, dtype=float)
    mean = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    mean_before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.5), mean[..., :-1]], axis=-1)
    spread = (0.25 + np.cumsum((x - mean) ** 2, axis=-1)[..., :-1]) / t[1:]
    variance_before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.25), spread], axis=-1)
    log_term = math.log(1 / alpha) if np.ndim(alpha) == 0 else np.log(1 / np.asarray(alpha, dtype=float))[..., None]
    lam = np.minimum(np.sqrt(2 * log_term / (variance_before * np.maximum(t, planned_rows))), 0.5)
    psi = (-np.log1p(-lam) - lam) / 4
    lam_sum = np.cumsum(lam, axis=-1)
    center = np.cumsum(lam * x, axis=-1) / lam_sum
    radius = (log_term + np.cumsum(4 * (x - mean_before) ** 2 * psi, axis=-1)) / lam_sum
    low, high = np.maximum(center - radius, 0.0), np.minimum(center + radius, 1.0)
    return (2 * low - 1) * bound, (2 * high - 1) * bound


def sequential_test(
    gains: np.ndarray,
    alpha: float,
    loss: str,
    duration_hours: float,
    max_duration_hours: float,
    min_rows: int,
    futility_gain: float = 0.0,
    planned_rows: int = 10_000,
    bound: float | None = None,
) -> SequentialOutcome:
    """One look at the always-valid test (see the module docstring for the stopping rules).

    Args:
        gains: per-row gains (:func:`per_row_gain`) in arrival order.
        alpha: one-sided error level (the cycle's share of the error budget).
        loss: the per-row loss the gains come from.
        duration_hours: how long the shadow window has run.
        max_duration_hours: the longest it may run before an undecided test holds.
        min_rows: rows needed before the first look (fewer: ``continue``).
        futility_gain: gains below this are not worth waiting for.
        planned_rows: the sample size the confidence sequence is tuned for.
        bound: the gains' bound (default :func:`gain_bound` of a binary ``loss``).
    """
    n = len(gains)
    if n < min_rows:
        outcome = "max duration reached" if duration_hours >= max_duration_hours else "waiting for labelled rows"
        action: SequentialAction = "hold" if duration_hours >= max_duration_hours else "continue"
        return SequentialOutcome(action, f"{outcome}: {n} of {min_rows} labelled rows", n, None, None, None, alpha, loss)
    low, high = (bound[-1] for bound in confidence_sequence(gains, alpha, bound or gain_bound(loss), planned_rows))
    mean = float(np.mean(gains))
    action, verdict = _stopping_rule(low, high, duration_hours, max_duration_hours, futility_gain)
    reason = (
        f"{verdict}: mean {loss} gain {mean:+.4f} on {n} labelled rows, always-valid bounds {low:+.4f} .. "
        f"{high:+.4f} at a {alpha:.2%} one-sided level, after {duration_hours:.1f} h of shadow traffic"
    )
    return SequentialOutcome(action, reason, n, mean, float(low), float(high), alpha, loss)


def _stopping_rule(
    low: float, high: float, duration_hours: float, max_duration_hours: float, futility_gain: float
) -> tuple[SequentialAction, str]:
    if low > 0:
        return "promote", "challenger better with confidence"
    if high < 0:
        return "reject", "challenger worse with confidence"
    if high < futility_gain:
        return "hold", f"no difference worth waiting for (even the best case gain is below {futility_gain:g})"
    if duration_hours >= max_duration_hours:
        return "hold", f"no decision within the maximum duration of {max_duration_hours:g} h"
    return "continue", "not decided yet"
