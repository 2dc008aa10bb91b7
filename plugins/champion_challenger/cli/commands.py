"""The bodies of the ``ccp`` subcommands: each calls one package function and returns an :class:`Output`.

:func:`champion_challenger.cli.main` prints that output, as text or (with ``--json``) as one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from champion_challenger.cli.output import Output
from champion_challenger.config.settings import load_settings
from champion_challenger.errors import ConfigError

if TYPE_CHECKING:
    from champion_challenger.cycle.context import CycleContext

#: generate-data shows a progress bar from this many batches on.
PROGRESS_MIN_BATCHES = 5


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on stderr only for a person watching: not with --quiet, not into a pipe or file."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _context(args: argparse.Namespace | None = None, model: str | None = None) -> CycleContext:
    """``CycleContext.from_env()`` of the selected pipeline (or ``model``), after checking MLflow answers (its
    client would retry for minutes); a ``--wait`` given on the command line replaces ``changes.wait_seconds``."""
    from champion_challenger.cycle.context import CycleContext, check_mlflow

    ctx = CycleContext.from_env(model=model)
    check_mlflow(ctx.tracking_uri)
    wait = getattr(args, "wait", None)
    if wait is not None:
        changes = ctx.config.changes.model_copy(update={"wait_seconds": wait})
        ctx.config = ctx.config.model_copy(update={"changes": changes})
    return ctx


def _fleet_contexts() -> list[CycleContext]:
    """The selected pipeline's context (``--model`` / ``CCP_MODEL``), else one per runnable pipeline of the fleet."""
    from champion_challenger.config.settings import load_fleet

    if load_settings().model:
        return [_context()]
    return [_context(model=p.name) for p in load_fleet(runnable_only=True)]


def _actor() -> str:
    import getpass

    return getpass.getuser()


def _cmd_generate(args: argparse.Namespace) -> Output:
    from tqdm import tqdm

    from champion_challenger.config.pipeline import PipelineConfig
    from champion_challenger.data.generate import write_batches

    settings = load_settings()
    config = PipelineConfig.from_yaml(settings.pipeline_config) if args.out is None or args.task is None else None
    out = args.out or config.landing_dir(settings.home)
    task = args.task or config.task
    if args.out is None and task != config.task:
        raise ConfigError(
            f"--task {task}: the pipeline config {settings.pipeline_config} trains a {config.task} model, so its landing "
            f"folder would quarantine {task} batches; pass --out FOLDER, or set CCP_PIPELINES to a {task} pipeline "
            f"(configs/examples/{task}/pipeline.yaml)"
        )
    show = _progress(args) and args.batches >= PROGRESS_MIN_BATCHES
    with tqdm(total=args.batches, unit="batch", desc="generating", file=sys.stderr, disable=not show) as bar:
        paths = write_batches(
            Path(out),
            args.batches,
            start=args.start,
            drift_at=args.drift_at,
            seed=args.seed,
            rows=args.rows,
            on_written=lambda _: bar.update(),
            task=task,
        )
    data = {
        "out_dir": str(out),
        "files": [str(p) for p in paths],
        "task": task,
        "rows_per_batch": args.rows,
        "drift_at": args.drift_at,
        "seed": args.seed,
    }
    return Output(data, f"wrote {len(paths)} batch file(s) to {out}: {paths[0].name} .. {paths[-1].name} ({task} data)")


def _cmd_init(args: argparse.Namespace) -> Output:
    from champion_challenger.data.onboarding import InitRequest, init_pipeline, next_steps

    request = InitRequest(
        data=args.data,
        target=args.target,
        name=args.name,
        out=args.out,
        id_column=args.id_column,
        timestamp_column=args.timestamp_column,
        task=args.task,
        land=not args.no_land,
        force=args.force,
    )
    settings = load_settings()
    result = init_pipeline(request, settings.home)
    return Output(result.as_dict(), next_steps(result, settings.airflow_port))


