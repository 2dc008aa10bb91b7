"""The ``ccp`` command: data generation, stack control, status, promotion, batch scoring and the demo.

Each subcommand is argument plumbing: it calls one package function and returns an :class:`Output`
that :func:`main` prints, as text for people or, with ``--json``, as one JSON document on stdout
(anything else a command prints then goes to stderr, so stdout stays parseable). Errors go to stderr
with exit code 2 (bad input or config: the message says what to fix) or 3 (a service cannot be
reached or failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from champion_challenger import __version__
from champion_challenger.errors import PipelineError, ServiceUnavailableError
from champion_challenger.settings import load_settings
from champion_challenger.stack.processes import ServiceStartError

if TYPE_CHECKING:
    from champion_challenger.pipeline import Pipeline

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_SERVICE_ERROR = 3
EXIT_INTERRUPTED = 130
#: generate-data shows a progress bar from this many batches on.
PROGRESS_MIN_BATCHES = 5


@dataclass(frozen=True)
class Output:
    """What a command reports: ``data`` for ``--json``, ``text`` for people."""

    data: Any
    text: str


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on stderr only for a person watching: not with --quiet, not into a pipe or file."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _pipeline() -> Pipeline:
    """``Pipeline.from_env()``, after checking MLflow answers (its client would retry for minutes)."""
    from champion_challenger.pipeline import Pipeline, check_mlflow

    pipeline = Pipeline.from_env()
    check_mlflow(pipeline.tracking_uri)
    return pipeline


def _actor() -> str:
    import getpass

    return getpass.getuser()


# ---- commands ---------------------------------------------------------------------------------
def _cmd_generate(args: argparse.Namespace) -> Output:
    from tqdm import tqdm

    from champion_challenger.config import PipelineConfig
    from champion_challenger.data.generate import write_batches

    settings = load_settings()
    out = args.out or PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(settings.home)
    show = _progress(args) and args.batches >= PROGRESS_MIN_BATCHES
    with tqdm(total=args.batches, unit="batch", desc="generating", file=sys.stderr, disable=not show) as bar:
        paths = write_batches(Path(out), args.batches, start=args.start, drift_at=args.drift_at, seed=args.seed,
                              rows=args.rows, on_written=lambda _: bar.update())
    data = {"out_dir": str(out), "files": [str(p) for p in paths], "rows_per_batch": args.rows,
            "drift_at": args.drift_at, "seed": args.seed}
    return Output(data, f"wrote {len(paths)} batch file(s) to {out}: {paths[0].name} .. {paths[-1].name}")


def _cmd_status(args: argparse.Namespace) -> Output:
    from champion_challenger.status import collect_status, format_status

    status = collect_status(_pipeline())
    return Output(status, format_status(status))


def _cmd_predict(args: argparse.Namespace) -> Output:
    from champion_challenger.config import PipelineConfig
    from champion_challenger.serving.batch_scoring import score_file, scoring_schema
    from champion_challenger.serving.triton_client import TritonModelClient

    # Not Pipeline.from_env(): scoring needs neither MLflow nor Ludwig, and starts in a second, not ~15 s.
    settings = load_settings()
    config = PipelineConfig.from_yaml(settings.pipeline_config)
    summary = score_file(
        TritonModelClient(settings.triton_url), scoring_schema(config), config.model_name, args.file, out=args.out,
        batch_size=args.batch_size, version=args.version, progress=_progress(args), overwrite=args.overwrite,
    )
    answered = ", ".join(f"v{v}: {n:,}" for v, n in summary.answered_by.items()) or "-"
    text = (
        f"scored {summary.rows:,} rows with {summary.model} in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:,.0f} rows/s); answered by {answered}\n"
        f"predictions: {summary.output}"
    )
    return Output(summary.as_dict(), text)


def _cmd_up(args: argparse.Namespace) -> Output:
    from champion_challenger import demo
    from champion_challenger.stack import local

    settings = load_settings()
    services = []
    for service in local.services(settings):
        print(f"starting {service.name} ...", flush=True)
        state = "started" if service.start(timeout_s=args.timeout) else "already running"
        services.append({"name": service.name, "state": state, "health_url": service.health_url,
                         "log_file": str(service.log_file)})
        print(f"  {service.name} {state}: {service.health_url} (log {service.log_file})", flush=True)
    slots = local.gpu_count() or 1
    demo.airflow_api(settings).ensure_pool("gpu", slots, "GPU training slots (one per GPU; 1 on CPU-only hosts)")
    return Output({"services": services, "airflow_pool": {"name": "gpu", "slots": slots}},
                  f"  airflow pool 'gpu': {slots} slot(s)")


def _cmd_down(args: argparse.Namespace) -> Output:
    from champion_challenger.stack import local

    stopped = [{"name": s.name, "was_running": s.stop()} for s in reversed(local.services(load_settings()))]
    text = "\n".join(f"{s['name']}: {'stopped' if s['was_running'] else 'not running'}" for s in stopped)
    return Output({"services": stopped}, text)


def _cmd_wipe(args: argparse.Namespace) -> Output:
    from champion_challenger.stack import local

    settings = load_settings()
    local.wipe(settings)
    return Output({"deleted": str(settings.home)}, f"deleted {settings.home}")


def _cmd_serve(args: argparse.Namespace) -> Output:
    pipeline = _pipeline()
    served = pipeline.sync_serving()
    text = f"Triton serves versions {served} of {pipeline.model_name}" if served else "no champion registered; nothing to serve"
    return Output({"model_name": pipeline.model_name, "served_versions": served}, text)


def _cmd_promote(args: argparse.Namespace) -> Output:
    entry = _pipeline().promote(args.version, args.actor or _actor(), args.reason, action="manual_promote")
    return Output(entry, f"v{entry['to_version']} is champion (was v{entry['from_version']})")


def _cmd_rollback(args: argparse.Namespace) -> Output:
    entry = _pipeline().rollback(args.actor or _actor(), args.reason)
    return Output(entry, f"rolled back: v{entry['to_version']} is champion (was v{entry['from_version']})")


def _cmd_recover(args: argparse.Namespace) -> Output:
    outcome = _pipeline().recover()
    if outcome is None:
        return Output({"recovered": None}, "nothing to recover: no champion change was left unfinished")
    return Output(outcome, f"{outcome['recovered']} stopped after {outcome['stopped_after']!r}: "
                           f"{outcome['outcome']}; v{outcome['champion']} is champion and served")


def _cmd_history(args: argparse.Namespace) -> Output:
    from champion_challenger.registry import ledger

    pipeline = _pipeline()
    entries = [e.as_dict() for e in ledger.history(pipeline.client, pipeline.config.experiment_name, args.limit)]
    lines = [
        f"{e['at']}  {e['action']:<15} v{e['from_version'] or '-'} -> v{e['to_version']}  by {e['actor']}: {e['reason']}"
        for e in entries
    ]
    return Output(entries, "\n".join(lines) or "no promotion or rollback recorded yet")


def _cmd_demo(args: argparse.Namespace) -> Output:
    from champion_challenger import demo
    from champion_challenger.status import collect_status, format_status

    stack = _cmd_up(args)
    print(stack.text)
    settings = load_settings()
    cycles = demo.run_demo(settings, seed=args.seed, rows=args.rows)
    status = collect_status(_pipeline())
    urls = demo.urls(settings)
    lines = ["", format_status(status), "", *(f"{name:<15} {url}" for name, url in urls.items())]
    lines += [f"{'airflow login':<15} {demo.login_hint(settings)}",
              "The stack keeps running; `make down` stops it, `make wipe` deletes its state."]
    data = {"cycles": cycles, "status": status, "urls": urls, "airflow_login": json.loads(demo.login_hint(settings))}
    return Output(data, "\n".join(lines))


# ---- parser -----------------------------------------------------------------------------------
def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, with a message saying so."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return convert


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _command(
    sub: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    examples: str,
    func: Callable[[argparse.Namespace], Output] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with a one-line ``summary`` (in ``ccp --help``), a ``description`` and examples."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=textwrap.dedent(description).strip(),
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def _add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON document on stdout (nothing else goes to stdout)")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (it is shown on stderr only when stderr is a terminal)")


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_positive_float, default=240, metavar="SECONDS",
                        help="seconds to wait for each service to become healthy (default: %(default)s)")


def _add_actor_and_reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why; recorded in the ledger (`ccp history`)")
    parser.add_argument("--actor", default=None, help="who, recorded in the ledger (default: your user name)")


TOP_EPILOG = """\
typical session:
  ccp stack up                          start MLflow, Triton and Airflow (`make up`)
  ccp generate-data --batches 4         land four batches; the pipeline DAG trains a challenger
  ccp status                            champion, challenger, what Triton serves, last decision
  ccp predict customers.csv             score a file with the champion
  ccp promote --version 3 --reason "beats v2 on the March holdout"
  ccp history                           who promoted or rolled back what, and why

