"""Champion-challenger pipeline: Ludwig challengers, MLflow registry, Evidently drift, Triton serving.

The package holds all logic; the Airflow DAG in ``dags/`` only wires its functions together.
"""

from __future__ import annotations

__version__ = "0.1.0"
