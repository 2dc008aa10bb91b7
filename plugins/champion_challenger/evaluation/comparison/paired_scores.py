"""The models a comparison is about: each one's positive-class probabilities on the same paired rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Plot colour of each role, the same in every figure.
COLORS = {"champion": "tab:blue", "challenger": "tab:orange"}


@dataclass(frozen=True)
class ModelScores:
    """One model's positive-class probabilities on the paired rows.

    Attributes:
        role: ``champion`` or ``challenger``.
        version: registry version (None: a dry run's unregistered candidate).
        probability: positive-class probabilities, one per paired row.
    """

    role: str
    version: int | None
    probability: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.role} v{self.version}" if self.version is not None else f"{self.role} (dry run, unregistered)"

    @property
    def color(self) -> str:
        return COLORS[self.role]


def paired_models(
    paired: pd.DataFrame, target: str, slice_columns: list[str], champion_version: int | None, challenger_version: int | None
) -> list[ModelScores]:
    """Check the paired frame and return the models it scores, champion first when there is one.

    Raises:
        ValueError: what is missing or inconsistent, by name.
    """
    has_champion = "champion" in paired.columns
    if has_champion != (champion_version is not None):
        raise ValueError(
            f"paired scores {'have' if has_champion else 'lack'} a 'champion' column but champion_version is "
            f"{champion_version}: pass the champion's version exactly when its scores are present"
        )
    roles = {"challenger": challenger_version}
    if has_champion:
        roles = {"champion": champion_version, **roles}
    missing = [c for c in (target, *roles, *slice_columns) if c not in paired.columns]
    if missing:
        raise ValueError(f"paired scores lack columns {missing}; found {list(paired.columns)}")
    if paired.empty:
        raise ValueError("paired scores are empty: there is nothing to compare")
    for column in (target, *roles):
        if gaps := int(paired[column].isna().sum()):
            raise ValueError(f"paired scores column {column!r} has {gaps} missing values; score every holdout row")
    return [
        ModelScores(role, None if version is None else int(version), paired[role].to_numpy(dtype=float))
        for role, version in roles.items()
    ]