Every command that prints results takes --json: one JSON document on stdout, nothing else.
`ccp COMMAND --help` describes a command, with examples.

environment (defaults in brackets):
  CCP_HOME              runtime folder: data, MLflow store, Triton repository, logs [./.ccp]
  CCP_PIPELINE_CONFIG   pipeline YAML [configs/pipeline.yaml]
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
    parser.add_argument("--version", action="version", version=f"ccp {__version__}", help="print the version of ccp and exit")
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND",
                                help="run `ccp COMMAND --help` for a command's options and examples")
    _add_generate(sub)
    _add_status(sub)
    _add_predict(sub)
    _add_stack(sub)
    _add_serve(sub)
    _add_promote(sub)
    _add_rollback(sub)
    _add_recover(sub)
    _add_history(sub)
    _add_demo(sub)
    return parser


def _add_generate(sub: argparse._SubParsersAction) -> None:
    gen = _command(
        sub, "generate-data", "write synthetic six-hourly churn batches into the landing folder",
        """
        Write synthetic telecom-churn batch files (CSV, one per six hours) into the pipeline's
        landing folder, where the next pipeline cycle picks them up. A batch is deterministic in
        (seed, index), so batches can be landed one at a time or all at once with the same content.
        From --drift-at on, covariate and concept drift start together.
        """,
        """
        ccp generate-data --batches 4                      batches 0..3 into the landing folder
        ccp generate-data --batches 2 --start 4 --drift-at 5
        ccp generate-data --batches 1 --rows 10000 --out /tmp/rows --json
        """,
        _cmd_generate,
    )
    gen.add_argument("--batches", type=_positive_int, required=True, help="number of batch files to write")
    gen.add_argument("--drift-at", type=_non_negative_int, default=None, metavar="INDEX",
                     help="index of the first drifted batch (covariate + concept drift); default: no drift")
    gen.add_argument("--seed", type=int, default=7, help="random seed; the same seed and index give the same batch (default: %(default)s)")
    gen.add_argument("--start", type=_non_negative_int, default=0, metavar="INDEX", help="index of the first batch to write (default: %(default)s)")
    gen.add_argument("--rows", type=_positive_int, default=2000, help="rows per batch (default: %(default)s)")
    gen.add_argument("--out", type=Path, default=None, metavar="FOLDER", help="output folder (default: the pipeline's landing folder)")
    _add_quiet(gen)
    _add_json(gen, "the written files")


