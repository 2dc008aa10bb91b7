"""Parsers of the subcommands that change or show the champion: serve, promote, rollback, recover, history,
report, exporter, protect, demo."""

from __future__ import annotations

import argparse

from champion_challenger.cli.arguments import add_actor_and_reason, add_json, add_timeout, add_wait, command, positive_int
from champion_challenger.cli.commands import (
    _cmd_demo,
    _cmd_exporter,
    _cmd_history,
    _cmd_promote,
    _cmd_protect,
    _cmd_recover,
    _cmd_report,
    _cmd_rollback,
    _cmd_serve,
)


def add_serve(sub: argparse._SubParsersAction) -> None:
    serve = command(
        sub,
        "serve",
        "make Triton serve the registry's champion, challenger and previous",
        """
        Export the registry's champion, challenger and previous champion into the Triton model
        repository, load them, and point the router at the champion. Idempotent; versions load
        before the router switches, so clients never see a missing version.
        """,
        """
        ccp serve
        ccp serve --json
        """,
        _cmd_serve,
    )
    add_wait(serve)
    add_json(serve, "the served versions")


def add_promote(sub: argparse._SubParsersAction) -> None:
    promote = command(
        sub,
        "promote",
        "make a registry version champion (smoke-tested, transactional, ledgered)",
        """
        Make a registry version the champion: it is loaded in Triton and smoke-tested first; the
        aliases move and the router switches as one transaction (restored on failure); the move
        is recorded in the ledger with who and why.
        """,
        """
        ccp promote --version 3 --reason "beats v2 on the March holdout"
        ccp promote --version 3 --reason "hotfix" --actor oncall --json
        """,
        _cmd_promote,
    )
    promote.add_argument("--version", type=positive_int, required=True, metavar="N", help="registry version to promote")
    add_actor_and_reason(promote)
    add_wait(promote)
    add_json(promote, "the ledger entry")


def add_rollback(sub: argparse._SubParsersAction) -> None:
    rollback = command(
        sub,
        "rollback",
        "make @previous the champion again",
        """
        Make the previous champion (alias @previous) the champion again, as one transaction like
        promote, recorded in the ledger.
        """,
        """
        ccp rollback --reason "error rate up after promotion"
        ccp rollback --reason "bad release" --json
        """,
        _cmd_rollback,
    )
    add_actor_and_reason(rollback)
    add_wait(rollback)
    add_json(rollback, "the ledger entry")


def add_recover(sub: argparse._SubParsersAction) -> None:
    recover = command(
        sub,
        "recover",
        "finish or undo a champion change that a crash left unfinished",
        """
        A promotion or rollback writes its intent to the registered model (tag
        ccp.pending_transition) before it changes anything. If the process died mid-way, this
        command finishes the change when it had already switched the router, or restores the
        earlier champion otherwise, so @champion and what Triton serves agree again. Every cycle
        and every champion watch runs it first, so it is rarely needed by hand. A change whose
        process is still running holds the model's lease and is left alone: recover waits for it
        (--wait), and a dead process's lease expires after changes.lease_seconds.
        """,
        """
        ccp recover
        ccp recover --json
        """,
        _cmd_recover,
    )
    add_wait(recover)
    add_json(recover, "what was recovered")


def add_history(sub: argparse._SubParsersAction) -> None:
    history = command(
        sub,
        "history",
        "the ledger of promotions and rollbacks, newest first",
        "List the ledger of champion changes (promotions, manual promotions, rollbacks), newest first.",
        """
        ccp history
        ccp history --limit 5 --json
        """,
        _cmd_history,
    )
    history.add_argument("--limit", type=positive_int, default=50, metavar="N", help="how many entries (default: %(default)s)")
    add_json(history, "the entries as a list")


def add_report(sub: argparse._SubParsersAction) -> None:
    report = command(
        sub,
        "report",
        "deployment metrics: promotion and change-failure rates, time to restore, lead time",
        "Deployment metrics of the model, from the promotion ledger and the cycle runs in MLflow: promotion rate, "
        "change-failure rate (promotions rolled back within watch.window_hours), mean time to restore, lead time "
        "from data landing to champion serving, and the shares of cycles skipped, held, rejected and failed. "
        "Each cycle also logs them to its MLflow run as deploy_* metrics.",
        """
        ccp report
        ccp report --json
        """,
        _cmd_report,
    )
    add_json(report, "the metrics as one object")


def add_exporter(sub: argparse._SubParsersAction) -> None:
    exporter = command(
        sub,
        "exporter",
        "serve every model's deployment metrics to Prometheus at /metrics",
        "Serve the deployment metrics of every pipeline of the fleet (what `ccp report` prints) in Prometheus' "
        "text format at http://HOST:PORT/metrics, one ccp_deploy_* gauge per figure with a model label; MLflow is "
        "read at most once per --cache-seconds. The compose stack runs it as the ccp-exporter service, scraped by "
        "Prometheus and shown on Grafana's dashboard.",
        """
        ccp exporter                         # http://127.0.0.1:9108/metrics
        ccp exporter --host 0.0.0.0 --port 9108 --cache-seconds 120
        """,
        _cmd_exporter,
    )
    exporter.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    exporter.add_argument("--port", type=int, default=9108, help="port to listen on (default: %(default)s)")
    exporter.add_argument("--cache-seconds", type=float, default=60, help="read MLflow at most this often (default: %(default)s)")
    add_json(exporter, '{"stopped": true} when stopped (the metrics themselves are served over HTTP)')


def add_protect(sub: argparse._SubParsersAction) -> None:
    protect = command(
        sub,
        "protect",
        "let only the pipeline's service user change the registered model (MLflow basic auth)",
        "On an MLflow server with basic auth (`mlflow server --app-name basic-auth`, default_permission READ), make the "
        "pipeline's service user the one non-admin user who may change the registered model (aliases such as "
        "@champion, tags, versions) and its experiments; everyone else reads. Run it with an admin's "
        "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD; CCP_SERVICE_PASSWORD creates the service user when missing. "
        "The compose stack's airflow-init runs it.",
        """
        MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=... ccp protect --service-user ccp-pipeline
        """,
        _cmd_protect,
    )
    protect.add_argument("--service-user", required=True, metavar="USER", help="the MLflow user the pipeline signs in as")
    add_json(protect, "what was set up")


def add_demo(sub: argparse._SubParsersAction) -> None:
    demo = command(
        sub,
        "demo",
        "start the stack and run demo cycles through Airflow",
        """
        Start the stack (like `ccp stack up`), then land batches over several cycles and run
        each cycle through the Airflow DAG: a first champion, challengers that hold, and drift
        that leads to a promotion. Prints the final status and where to look. Takes minutes.
        """,
        """
        ccp demo
        ccp demo --rows 5000 --seed 11
        """,
        _cmd_demo,
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the generated batches (default: %(default)s)")
    demo.add_argument("--rows", type=positive_int, default=2000, help="rows per batch (default: %(default)s)")
    add_timeout(demo)
    add_json(demo, "the cycles, final status and URLs")
