"""Online shadow evidence: the router's capture records joined with labels that arrived later.

While a challenger is deployed, the router mirrors live requests to it and writes one capture
record per mirrored row (entity key, both models' probabilities and latencies, timestamp). Labels
arrive later in ordinary batches, keyed by the same entity id. Joining the two gives paired scores
on real traffic, the strongest evidence the gate can see. The window is *complete* (ready to be
judged) once it holds ``decision.online.min_labelled_rows`` labelled rows; the always-valid sequential
test then looks at it every cycle, while a ``fixed_horizon`` test also waits for
``min_duration_hours`` (default 14 days).

One row per entity: an entity's newest capture is paired with its newest label, so a chatty client
cannot outvote the others and the rows stay (close to) independent for the paired bootstrap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.config.sections import OnlineEvidenceConfig
from champion_challenger.payloads import ShadowWindow
from champion_challenger.serving.capture import SCORE_CLASSES
from champion_challenger.task import align_probabilities, score_cells, stack_scores


def capture_scores(captures: pd.DataFrame, role: str, task: str, classes: Sequence[str] = ()) -> np.ndarray:
    """``role``'s (``champion`` or ``challenger``) scores of capture records: floats, or for multiclass
    ``(n, K)`` probabilities put in ``classes`` order by name (each record names its own class order)."""
    column = captures[f"{role}_score"]
    if task != "multiclass":
        return column.to_numpy(dtype=float)
    out = np.full((len(captures), len(classes)), np.nan)  # a prediction-log record has no challenger scores
    present = np.array([cell is not None and np.size(cell) > 0 for cell in column], dtype=bool)
    orders = captures[SCORE_CLASSES].to_numpy()
    for order in pd.unique(orders[present]):
        rows = np.flatnonzero(present & (orders == order))
        out[rows] = align_probabilities(stack_scores(column.iloc[rows], task), json.loads(order), classes)
    return out


def pair_with_labels(
    captures: pd.DataFrame, labels: pd.DataFrame, schema: ModelSchema, extra: list[str], classes: Sequence[str] = ()
) -> pd.DataFrame:
    """Paired scores from capture records and labelled rows, one row per labelled entity.

    Args:
        captures: capture records of one champion/challenger pair (or the prediction log: its
            challenger scores are empty).
        labels: labelled rows (accepted batches), with the schema's id, timestamp and target columns.
        schema: names of the id, timestamp and target columns, and the task.
        extra: label-side columns to keep (slice columns).
        classes: multiclass: the class order of the paired probability lists.

    Returns:
        Columns ``<target>``, ``champion``, ``challenger``, ``entity_key``, ``captured_at`` and ``extra``:
        the same shape as the offline replay's paired scores.
    """
    if captures.empty or labels.empty:
        return pd.DataFrame(columns=[schema.target, "champion", "challenger", "entity_key", "captured_at", *extra])
    newest_capture = captures.sort_values("timestamp", kind="stable").drop_duplicates("entity_key", keep="last")
    newest_label = labels.sort_values(schema.timestamp_column, kind="stable").drop_duplicates(schema.id_column, keep="last")
    label_side = newest_label[[schema.id_column, schema.target, *extra]].assign(
        entity_key=newest_label[schema.id_column].astype(str)
    )
    joined = newest_capture.merge(label_side, on="entity_key", how="inner")
    return pd.DataFrame(
        {
            schema.target: joined[schema.target].to_numpy(),
            "champion": score_cells(capture_scores(joined, "champion", schema.task, classes)),
            "challenger": score_cells(capture_scores(joined, "challenger", schema.task, classes)),
            "entity_key": joined["entity_key"].to_numpy(),
            "captured_at": pd.to_datetime(joined["timestamp"], utc=True).to_numpy(),
            **{column: joined[column].to_numpy() for column in extra},
        }
    )


def shadow_window(
    captures: pd.DataFrame,
    paired: pd.DataFrame,
    champion: int | None,
    challenger: int,
    rules: OnlineEvidenceConfig,
    now: datetime,
) -> ShadowWindow:
    """Judge whether the shadow window is long and large enough for a decision (pure)."""
    if captures.empty:
        return ShadowWindow(champion, challenger, None, None, 0.0, 0, 0, False, f"no live traffic mirrored to v{challenger} yet")
    stamps = pd.to_datetime(captures["timestamp"], utc=True)
    first, last = stamps.min(), stamps.max()
    hours = max((pd.Timestamp(now) - first).total_seconds() / 3600, 0.0)
    entities, labelled = int(captures["entity_key"].nunique()), len(paired)
    missing = []
    if rules.test == "fixed_horizon" and hours < rules.min_duration_hours:
        missing.append(f"{hours:.1f} of {rules.min_duration_hours:g} hours")
    if labelled < rules.min_labelled_rows:
        missing.append(f"{labelled} of {rules.min_labelled_rows} labelled rows")
    reason = (
        (f"shadow window of v{challenger} in progress: " + ", ".join(missing))
        if missing
        else (f"shadow window of v{challenger} complete: {hours:.1f} hours, {labelled} labelled of {entities} mirrored entities")
    )
    return ShadowWindow(
        champion, challenger, first.isoformat(), last.isoformat(), round(hours, 3), entities, labelled, not missing, reason
    )


def latency_p99(captures: pd.DataFrame) -> dict[str, float]:
    """p99 of the champion's and the challenger's per-request latency over the capture records."""
    if captures.empty:
        return {}
    return {role: float(np.percentile(captures[f"{role}_latency_ms"].astype(float), 99)) for role in ("champion", "challenger")}