def _add_status(sub: argparse._SubParsersAction) -> None:
    status = _command(
        sub, "status", "champion, challenger, what Triton serves, last decision",
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
    _add_json(status, "the status")


def _add_predict(sub: argparse._SubParsersAction) -> None:
    from champion_challenger.serving.batch_scoring import DEFAULT_BATCH_SIZE, FORMATS

    predict = _command(
        sub, "predict", "score a CSV or Parquet file through Triton (champion, or a given version)",
        f"""
        Score every row of FILE through Triton in batches and write the predictions: the id column
        (when FILE has it), probability, prediction and version (who answered). Rows go to the
        router, so the champion answers as it does online (a canary challenger answers its share
        of entities, keyed by the id column); with --version, that registry version answers
        (Triton model <model>_versions).
        FILE must carry every feature column of the pipeline's schema; its type follows its
        suffix ({', '.join(FORMATS)}). The input is never overwritten; an existing output only
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
    predict.add_argument("file", type=Path, metavar="FILE", help=f"rows to score ({', '.join(FORMATS)}), with every feature column")
    predict.add_argument("--out", type=Path, default=None, metavar="OUT",
                         help="predictions file (.csv or .parquet) or an existing folder "
                         "(default: FILE_STEM.predictions.SUFFIX beside FILE)")
    predict.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                         help="rows per Triton request (default: %(default)s)")
    predict.add_argument("--version", type=_positive_int, default=None, metavar="N",
                         help="score with registry version N (must be served: `ccp status`) instead of the champion")
    predict.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (FILE itself is never overwritten)")
    _add_quiet(predict)
    _add_json(predict, "the summary (rows, output path, seconds, rows/s, versions that answered)")


def _add_stack(sub: argparse._SubParsersAction) -> None:
    stack = _command(
        sub, "stack", "start/stop the local MLflow, Triton and Airflow",
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
    actions = stack.add_subparsers(dest="action", required=True, title="actions", metavar="ACTION",
                                   help="run `ccp stack ACTION --help` for details")
    up = _command(
        actions, "up", "start (idempotent) and wait until healthy",
        """
        Start MLflow, Triton and Airflow unless they already run, wait until each answers its
        health check, and create the Airflow pool `gpu` (one slot per GPU, one on CPU-only
        hosts). Progress lines go to stdout (to stderr with --json).
        """,
        """
        ccp stack up
        ccp stack up --timeout 600 --json
        """,
        _cmd_up,
    )
    _add_timeout(up)
    _add_json(up, "each service's state, health URL and log file")
    down = _command(
        actions, "down", "stop the services; keeps the runtime folder",
        "Stop Airflow, Triton and MLflow (process groups: TERM, then KILL). Data, registry and logs stay.",
        """
        ccp stack down
        ccp stack down --json
        """,
        _cmd_down,
    )
    _add_json(down, "which services were running")
    wipe = _command(
        actions, "wipe", "delete the runtime folder (after down)",
        "Delete the runtime folder (CCP_HOME): data, MLflow store, Triton repository and logs. Refused while a service runs.",
        """
        ccp stack down && ccp stack wipe
        """,
        _cmd_wipe,
    )
    _add_json(wipe, "the deleted folder")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    serve = _command(
        sub, "serve", "make Triton serve the registry's champion, challenger and previous",
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
    _add_json(serve, "the served versions")


def _add_promote(sub: argparse._SubParsersAction) -> None:
    promote = _command(
        sub, "promote", "make a registry version champion (smoke-tested, transactional, ledgered)",
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
    promote.add_argument("--version", type=_positive_int, required=True, metavar="N", help="registry version to promote")
    _add_actor_and_reason(promote)
    _add_json(promote, "the ledger entry")


def _add_rollback(sub: argparse._SubParsersAction) -> None:
    rollback = _command(
        sub, "rollback", "make @previous the champion again",
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
    _add_actor_and_reason(rollback)
    _add_json(rollback, "the ledger entry")


def _add_recover(sub: argparse._SubParsersAction) -> None:
    recover = _command(
        sub, "recover", "finish or undo a champion change that a crash left unfinished",
        """
        A promotion or rollback writes its intent to the registered model (tag
        ccp.pending_transition) before it changes anything. If the process died mid-way, this
        command finishes the change when it had already switched the router, or restores the
        earlier champion otherwise, so @champion and what Triton serves agree again. Every cycle
        and every champion watch runs it first, so it is rarely needed by hand.
        """,
        """
        ccp recover
        ccp recover --json
        """,
        _cmd_recover,
    )
    _add_json(recover, "what was recovered")


def _add_history(sub: argparse._SubParsersAction) -> None:
    history = _command(
        sub, "history", "the ledger of promotions and rollbacks, newest first",
        "List the ledger of champion changes (promotions, manual promotions, rollbacks), newest first.",
        """
        ccp history
        ccp history --limit 5 --json
        """,
        _cmd_history,
    )
    history.add_argument("--limit", type=_positive_int, default=50, metavar="N", help="how many entries (default: %(default)s)")
    _add_json(history, "the entries as a list")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    demo = _command(
        sub, "demo", "start the stack and run demo cycles through Airflow",
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
    demo.add_argument("--rows", type=_positive_int, default=2000, help="rows per batch (default: %(default)s)")
    _add_timeout(demo)
    _add_json(demo, "the cycles, final status and URLs")


# ---- entry point ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ccp``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    stdout = sys.stdout
    try:
        # With --json, stray prints (progress lines, libraries) go to stderr: stdout carries only the JSON.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            output = args.func(args)
    except ServiceUnavailableError as exc:
        return _fail(exc, EXIT_SERVICE_ERROR)
    except PipelineError as exc:
        return _fail(exc, EXIT_USER_ERROR)
    except (ServiceStartError, TimeoutError, RuntimeError) as exc:
        return _fail(exc, EXIT_SERVICE_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(json.dumps(output.data, indent=2, default=str) if args.json else output.text, file=stdout, flush=True)
    return EXIT_OK


def _fail(exc: BaseException, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
