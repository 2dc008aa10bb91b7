"""The argument parser of ``ccp``: the top-level options and the data, scoring and stack subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from champion_challenger import __version__
from champion_challenger.cli.arguments import (
    add_json,
    add_model,
    add_quiet,
    add_timeout,
    command,
    non_negative_int,
    positive_int,
)
from champion_challenger.cli.champion_subcommands import (
    add_demo,
    add_exporter,
    add_history,
    add_promote,
    add_protect,
    add_recover,
    add_report,
    add_rollback,
    add_serve,
)
from champion_challenger.cli.commands import (
    _cmd_down,
    _cmd_generate,
    _cmd_init,
    _cmd_pools,
    _cmd_predict,
    _cmd_status,
    _cmd_up,
    _cmd_wipe,
)
from champion_challenger.cli.cycle_commands import add_prune, add_trigger
from champion_challenger.task import TASKS

TOP_EPILOG = """\
typical session:
  ccp init --data my.csv --target label  pipeline configs for your own data (or use the churn demo)
  ccp stack up                          start MLflow, Triton and Airflow (`make up`)
  ccp generate-data --batches 4         land four batches; the pipeline DAG trains a challenger
  ccp trigger                           run one cycle through Airflow now and print its decision
  ccp status                            every model's champion; --model NAME: its challenger, serving, last decision
  ccp predict customers.csv             score a file with the champion
  ccp promote --version 3 --reason "beats v2 on the March holdout"
  ccp history                           who promoted or rolled back what, and why
  ccp report                            deployment metrics: promotion / change-failure rate, time to restore, lead time
  ccp exporter                          the same for Prometheus at http://127.0.0.1:9108/metrics

Every command that prints results takes --json: one JSON document on stdout, nothing else.
`ccp COMMAND --help` describes a command, with examples.

