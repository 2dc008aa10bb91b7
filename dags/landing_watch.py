"""Data-aware scheduling: announce new landing batches as an Airflow Asset event.

Wiring only: one task per pipeline of the fleet asks ``champion_challenger.cycle.ingest.pending_batches`` and, when
files wait, succeeds with that model's ``ccp_landing_batches__<model>`` asset as its outlet, which schedules a
``champion_challenger__<model>`` run at once instead of at the next six-hourly tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from champion_challenger.airflow.assets import landing_batches
from champion_challenger.config.settings import load_fleet

DOC_MD = """
### Landing watch
Every five minutes, looks for batch files in each model's landing folder (one task per model,
`announce__<model>`). When some wait, it emits an event on the model's asset `ccp_landing_batches__<model>`,
and that model's `champion_challenger__<model>` DAG (scheduled on *six-hourly timer OR that asset*) starts a
cycle right away. **Paused when created**: unpause it to switch data-aware scheduling on.
Producers that prefer to push can post the same asset event through Airflow's REST API
(`POST /api/v2/assets/events`) instead.
"""


@dag(
    dag_id="landing_watch",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    doc_md=DOC_MD,
    tags=["mlops", "champion-challenger", "data-aware"],
    default_args={"owner": "mlops", "retries": 2, "retry_delay": timedelta(seconds=30)},
)
def landing_watch():
    for pipeline in load_fleet(runnable_only=True):
        announce(pipeline.name)


def announce(model: str) -> None:
    @task(task_id=f"announce__{model}", outlets=[landing_batches(model)])
    def announce_new_batches() -> list[str]:
        from champion_challenger.airflow.hooks import context_from_connections
        from champion_challenger.cycle.ingest import pending_batches

        waiting = pending_batches(context_from_connections(model))
        if not waiting:
            raise AirflowSkipException(f"no batch files waiting in the landing folder of {model}")
        return waiting

    announce_new_batches()


landing_watch()
