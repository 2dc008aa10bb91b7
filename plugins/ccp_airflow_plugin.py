"""Airflow plugin of the champion–challenger pipeline: extra links to MLflow on every task page.

The links read the URLs the tasks pushed to XCom (see ``champion_challenger.airflow.links``); a task
that pushed none shows the button disabled.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.serialization.definitions.operatorlink import XComOperatorLink

from champion_challenger.airflow.links import LINKS


class ChampionChallengerPlugin(AirflowPlugin):
    """Registers the MLflow run and model-version links as global operator extra links."""

    name = "champion_challenger"
    global_operator_extra_links = [XComOperatorLink(name=name, xcom_key=key) for key, name in LINKS.items()]
