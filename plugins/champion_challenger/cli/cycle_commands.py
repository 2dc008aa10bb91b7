"""``ccp trigger``: run one pipeline cycle through Airflow from the command line and say what it decided."""

from __future__ import annotations

import argparse

from champion_challenger.cli.arguments import add_json, command, positive_float
from champion_challenger.cli.output import Output
from champion_challenger.config.settings import load_settings


def add_trigger(sub: argparse._SubParsersAction) -> None:
    trigger = command(
        sub,
        "trigger",
        "run one pipeline cycle through Airflow now and print its decision",
        """
        Trigger the pipeline's champion_challenger__<model> DAG through Airflow's REST API (what Trigger in the Airflow
        UI does), wait for the run to finish, and print the gate's decision and reason as the cycle's
        MLflow run records them. The stack must be running (`make up`). A run the scheduler started by
        itself (a fresh stack runs its six-hourly timer at once) is waited for first; when it took every
        landed batch, its outcome is reported instead of triggering an empty cycle. Exits 3 when the run
        failed, naming the failed tasks (their logs are in the Airflow UI).
        """,
        """
        ccp trigger
        ccp trigger --force-train --json
        ccp trigger --dry-run --timeout 1800
        ccp trigger --model ticket_router
        """,
        _cmd_trigger,
    )
    trigger.add_argument("--force-train", action="store_true", help="train challengers even without drift or a due retrain")
    trigger.add_argument("--dry-run", action="store_true", help="decide and log, but register, deploy and promote nothing")
    trigger.add_argument(
        "--timeout",
        type=positive_float,
        default=3600,
        metavar="SECONDS",
        help="seconds to wait for the run (default: %(default)s)",
    )
    add_json(trigger, "the run's state and decision")


def _cmd_trigger(args: argparse.Namespace) -> Output:
    from mlflow import MlflowClient

    from champion_challenger.cli import demo
    from champion_challenger.config.fleet import dag_id
    from champion_challenger.config.pipeline import PipelineConfig
    from champion_challenger.errors import ServiceUnavailableError
    from champion_challenger.stack.local import airflow_api

    settings = load_settings()
    config = PipelineConfig.from_yaml(settings.pipeline_config)
    api = airflow_api(settings)
    client = MlflowClient(settings.mlflow_tracking_uri)
    dag = dag_id(config.model_name)
    api.wait_for_dag(dag)
    already = demo.wait_idle(api, dag, args.timeout)
    landing = config.landing_dir(settings.home)
    if already and not any(landing.glob(config.data.file_pattern)):
        # The scheduler's own run (the six-hourly timer fires at once on a fresh stack) took the landed batches.
        result = demo.cycle_result(api, client, config, already[-1])
    else:
        conf = {"force_train": args.force_train, "dry_run": args.dry_run}
        result = demo.run_cycle(api, client, config, conf, args.timeout)
    if result["state"] != "success":
        raise ServiceUnavailableError(
            f"cycle {result['run_id']} {result['state']}; failed tasks: {', '.join(result['failed_tasks']) or '-'}; "
            f"see their logs in the Airflow UI (http://127.0.0.1:{settings.airflow_port})"
        )
    return Output(result, f"cycle {result['run_id']}: {result['decision']} — {result['reason']}")


def add_prune(sub: argparse._SubParsersAction) -> None:
    prune = command(
        sub,
        "prune",
        "delete captures and cycle workspaces past the retention settings",
        """
        Delete capture partitions (one folder per hour) and cycle workspaces (CCP_HOME/runs/<model>/<run_id>/)
        older than retention.capture_days / retention.run_days, and the oldest beyond
        retention.capture_max_gb / retention.run_max_gb. Captures an open evaluation reads (since the
        @challenger was registered, and since the latest promotion while the watch judges it) are kept;
        nothing is deleted while a champion change is pending. Batch data is never deleted. First, each
        finished capture hour's files are merged into one file (no record is deleted). The
        champion_watch DAG runs this after every watch.
        """,
        """
        ccp prune --dry-run
        ccp prune --json
        """,
        _cmd_prune,
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    add_json(prune, "what was deleted")


def _cmd_prune(args: argparse.Namespace) -> Output:
    from champion_challenger.cli.commands import _context
    from champion_challenger.cycle.retention import prune

    report = prune(_context(), dry_run=args.dry_run)
    compacted = (
        f"{'would merge' if report.dry_run else 'merged'} {report.capture_files_compacted} capture file(s) of "
        f"{report.capture_hours_compacted} finished hour(s) into one file per hour"
    )
    if report.skipped:
        return Output(report.as_dict(), f"{compacted}; nothing pruned: {report.skipped}")
    verb = "would delete" if report.dry_run else "deleted"
    text = (
        compacted
        + "\n"
        + (
            f"{verb} {len(report.captures_deleted)} capture partition(s) ({report.capture_bytes_deleted / 1e6:.1f} MB) and "
            f"{len(report.runs_deleted)} cycle workspace(s) ({report.run_bytes_deleted / 1e6:.1f} MB)"
        )
    )
    if report.captures_kept_since:
        text += f"; captures since {report.captures_kept_since} kept for an open evaluation"
    return Output(report.as_dict(), "\n".join([text, *report.warnings]))
