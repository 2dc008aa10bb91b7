"""What is champion, what is challenger, what Triton serves, and the last decision."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from champion_challenger import tags, tracking
from champion_challenger.cycle.context import CycleContext
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import journal
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.routing import ROUTING_FILE, RoutingTable

#: The two metrics the status table shows per task (``ccp status --json`` has every metric).
STATUS_METRICS = {"binary": ("roc_auc", "accuracy"), "multiclass": ("macro_f1", "accuracy"), "regression": ("rmse", "r2")}


def _version_info(ctx: CycleContext, alias: str) -> dict[str, Any] | None:
    version = registry.alias_version(ctx.client, ctx.model_name, alias)
    if version is None:
        return None
    number = int(version.version)
    return {
        "version": number,
        "served_by_triton": ctx.triton.is_ready(ctx.versions_model, number),
        "metrics": {
            k.removeprefix(tags.METRIC_PREFIX): float(v) for k, v in version.tags.items() if k.startswith(tags.METRIC_PREFIX)
        },
        "decision": version.tags.get(tags.DECISION_ACTION),
        "run_id": version.run_id,
        # Logged before exports: Triton serves it from the Ludwig model.
        "serving_format": version.tags.get(tags.SERVING_FORMAT, "ludwig"),
        "serving_fallback_reason": version.tags.get(
            tags.SERVING_FALLBACK_REASON,
            None if tags.SERVING_FORMAT in version.tags else "logged before serving exports existed",
        ),
    }


def collect_status(ctx: CycleContext) -> dict[str, Any]:
    """Status of the registered model, its serving and the latest decision (``ccp status --json``)."""
    return {
        "model_name": ctx.model_name,
        "task": ctx.task,
        "mlflow_tracking_uri": ctx.tracking_uri,
        "triton_url": ctx.triton_url,
        "champion": _version_info(ctx, registry.CHAMPION),
        "challenger": _version_info(ctx, registry.CHALLENGER),
        "previous": _version_info(ctx, registry.PREVIOUS),
        "triton_ready_versions": ctx.triton.ready_versions(ctx.versions_model),
        "router": _router(ctx),
        "last_decision": tracking.cycle_decision(ctx.client, ctx.config.experiment_name),
        "pending_transition": _pending(ctx),
        "canary": _canary(ctx),
        "error_budget": _budget(ctx),
    }


def _budget(ctx: CycleContext) -> dict[str, Any] | None:
    """The lifetime error budget (None when ``decision.error_budget`` is off)."""
    if not ctx.config.decision.error_budget.enabled:
        return None
    from champion_challenger.cycle.error_budget import read_budget

    state = read_budget(ctx)
    return {**asdict(state), "remaining": state.remaining, "next_level": state.next_level()}


def _pending(ctx: CycleContext) -> dict[str, Any] | None:
    """A champion change a crash left unfinished (``ccp recover`` finishes or undoes it)."""
    pending = journal.read(ctx.client, ctx.model_name)
    return None if pending is None else asdict(pending)


def _canary(ctx: CycleContext) -> dict[str, Any] | None:
    """The progressive canary in progress (None: none)."""
    canary = canaries.read(ctx.client, ctx.model_name)
    return None if canary is None else {**asdict(canary), "fraction": canary.fraction, "summary": canary.describe()}


def _router(ctx: CycleContext) -> dict[str, Any] | None:
    """The router's readiness and routing table (None before anything was deployed)."""
    router_dir = ctx.settings.triton_repository / ctx.model_name
    if not (router_dir / ROUTING_FILE).exists():
        return None
    table = RoutingTable.read(router_dir)
    return {"ready": ctx.triton.is_ready(ctx.model_name, 1), **asdict(table)}