def _cmd_status(args: argparse.Namespace) -> Output:
    from champion_challenger.cli.status import collect_fleet_status, collect_status, format_fleet_status, format_status
    from champion_challenger.config.settings import load_fleet

    settings = load_settings()
    fleet = load_fleet()
    if settings.model or len(fleet) <= 1:
        status = collect_status(_context())
        return Output(status, format_status(status))
    contexts = {p.name: p.error or _context(model=p.name) for p in fleet}
    rows = collect_fleet_status(contexts)
    return Output({"models": rows}, format_fleet_status(rows))


def _cmd_predict(args: argparse.Namespace) -> Output:
    from champion_challenger.config.pipeline import PipelineConfig
    from champion_challenger.serving.batch_scoring import score_file, scoring_schema
    from champion_challenger.serving.triton_client import TritonModelClient

    # Not CycleContext.from_env(): scoring needs neither MLflow nor Ludwig, and starts in a second, not ~15 s.
    settings = load_settings()
    config = PipelineConfig.from_yaml(settings.pipeline_config)
    summary = score_file(
        TritonModelClient(settings.triton_url),
        scoring_schema(config),
        config.model_name,
        args.file,
        out=args.out,
        batch_size=args.batch_size,
        version=args.version,
        progress=_progress(args),
        overwrite=args.overwrite,
    )
    answered = ", ".join(f"v{v}: {n:,}" for v, n in summary.answered_by.items()) or "-"
    text = (
        f"scored {summary.rows:,} rows with {summary.model} in {summary.seconds:.2f} s "
        f"({summary.rows_per_second:,.0f} rows/s); answered by {answered}\n"
        f"predictions: {summary.output}"
    )
    return Output(summary.as_dict(), text)


def _cmd_up(args: argparse.Namespace) -> Output:
    from champion_challenger.config.settings import load_fleet
    from champion_challenger.stack import local
    from champion_challenger.stack.pools import ApiPools, fleet_pools, sync_pools

    settings = load_settings()
    services = []
    for service in local.services(settings):
        print(f"starting {service.name} ...", flush=True)
        state = "started" if service.start(timeout_s=args.timeout) else "already running"
        services.append(
            {"name": service.name, "state": state, "health_url": service.health_url, "log_file": str(service.log_file)}
        )
        print(f"  {service.name} {state}: {service.health_url} (log {service.log_file})", flush=True)
    wanted = fleet_pools([p.name for p in load_fleet()], local.gpu_count() or 1)
    changes = sync_pools(ApiPools(local.airflow_api(settings)), wanted)
    return Output(
        {"services": services, "airflow_pools": [c.as_dict() for c in changes]},
        "\n".join(f"  {c.describe()}" for c in changes),
    )


def _cmd_pools(args: argparse.Namespace) -> Output:
    from champion_challenger.config.settings import load_fleet
    from champion_challenger.stack import local
    from champion_challenger.stack.pools import fleet_pools, sync_pools

    store = local.pool_store(load_settings())
    changes = sync_pools(store, fleet_pools([p.name for p in load_fleet()], args.gpu_slots))
    text = "\n".join([f"pools of the {store.where}:", *(f"  {c.describe()}" for c in changes)])
    return Output({"airflow": store.where, "airflow_pools": [c.as_dict() for c in changes]}, text)


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
    from champion_challenger.cycle.serving_deployment import sync_serving

    ctx = _context(args)
    with ctx.champion_change("serve", _actor()):
        served = sync_serving(ctx)
    text = f"Triton serves versions {served} of {ctx.model_name}" if served else "no champion registered; nothing to serve"
    return Output({"model_name": ctx.model_name, "served_versions": served}, text)


def _cmd_promote(args: argparse.Namespace) -> Output:
    from champion_challenger.cycle.transitions import promote

    entry = promote(_context(args), args.version, args.actor or _actor(), args.reason, action="manual_promote")
    return Output(entry, f"v{entry['to_version']} is champion (was v{entry['from_version']})")


