"""Airflow Assets of the pipelines, defined once for the DAG that produces and the DAG that consumes them."""

from __future__ import annotations

from airflow.sdk import Asset


def landing_batches(model: str) -> Asset:
    """Announced by the ``landing_watch`` DAG when batch files wait in ``model``'s landing folder; the
    model's ``champion_challenger__<model>`` DAG is scheduled on its six-hourly timer OR this asset."""
    return Asset(name=f"ccp_landing_batches__{model}", uri=f"ccp://landing/{model}/batches")
