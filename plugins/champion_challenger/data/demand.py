"""Synthetic product demand to forecast (regression), arriving as six-hourly batch files.

Units sold per store, product and period, from price, discount, promotion, temperature, store type,
region and product category. From ``drift_at`` on, covariate drift (prices up about 15 %, more
promotions) and concept drift (customers react twice as strongly to price, promotions help less) start
together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from champion_challenger.data.synthetic import BatchSpec, batch_rng, event_times, row_ids

STORE_TYPES = ["urban", "suburban", "rural"]
REGIONS = ["north", "south", "east", "west"]
CATEGORIES = ["grocery", "electronics", "apparel", "household"]
#: Typical price and base demand of each product category.
REFERENCE_PRICE = {"grocery": 4.0, "electronics": 120.0, "apparel": 35.0, "household": 12.0}
BASE_UNITS = {"grocery": 140.0, "electronics": 12.0, "apparel": 30.0, "household": 55.0}


def generate_demand_batch(spec: BatchSpec) -> pd.DataFrame:
    """Generate one batch of demand observations.

    Args:
        spec: batch index, row count, seed and whether drift has started.

    Returns:
        A DataFrame with ``record_id``, ``observed_at``, three numeric, one binary and three categorical
        features and the numeric label ``units_sold``.
    """
    rng = batch_rng(spec)
    n, d = spec.rows, spec.drifted
    category = rng.choice(CATEGORIES, n, p=[0.4, 0.15, 0.2, 0.25])
    reference = np.array([REFERENCE_PRICE[c] for c in category])
    frame = pd.DataFrame(
        {
            "record_id": row_ids("R", spec),
            "observed_at": event_times(rng, spec),
            "price": (reference * rng.lognormal(0.14 if d else 0.0, 0.15, n)).round(2),
            "discount_pct": np.clip(rng.normal(8, 6, n), 0, 40).round(1),
            "temperature_c": rng.normal(14, 8, n).round(1),
            "promo": (rng.uniform(size=n) < (0.35 if d else 0.2)).astype(int),
            "store_type": rng.choice(STORE_TYPES, n, p=[0.45, 0.35, 0.2]),
            "region": rng.choice(REGIONS, n),
            "product_category": category,
        }
    )
    frame["units_sold"] = _units_sold(frame, reference, rng, d)
    return frame


def _units_sold(f: pd.DataFrame, reference: np.ndarray, rng: np.random.Generator, drifted: bool) -> np.ndarray:
    base = np.array([BASE_UNITS[c] for c in f.product_category])
    relative_price = f.price.to_numpy(dtype=float) * (1 - f.discount_pct.to_numpy(dtype=float) / 100) / reference
    elasticity = 2.4 if drifted else 1.2
    store = f.store_type.map({"urban": 1.3, "suburban": 1.0, "rural": 0.7}).to_numpy(dtype=float)
    promo = 1 + (0.1 if drifted else 0.35) * f.promo.to_numpy(dtype=float)
    season = 1 + 0.01 * (f.temperature_c.to_numpy(dtype=float) - 14) * (f.product_category == "apparel").to_numpy(dtype=float)
    mean = base * store * promo * season * relative_price ** (-elasticity)
    return np.maximum(mean * rng.lognormal(0, 0.2, len(f)), 0).round(2)
