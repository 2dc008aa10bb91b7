"""Test helper (not a test): capture records as the router writes them."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd


def capture_records(n: int, at: datetime, prefix: str = "k") -> pd.DataFrame:
    """``n`` mirrored-row records one second apart from ``at``; request ids and entity keys start with ``prefix``."""
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}r{i}" for i in range(n)],
            "entity_key": [f"{prefix}{i}" for i in range(n)],
            "timestamp": [pd.Timestamp(at) + pd.Timedelta(seconds=i) for i in range(n)],
            "champion_version": 1,
            "challenger_version": 2,
            "champion_score": np.linspace(0, 1, n),
            "challenger_score": 0.6,
            "champion_prediction": 0,
            "challenger_prediction": 1,
            "champion_latency_ms": 1.0,
            "challenger_latency_ms": 1.2,
            "feature.x": np.arange(n, dtype=np.float32),
        }
    )
