"""What is champion, what is challenger, what Triton serves, and the last decision."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from champion_challenger import tracking
from champion_challenger.pipeline import METRIC_TAG_PREFIX, Pipeline
from champion_challenger.registry import journal
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.routing import ROUTING_FILE, RoutingTable


def _version_info(pipeline: Pipeline, alias: str) -> dict[str, Any] | None:
    version = registry.alias_version(pipeline.client, pipeline.model_name, alias)
    if version is None:
        return None
    number = int(version.version)
    return {
        "version": number,
        "served_by_triton": pipeline.triton.is_ready(pipeline.versions_model, number),
        "metrics": {
            k[len(METRIC_TAG_PREFIX):]: float(v) for k, v in version.tags.items() if k.startswith(METRIC_TAG_PREFIX)
        },
        "decision": version.tags.get("ccp.decision"),
        "run_id": version.run_id,
    }


def collect_status(pipeline: Pipeline) -> dict[str, Any]:
    """Status of the registered model, its serving and the latest decision (``ccp status --json``)."""
    return {
        "model_name": pipeline.model_name,
        "mlflow_tracking_uri": pipeline.tracking_uri,
        "triton_url": pipeline.triton_url,
        "champion": _version_info(pipeline, registry.CHAMPION),
        "challenger": _version_info(pipeline, registry.CHALLENGER),
        "previous": _version_info(pipeline, registry.PREVIOUS),
        "triton_ready_versions": pipeline.triton.ready_versions(pipeline.versions_model),
        "router": _router(pipeline),
        "last_decision": tracking.cycle_decision(pipeline.client, pipeline.config.experiment_name),
        "pending_transition": _pending(pipeline),
    }


def _pending(pipeline: Pipeline) -> dict[str, Any] | None:
    """A champion change a crash left unfinished (``ccp recover`` finishes or undoes it)."""
    pending = journal.read(pipeline.client, pipeline.model_name)
    return None if pending is None else asdict(pending)


def _router(pipeline: Pipeline) -> dict[str, Any] | None:
    """The router's readiness and routing table (None before anything was deployed)."""
    router_dir = pipeline.settings.triton_repository / pipeline.model_name
    if not (router_dir / ROUTING_FILE).exists():
        return None
    table = RoutingTable.read(router_dir)
    return {"ready": pipeline.triton.is_ready(pipeline.model_name, 1), **asdict(table)}


def format_status(status: dict[str, Any]) -> str:
    """Human-readable status table."""
    lines = [f"Model {status['model_name']}  (MLflow {status['mlflow_tracking_uri']}, Triton {status['triton_url']})"]
    lines.append(f"{'role':<11}{'version':>8}  {'served':<7}{'roc_auc':>8}{'accuracy':>10}  decision")
    for role in ("champion", "challenger", "previous"):
        info = status[role]
        if info is None:
            lines.append(f"{role:<11}{'-':>8}")
            continue
        m = info["metrics"]
        lines.append(
            f"{role:<11}{info['version']:>8}  {'yes' if info['served_by_triton'] else 'no':<7}"
            f"{m.get('roc_auc', float('nan')):>8.4f}{m.get('accuracy', float('nan')):>10.4f}  {info['decision'] or '-'}"
        )
    router = status.get("router")
    if router:
        lines.append(
            f"router {status['model_name']}: {'ready' if router['ready'] else 'NOT READY'}, answers with v{router['champion']}"
            + (f", challenger v{router['challenger']} shadow {router['shadow_fraction']:.0%} canary {router['canary_fraction']:.0%}"
               if router["challenger"] else "")
        )
    pending = status.get("pending_transition")
    if pending:
        lines.append(f"UNFINISHED {pending['action']} to v{pending['target']['champion']} (stopped after "
                     f"{pending['step']!r}, started {pending['started_at']}): run `ccp recover`")
    last = status["last_decision"]
    if last:
        lines.append(f"last decision: {last['action']} at {last['at']}: {last['reason']}")
    return "\n".join(lines)
