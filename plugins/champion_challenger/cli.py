"""The ``ccp`` command: data generation, stack control, status and the demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from champion_challenger.errors import PipelineError
from champion_challenger.settings import load_settings
from champion_challenger.stack.processes import ServiceStartError

EXIT_USER_ERROR = 2
EXIT_SERVICE_ERROR = 3


def _cmd_generate(args: argparse.Namespace) -> int:
    from champion_challenger.config import PipelineConfig
    from champion_challenger.data.generate import write_batches

    settings = load_settings()
    out = args.out or PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(settings.home)
    paths = write_batches(Path(out), args.batches, start=args.start, drift_at=args.drift_at, seed=args.seed, rows=args.rows)
    print(f"wrote {len(paths)} batch file(s) to {out}: {paths[0].name} .. {paths[-1].name}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from champion_challenger.pipeline import Pipeline
    from champion_challenger.status import collect_status, format_status

    status = collect_status(Pipeline.from_env())
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from champion_challenger import demo
    from champion_challenger.stack import local

    settings = load_settings()
    for service in local.services(settings):
        print(f"starting {service.name} ...", flush=True)
        started = service.start(timeout_s=args.timeout)
        print(f"  {service.name} {'started' if started else 'already running'}: {service.health_url} (log {service.log_file})")
    slots = local.gpu_count() or 1
    demo.airflow_api(settings).ensure_pool("gpu", slots, "GPU training slots (one per GPU; 1 on CPU-only hosts)")
    print(f"  airflow pool 'gpu': {slots} slot(s)")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from champion_challenger.stack import local

    for service in reversed(local.services(load_settings())):
        print(f"{service.name}: {'stopped' if service.stop() else 'not running'}")
    return 0


def _cmd_wipe(args: argparse.Namespace) -> int:
    from champion_challenger.stack import local

    settings = load_settings()
    local.wipe(settings)
    print(f"deleted {settings.home}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from champion_challenger.pipeline import Pipeline

    served = Pipeline.from_env().sync_serving()
    print(f"Triton serves versions {served}" if served else "no champion registered; nothing to serve")
    return 0


def _actor() -> str:
    import getpass

    return getpass.getuser()


def _cmd_promote(args: argparse.Namespace) -> int:
    from champion_challenger.pipeline import Pipeline

    entry = Pipeline.from_env().promote(args.version, args.actor or _actor(), args.reason, action="manual_promote")
    print(json.dumps(entry, indent=2) if args.json else f"v{entry['to_version']} is champion (was v{entry['from_version']})")
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from champion_challenger.pipeline import Pipeline

    entry = Pipeline.from_env().rollback(args.actor or _actor(), args.reason)
    print(json.dumps(entry, indent=2) if args.json else f"rolled back: v{entry['to_version']} is champion (was v{entry['from_version']})")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from champion_challenger.pipeline import Pipeline
    from champion_challenger.registry import ledger

    pipeline = Pipeline.from_env()
    entries = [e.as_dict() for e in ledger.history(pipeline.client, pipeline.config.experiment_name, args.limit)]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        print(f"{e['at']}  {e['action']:<15} v{e['from_version'] or '-'} -> v{e['to_version']}  by {e['actor']}: {e['reason']}")
    if not entries:
        print("no promotion or rollback recorded yet")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from champion_challenger import demo
    from champion_challenger.pipeline import Pipeline
    from champion_challenger.status import collect_status, format_status

    _cmd_up(args)
    settings = load_settings()
    demo.run_demo(settings, seed=args.seed, rows=args.rows)
    print("\n" + format_status(collect_status(Pipeline.from_env())) + "\n")
    for name, url in demo.urls(settings).items():
        print(f"{name:<15} {url}")
    print(f"{'airflow login':<15} {demo.login_hint(settings)}")
    print("The stack keeps running; `make down` stops it, `make wipe` deletes its state.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ccp``."""
    parser = argparse.ArgumentParser(prog="ccp", description="Champion–challenger pipeline tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate-data", help="write synthetic six-hourly churn batches into the landing folder")
    gen.add_argument("--batches", type=int, required=True, help="number of batch files to write")
    gen.add_argument("--drift-at", type=int, default=None, help="index of the first drifted batch (covariate + concept drift)")
    gen.add_argument("--seed", type=int, default=7, help="random seed (same seed and index give the same batch)")
    gen.add_argument("--start", type=int, default=0, help="index of the first batch to write")
    gen.add_argument("--rows", type=int, default=2000, help="rows per batch")
    gen.add_argument("--out", type=Path, default=None, help="output folder (default: the pipeline's landing folder)")
    gen.set_defaults(func=_cmd_generate)

    status = sub.add_parser("status", help="champion, challenger, what Triton serves, last decision")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_cmd_status)

    stack = sub.add_parser("stack", help="start/stop the local MLflow, Triton and Airflow")
    stack_sub = stack.add_subparsers(dest="action", required=True)
    up = stack_sub.add_parser("up", help="start (idempotent) and wait for health")
    up.add_argument("--timeout", type=float, default=240, help="seconds to wait for each service")
    up.set_defaults(func=_cmd_up)
    stack_sub.add_parser("down", help="stop; keeps the runtime folder").set_defaults(func=_cmd_down)
    stack_sub.add_parser("wipe", help="delete the runtime folder (after down)").set_defaults(func=_cmd_wipe)

    sub.add_parser("serve", help="make Triton serve the registry's champion, challenger and previous").set_defaults(func=_cmd_serve)

    promote = sub.add_parser("promote", help="make a registry version champion (smoke-tested, transactional, ledgered)")
    promote.add_argument("--version", type=int, required=True, help="registry version to promote")
    promote.add_argument("--reason", required=True, help="why; recorded in the ledger")
    promote.add_argument("--actor", default=None, help="who (default: your user name)")
    promote.add_argument("--json", action="store_true", help="print the ledger entry as JSON")
    promote.set_defaults(func=_cmd_promote)

    rollback = sub.add_parser("rollback", help="make @previous the champion again")
    rollback.add_argument("--reason", required=True, help="why; recorded in the ledger")
    rollback.add_argument("--actor", default=None, help="who (default: your user name)")
    rollback.add_argument("--json", action="store_true", help="print the ledger entry as JSON")
    rollback.set_defaults(func=_cmd_rollback)

    history = sub.add_parser("history", help="the ledger of promotions and rollbacks, newest first")
    history.add_argument("--limit", type=int, default=50, help="how many entries")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(func=_cmd_history)

    demo = sub.add_parser("demo", help="start the stack and run demo cycles through Airflow")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--rows", type=int, default=2000, help="rows per batch")
    demo.add_argument("--timeout", type=float, default=240, help="seconds to wait for each service")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ccp``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (ServiceStartError, TimeoutError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SERVICE_ERROR


if __name__ == "__main__":
    sys.exit(main())