def format_status(status: dict[str, Any]) -> str:
    """Human-readable status table."""
    task = status.get("task", "binary")
    lines = [f"Model {status['model_name']} ({task})  (MLflow {status['mlflow_tracking_uri']}, Triton {status['triton_url']})"]
    first, second = STATUS_METRICS[task]
    lines.append(f"{'role':<11}{'version':>8}  {'served':<7}{'as':<7}{first:>9}{second:>10}  decision")
    for role in ("champion", "challenger", "previous"):
        info = status[role]
        if info is None:
            lines.append(f"{role:<11}{'-':>8}")
            continue
        m = info["metrics"]
        lines.append(
            f"{role:<11}{info['version']:>8}  {'yes' if info['served_by_triton'] else 'no':<7}"
            f"{info.get('serving_format', 'ludwig'):<7}"
            f"{m.get(first, float('nan')):>9.4f}{m.get(second, float('nan')):>10.4f}  {info['decision'] or '-'}"
        )
    for role in ("champion", "challenger", "previous"):
        info = status[role]
        if info and info.get("serving_fallback_reason"):
            lines.append(f"{role} v{info['version']} is served by the Ludwig path: {info['serving_fallback_reason']}")
    router = status.get("router")
    if router:
        lines.append(
            f"router {status['model_name']}: {'ready' if router['ready'] else 'NOT READY'}, answers with v{router['champion']}"
            + (
                f", challenger v{router['challenger']} shadow {router['shadow_fraction']:.0%} "
                f"canary {router['canary_fraction']:.0%}"
                if router["challenger"]
                else ""
            )
        )
    canary = status.get("canary")
    if canary:
        lines.append(
            f"{canary['summary']} since {canary['step_started_at']} (started {canary['started_at']} by {canary['actor']})"
        )
    pending = status.get("pending_transition")
    if pending:
        lines.append(
            f"UNFINISHED {pending['action']} to v{pending['target']['champion']} (stopped after "
            f"{pending['step']!r}, started {pending['started_at']}): run `ccp recover`"
        )
    budget = status.get("error_budget")
    if budget:
        lines.append(
            f"error budget: {budget['alpha']:.0%} lifetime chance of a false promotion; {budget['tests']} challenger(s) "
            f"judged; next test at {budget['next_level']:.3%}; {budget['remaining']:.3%} left for all later tests"
        )
    last = status["last_decision"]
    if last:
        lines.append(f"last decision: {last['action']} at {last['at']}: {last['reason']}")
    return "\n".join(lines)


def collect_fleet_status(contexts: dict[str, CycleContext | str]) -> list[dict[str, Any]]:
    """One row per pipeline of the fleet: its champion, challenger, what Triton serves and the last decision.

    Args:
        contexts: model name → its context, or the reason the pipeline cannot run (an invalid YAML).
    """
    rows = []
    for model, ctx in contexts.items():
        if isinstance(ctx, str):
            rows.append({"model_name": model, "error": ctx})
            continue
        status = collect_status(ctx)
        rows.append({
            "model_name": model,
            "task": status["task"],
            "champion": (status["champion"] or {}).get("version"),
            "challenger": (status["challenger"] or {}).get("version"),
            "triton_ready_versions": status["triton_ready_versions"],
            "last_decision": status["last_decision"],
            "pending_transition": status["pending_transition"],
            "canary": (status["canary"] or {}).get("summary"),
        })  # fmt: skip
    return rows


def format_fleet_status(rows: list[dict[str, Any]]) -> str:
    """The fleet as one table (``ccp status`` when CCP_PIPELINES holds several pipelines)."""
    lines = [f"{'model':<24}{'task':<12}{'champion':>9}{'challenger':>11}  {'Triton serves':<14}last decision"]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['model_name']:<24}CANNOT RUN: {row['error'].splitlines()[0]}")
            continue
        last = row["last_decision"]
        decision = f"{last['action']} at {last['at']}" if last else "-"
        if row["pending_transition"]:
            decision += " (UNFINISHED change: ccp recover --model NAME)"
        if row.get("canary"):
            decision += f"; {row['canary']}"
        lines.append(
            f"{row['model_name']:<24}{row['task']:<12}{_v(row['champion']):>9}{_v(row['challenger']):>11}  "
            f"{', '.join(f'v{v}' for v in row['triton_ready_versions']) or '-':<14}{decision}"
        )
    lines.append("`ccp status --model NAME` shows one model's metrics, router and error budget.")
    return "\n".join(lines)


def _v(version: int | None) -> str:
    return f"v{version}" if version else "-"
