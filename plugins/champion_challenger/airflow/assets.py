"""Airflow Assets of the pipeline, defined once for the DAG that produces and the DAG that consumes them."""

from __future__ import annotations

from airflow.sdk import Asset

#: Announced by the ``landing_watch`` DAG when batch files wait in the landing folder; the
#: ``champion_challenger`` DAG is scheduled on its six-hourly timer OR this asset.
LANDING_BATCHES = Asset(name="ccp_landing_batches", uri="ccp://landing/batches")
