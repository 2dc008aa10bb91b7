"""Post-promotion watch: every 15 minutes, roll back a new champion whose live traffic misbehaves, for every model.

Wiring only: one task group per pipeline of the fleet; its tasks call ``champion_challenger.cycle.watch.watch_champion``
and ``champion_challenger.cycle.retention.prune``; limits live under ``watch:`` and ``retention:`` in each pipeline YAML.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task, task_group

from champion_challenger.config.fleet import champion_pool
from champion_challenger.config.settings import load_fleet

DOC_MD = """
### Champion watch
One task group per model of the fleet (`watch__<model>`); each model's watch runs in its own pool
(`champion_changes__<model>`), so one model's slow rollback never delays another's. Each first finishes or
undoes any champion change a crash left unfinished (the transition journal). Then, within
`watch.window_hours` of a promotion, judges `@champion` on what happened since the switch: Triton's per-version
error rate and mean latency (after `watch.min_requests`), and, once labels arrived for its logged live
predictions (the router's prediction log joined with accepted batches), `watch.label_metric` against the value
it showed offline (after `watch.min_labelled_rows`). Any limit crossed rolls back to `@previous` (aliases,
stages and the Triton router in one transaction) and appends an `auto_rollback` entry to the ledger
(`ccp history --model NAME`, MLflow experiment `<experiment>-ledger`).

**Progressive canary** (`serving.canary_steps`): before that, the watch judges a challenger in canary on the same
signals (its requests since the step began, its mirrored live predictions once labelled). A breach returns its
share to 0 at once (`canary_rollback`: it leaves Triton and `@challenger`); a step that lasted
`serving.canary_step_hours` with `watch.min_requests` requests widens to the next share (`canary_step`); after
the last step the promotion transaction runs (`promote`).

**prune_stores** then deletes capture partitions and cycle workspaces past `retention:` in the pipeline YAML,
never the captures an open shadow window or the watch still reads, and nothing while a change is pending.
"""


@dag(
    dag_id="champion_watch",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["mlops", "champion-challenger", "monitoring", "triton"],
    default_args={"owner": "mlops", "retries": 2, "retry_delay": timedelta(seconds=30)},
)
def champion_watch():
    for pipeline in load_fleet(runnable_only=True):
        watch_model(pipeline.name)


def watch_model(model: str) -> None:
    @task_group(group_id=f"watch__{model}", tooltip=f"watch and prune {model}")
    def watch():
        @task(pool=champion_pool(model))
        def watch_champion(run_id: str | None = None) -> dict:
            from champion_challenger.airflow.hooks import context_from_connections
            from champion_challenger.cycle.watch import watch_champion as watch

            return watch(context_from_connections(model), actor=f"airflow:{run_id}")

        @task(trigger_rule="all_done")
        def prune_stores() -> dict:
            """Delete capture partitions and cycle workspaces past ``retention:`` (never what an open evaluation reads)."""
            from champion_challenger.airflow.hooks import context_from_connections
            from champion_challenger.cycle.retention import prune

            return prune(context_from_connections(model)).as_dict()

        watch_champion() >> prune_stores()

    watch()


champion_watch()