def _cmd_rollback(args: argparse.Namespace) -> Output:
    from champion_challenger.cycle.transitions import rollback

    entry = rollback(_context(args), args.actor or _actor(), args.reason)
    return Output(entry, f"rolled back: v{entry['to_version']} is champion (was v{entry['from_version']})")


def _cmd_recover(args: argparse.Namespace) -> Output:
    from champion_challenger.cycle.transitions import recover

    outcome = recover(_context(args), _actor())
    if outcome is None:
        return Output({"recovered": None}, "nothing to recover: no champion change was left unfinished")
    return Output(
        outcome,
        f"{outcome['recovered']} stopped after {outcome['stopped_after']!r}: "
        f"{outcome['outcome']}; v{outcome['champion']} is champion and served",
    )


def _cmd_history(args: argparse.Namespace) -> Output:
    from champion_challenger.registry import ledger

    ctx = _context()
    entries = [e.as_dict() for e in ledger.history(ctx.client, ctx.config.experiment_name, args.limit)]
    lines = [
        f"{e['at']}  {e['action']:<15} v{e['from_version'] or '-'} -> v{e['to_version']}  by {e['actor']}: {e['reason']}"
        for e in entries
    ]
    return Output(entries, "\n".join(lines) or "no promotion or rollback recorded yet")


def _cmd_report(args: argparse.Namespace) -> Output:
    from champion_challenger.registry import deployment_metrics

    reports = {}
    for ctx in _fleet_contexts():
        config = ctx.config
        reports[ctx.model_name] = deployment_metrics.collect(
            ctx.client, ctx.model_name, config.experiment_name, config.watch.window_hours
        )
    if len(reports) == 1:
        (figures,) = reports.values()
        return Output(figures.as_dict(), deployment_metrics.format_report(figures))
    text = "\n\n".join(deployment_metrics.format_report(f) for f in reports.values())
    return Output({"models": {m: f.as_dict() for m, f in reports.items()}}, text)


def _cmd_exporter(args: argparse.Namespace) -> Output:
    import sys

    from champion_challenger.cli import metrics_exporter

    reports = metrics_exporter.CachedReports(metrics_exporter.collect_fleet, args.cache_seconds)
    server = metrics_exporter.metrics_server(reports, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"deployment metrics of every model at http://{host}:{port}/metrics (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return Output({"stopped": True}, "exporter stopped")


def _cmd_protect(args: argparse.Namespace) -> Output:
    import os

    from champion_challenger.registry.permissions import protect_champion

    results, lines = [], []
    for ctx in _fleet_contexts():
        experiments = [ctx.config.experiment_name, f"{ctx.config.experiment_name}-ledger"]
        done = protect_champion(
            ctx.tracking_uri, ctx.model_name, experiments, args.service_user, os.environ.get("CCP_SERVICE_PASSWORD")
        )
        created = " (user created)" if done.created_user else ""
        results.append(done.as_dict())
        lines.append(
            f"{done.service_user}{created} now manages {done.model_name} and the experiments {', '.join(experiments)}; "
            "every other non-admin user can read them and change nothing"
        )
    return Output(results[0] if len(results) == 1 else {"models": results}, "\n".join(lines))


def _cmd_demo(args: argparse.Namespace) -> Output:
    from champion_challenger.cli import demo
    from champion_challenger.cli.status import collect_status, format_status

    stack = _cmd_up(args)
    print(stack.text)
    settings = load_settings()
    cycles = demo.run_demo(settings, seed=args.seed, rows=args.rows)
    status = collect_status(_context())
    urls = demo.urls(settings)
    lines = ["", format_status(status), "", *(f"{name:<15} {url}" for name, url in urls.items())]
    lines += [
        f"{'airflow login':<15} {demo.login_hint(settings)}",
        "The stack keeps running; `make down` stops it, `make wipe` deletes its state.",
    ]
    data = {"cycles": cycles, "status": status, "urls": urls, "airflow_login": json.loads(demo.login_hint(settings))}
    return Output(data, "\n".join(lines))
