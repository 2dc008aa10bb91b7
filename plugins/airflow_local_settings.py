"""Airflow local settings of the champion–challenger pipeline (Airflow imports this module at the start of
every command; it is on ``sys.path`` as the plugins folder). The scheduler and Celery workers import the
pipeline's task modules once, so the task processes they fork start with them
(:mod:`champion_challenger.airflow.preload`). A site that has its own ``airflow_local_settings`` in
``$AIRFLOW_HOME/config`` (searched first) calls ``preload_task_modules()`` from it."""

from champion_challenger.airflow.preload import preload_task_modules

__all__: list[str] = []  # no cluster policies here

preload_task_modules()
