"""Airflow plugin of the champion–challenger pipeline: extra links to MLflow on every task page, and a
listener recording each task process's seconds and peak memory.

The links read the URLs the tasks pushed to XCom (see ``champion_challenger.airflow.links``); a task
that pushed none shows the button disabled. The listener: ``champion_challenger.airflow.task_resources``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.serialization.definitions.operatorlink import XComOperatorLink

from champion_challenger.airflow import task_resources
from champion_challenger.airflow.links import LINKS


class ChampionChallengerPlugin(AirflowPlugin):
    """Registers the MLflow run and model-version links as global operator extra links, and the task
    resource listener."""

    name = "champion_challenger"
    global_operator_extra_links = [XComOperatorLink(name=name, xcom_key=key) for key, name in LINKS.items()]
    listeners = [task_resources]