environment (defaults in brackets):
  CCP_HOME              runtime folder: data, MLflow store, Triton repository, logs [./.ccp]
  CCP_PIPELINES         the fleet: a folder of pipeline YAMLs (one model each) or one YAML [configs/pipelines]
  CCP_MODEL             the pipeline commands act on when there are several (as --model NAME)
  MLFLOW_TRACKING_URI   MLflow tracking server [http://127.0.0.1:5000; port from CCP_MLFLOW_PORT]
  CCP_TRITON_URL        Triton HTTP endpoint as host:port [127.0.0.1:8000; port from CCP_TRITON_HTTP_PORT]
  CCP_TRITON_GRPC_PORT, CCP_TRITON_METRICS_PORT, CCP_AIRFLOW_PORT   ports of the local stack [8001, 8002, 8080]

exit codes:
  0  success
  2  bad input, config or request (the message says what to fix)
  3  a service (MLflow, Triton, Airflow) cannot be reached or failed (the message says what to do)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ccp``."""
    parser = argparse.ArgumentParser(
        prog="ccp",
        description="Champion–challenger pipeline tools: synthetic data, the local stack, the model "
        "registry's champion and challenger, Triton serving and batch scoring.",
        epilog=TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    add_model(parser)
    parser.add_argument("--version", action="version", version=f"ccp {__version__}", help="print the version of ccp and exit")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        title="commands",
        metavar="COMMAND",
        help="run `ccp COMMAND --help` for a command's options and examples",
    )
    _add_init(sub)
    _add_generate(sub)
    _add_status(sub)
    _add_predict(sub)
    _add_stack(sub)
    add_serve(sub)
    add_promote(sub)
    add_rollback(sub)
    add_recover(sub)
    add_history(sub)
    add_report(sub)
    add_exporter(sub)
    add_protect(sub)
    add_demo(sub)
    add_trigger(sub)
    add_prune(sub)
    return parser


def _add_init(sub: argparse._SubParsersAction) -> None:
    init = command(
        sub,
        "init",
        "write a pipeline for your own CSV/Parquet data and land the file",
        """
        Read FILE, infer the task from the target (two boolean-like values: binary; numbers with
        fractions or many distinct values: regression; otherwise multiclass), the id column (named
        like an id, distinct on every row; none: a row key is derived), the timestamp column (ISO 8601
        dates or date-times; required) and the features (numbers, 0/1 columns, low-cardinality text;
        free text and id-like columns are dropped and listed). Write OUT/pipeline.yaml and
        OUT/ludwig/NAME_mlp.yaml, check that FILE would pass the pipeline's validation, and copy FILE
        into the pipeline's landing folder (under CCP_HOME) so the first cycle has data.
        Existing configs are kept unless --force.
        """,
        """
        ccp init --data churn.csv --target churned
        ccp init --data tickets.parquet --target queue --name ticket_router --out configs/tickets
        ccp init --data sales.csv --target units --timestamp-column day --no-land --json
        """,
        _cmd_init,
    )
    init.add_argument("--data", type=Path, required=True, metavar="FILE", help="the data file (.csv or .parquet)")
    init.add_argument("--target", required=True, metavar="COL", help="the label column the models learn to predict")
    init.add_argument("--name", default=None, help="model name in MLflow and Triton (default: FILE's stem, sanitised)")
    init.add_argument("--out", type=Path, default=None, metavar="DIR", help="config folder (default: configs/NAME)")
    init.add_argument("--id-column", default=None, metavar="COL", help="entity id column (default: inferred, or none)")
    init.add_argument("--timestamp-column", default=None, metavar="COL", help="event time column (default: inferred)")
    init.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="override the task inferred from the target (binary, multiclass or regression)",
    )
    init.add_argument("--no-land", action="store_true", help="do not copy FILE into the landing folder")
    init.add_argument("--force", action="store_true", help="overwrite existing configs and a landed file of the same name")
    add_json(init, "what was inferred and written")


def _add_generate(sub: argparse._SubParsersAction) -> None:
    gen = command(
        sub,
        "generate-data",
        "write synthetic six-hourly batches (churn, tickets or demand) into the landing folder",
        """
        Write synthetic batch files (CSV, one per six hours) into the pipeline's landing folder,
        where the next pipeline cycle picks them up: telecom churn (--task binary, configs/pipelines/churn_classifier.yaml),
        support tickets routed to a queue (--task multiclass, configs/examples/multiclass/) or product
        demand (--task regression, configs/examples/regression/). A batch is deterministic in
        (seed, index), so batches can be landed one at a time or all at once with the same content.
        From --drift-at on, covariate and concept drift start together.
        """,
        """
        ccp generate-data --batches 4                      batches 0..3 into the landing folder
        ccp generate-data --batches 2 --start 4 --drift-at 5
        ccp generate-data --task multiclass --batches 4 --out .ccp/data/tickets/landing
        ccp generate-data --batches 1 --rows 10000 --out /tmp/rows --json
        """,
        _cmd_generate,
    )
    gen.add_argument("--batches", type=positive_int, required=True, help="number of batch files to write")
    gen.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="binary (churn), multiclass (support tickets) or regression (demand) (default: the pipeline config's task)",
    )
    gen.add_argument(
        "--drift-at",
        type=non_negative_int,
        default=None,
        metavar="INDEX",
        help="index of the first drifted batch (covariate + concept drift); default: no drift",
    )
    gen.add_argument(
        "--seed", type=int, default=7, help="random seed; the same seed and index give the same batch (default: %(default)s)"
    )
    gen.add_argument(
        "--start",
        type=non_negative_int,
        default=0,
        metavar="INDEX",
        help="index of the first batch to write (default: %(default)s)",
    )
    gen.add_argument("--rows", type=positive_int, default=2000, help="rows per batch (default: %(default)s)")
    gen.add_argument(
        "--out", type=Path, default=None, metavar="FOLDER", help="output folder (default: the pipeline's landing folder)"
    )
    add_quiet(gen)
    add_json(gen, "the written files")


def _add_status(sub: argparse._SubParsersAction) -> None:
    status = command(
        sub,
        "status",
        "champion, challenger, what Triton serves, last decision",
        """
        Show the registered model's champion, challenger and previous champion (with their
        metrics and whether Triton serves them), the router's routing table, and the latest
        promote/hold decision. Needs MLflow; Triton is asked but may be down.
        """,
        """
        ccp status
        ccp status --json | jq .champion.version
        """,
        _cmd_status,
    )
    add_json(status, "the status")


def _add_predict(sub: argparse._SubParsersAction) -> None:
    from champion_challenger.serving.batch_scoring import DEFAULT_BATCH_SIZE, FORMATS

    predict = command(
        sub,
        "predict",
        "score a CSV or Parquet file through Triton (champion, or a given version)",
        f"""
        Score every row of FILE through Triton in batches and write the predictions: the id column
        (when FILE has it), probability, prediction and version (who answered). Rows go to the
        router, so the champion answers as it does online (a canary challenger answers its share
        of entities, keyed by the id column); with --version, that registry version answers
        (Triton model <model>_versions).
        FILE must carry every feature column of the pipeline's schema; its type follows its
        suffix ({", ".join(FORMATS)}). The input is never overwritten; an existing output only
        with --overwrite. Needs Triton serving the model (`ccp serve`), not MLflow.
        """,
        """
        ccp predict customers.csv                          writes customers.predictions.csv
        ccp predict customers.parquet --out scored/ --batch-size 4096
        ccp predict customers.csv --version 3 --out v3.csv score with registry version 3
        ccp predict customers.csv --json --quiet > summary.json
        """,
        _cmd_predict,
    )
    predict.add_argument(
        "file", type=Path, metavar="FILE", help=f"rows to score ({', '.join(FORMATS)}), with every feature column"
    )
    predict.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="OUT",
        help="predictions file (.csv or .parquet) or an existing folder (default: FILE_STEM.predictions.SUFFIX beside FILE)",
    )
    predict.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="rows per Triton request (default: %(default)s)",
    )
    predict.add_argument(
        "--version",
        type=positive_int,
        default=None,
        metavar="N",
        help="score with registry version N (must be served: `ccp status`) instead of the champion",
    )
    predict.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (FILE itself is never overwritten)")
    add_quiet(predict)
    add_json(predict, "the summary (rows, output path, seconds, rows/s, versions that answered)")


def _add_stack(sub: argparse._SubParsersAction) -> None:
    stack = command(
        sub,
        "stack",
        "start/stop the local MLflow, Triton and Airflow",
        """
        Control the embedded local stack (MLflow on SQLite, Triton from the nvidia-pytriton wheel,
        Airflow standalone). All its state lives in the runtime folder (CCP_HOME).
        """,
        """
        ccp stack up
        ccp stack down
        ccp stack wipe
        """,
    )
    actions = stack.add_subparsers(
        dest="action", required=True, title="actions", metavar="ACTION", help="run `ccp stack ACTION --help` for details"
    )
    _add_stack_up(actions)
    _add_stack_down_and_wipe(actions)
    _add_stack_pools(actions)


def _add_stack_up(actions: argparse._SubParsersAction) -> None:
    up = command(
        actions,
        "up",
        "start (idempotent) and wait until healthy",
        """
        Start MLflow, Triton and Airflow unless they already run, wait until each answers its
        health check, and create the Airflow pools: `gpu` (one slot per GPU, one on CPU-only hosts,
        shared by every model) and one `champion_changes__<model>` slot per pipeline of the fleet.
        Progress lines go to stdout (to stderr with --json).
        """,
        """
        ccp stack up
        ccp stack up --timeout 600 --json
        """,
        _cmd_up,
    )
    add_timeout(up)
    add_json(up, "each service's state, health URL and log file")


def _add_stack_down_and_wipe(actions: argparse._SubParsersAction) -> None:
    down = command(
        actions,
        "down",
        "stop the services; keeps the runtime folder",
        "Stop Airflow, Triton and MLflow (process groups: TERM, then KILL). Data, registry and logs stay.",
        """
        ccp stack down
        ccp stack down --json
        """,
        _cmd_down,
    )
    add_json(down, "which services were running")
    wipe = command(
        actions,
        "wipe",
        "delete the runtime folder (after down)",
        "Delete the runtime folder (CCP_HOME): data, MLflow store, Triton repository and logs. Refused while a service runs.",
        """
        ccp stack down && ccp stack wipe
        """,
        _cmd_wipe,
    )
    add_json(wipe, "the deleted folder")


def _add_stack_pools(actions: argparse._SubParsersAction) -> None:
    pools = command(
        actions,
        "pools",
        "create or resize the fleet's Airflow pools and list them",
        """
        Create or resize the pool `gpu` (--gpu-slots slots, shared by every model) and one one-slot pool
        `champion_changes__<model>` per pipeline of CCP_PIPELINES, and list them. The Airflow is the
        stack's own whatever is on PATH: through its API while it runs, else its metadata database
        (CCP_HOME/airflow); where no stack ever ran, the Airflow that AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
        or AIRFLOW_HOME names (the compose file's airflow-init runs it so). Run it again after adding a pipeline.
        """,
        """
        ccp stack pools --gpu-slots 2
        """,
        _cmd_pools,
    )
    pools.add_argument("--gpu-slots", type=positive_int, default=1, metavar="N", help="slots of the gpu pool (default: 1)")
    add_json(pools, "the pools set")
