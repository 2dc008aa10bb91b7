"""Serving deployment: which registry versions Triton serves, and how the router routes between them.

Every change keeps requests answered: versions load before the router switches to them and leave
only after it switched away.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from champion_challenger.cycle.context import CycleContext
from champion_challenger.payloads import AliasState
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving import triton_repository
from champion_challenger.serving.routing import RoutingTable

log = logging.getLogger(__name__)


def sync_serving(ctx: CycleContext, versions: list[int] | None = None, state: AliasState | None = None) -> list[int]:
    """Make Triton serve ``versions`` and route by ``state`` (defaults: the registry's aliases;
    champion, challenger and previous served).

    Missing version folders are exported from the registry. Versions load before the router
    switches to them, and versions leave only after it switched away, so every request finds
    its version loaded.

    Returns:
        The versions now served.
    """
    state = state or registry.alias_state(ctx.client, ctx.model_name)
    versions = sorted(set(versions if versions is not None else state.served_versions()))
    if not versions:
        return []
    repository = ctx.settings.triton_repository
    for version in versions:
        if version not in triton_repository.exported_versions(repository, ctx.versions_model):
            _export(ctx, version)
    loaded = set(ctx.triton.ready_versions(ctx.versions_model))
    _load_versions(ctx, sorted(loaded | set(versions)))
    served = triton_repository.served_signature(repository, ctx.versions_model, versions)
    changed = triton_repository.write_router(repository, ctx.model_name, served, routing_table(ctx, state, versions))
    if changed or not ctx.triton.is_ready(ctx.model_name, int(triton_repository.ROUTER_VERSION)):
        started = time.perf_counter()
        ctx.triton.load(ctx.model_name)
        ctx.triton.wait_ready(ctx.model_name, [int(triton_repository.ROUTER_VERSION)])
        log.info("router %s (re)loaded in %.1f s", ctx.model_name, time.perf_counter() - started)
    else:
        log.info("router %s: routing table switched (no reload)", ctx.model_name)
    if loaded - set(versions):
        _load_versions(ctx, versions)
    triton_repository.prune_versions(repository, ctx.versions_model, set(versions))
    log.info("Triton serves %s v%s", ctx.versions_model, ", v".join(str(v) for v in versions))
    return versions


def deploy_challenger(ctx: CycleContext, version: int, shadow_fraction: float | None = None) -> list[int]:
    """Load challenger ``version`` beside the champion; the router mirrors ``shadow_fraction`` of the
    entities to it (default ``serving.shadow_fraction``).

    Returns:
        The versions Triton serves.
    """
    deployment = ctx.with_serving(shadow_fraction=shadow_fraction) if shadow_fraction is not None else ctx
    with ctx.champion_change("deploy_challenger", "cycle"):
        state = registry.alias_state(ctx.client, ctx.model_name)
        if state.challenger != version:
            raise ValueError(f"v{version} is not @challenger of {ctx.model_name} (the registry says {state.challenger})")
        return sync_serving(deployment, state=state)


def stop_serving(ctx: CycleContext) -> None:
    """Unload the router and every version: nothing is served (no champion cleared the floor yet)."""
    ctx.triton.unload(ctx.model_name)
    ctx.triton.unload(ctx.versions_model)


def served_versions(ctx: CycleContext) -> list[int]:
    """The registry versions Triton has ready now."""
    return ctx.triton.ready_versions(ctx.versions_model)


def routing_table(ctx: CycleContext, state: AliasState, served: list[int]) -> RoutingTable:
    """The router's table for ``state``: the challenger is shadowed/canaried only while served; its canary share
    is the step of a progressive canary in progress (``cycle.canary``), else ``serving.canary_fraction``."""
    serving = ctx.config.serving
    challenger = state.challenger if state.challenger in served and state.challenger != state.champion else None
    canary = canaries.in_progress(ctx.client, ctx.model_name, state) if challenger is not None else None
    canary_fraction = canary.fraction if canary is not None else serving.canary_fraction
    return RoutingTable(
        versions_model=ctx.versions_model,
        champion=state.champion,
        challenger=challenger,
        shadow_fraction=serving.shadow_fraction,
        canary_fraction=canary_fraction,
        capture_dir=str(ctx.capture_dir),
        capture_flush_rows=serving.capture_flush_rows,
        capture_flush_seconds=serving.capture_flush_seconds,
        shadow_queue_size=serving.shadow_queue_size,
        prediction_log_fraction=serving.prediction_log_fraction,
        shadow_batch_delay_ms=serving.shadow_batch_delay_ms,
        disagreement_tolerance=serving.disagreement_tolerance,
    )


def _load_versions(ctx: CycleContext, versions: list[int]) -> None:
    """Serve exactly ``versions``; a load only when the config changed or one is not ready
    (an unneeded load would reload the champion)."""
    started = time.perf_counter()
    settings = ctx.settings
    changed = triton_repository.write_model_config(
        settings.triton_repository, ctx.versions_model, versions, settings.triton_onnx_backend, settings.triton_instance_kind
    )
    missing = set(versions) - set(ctx.triton.ready_versions(ctx.versions_model))
    if changed or missing:
        ctx.triton.load(ctx.versions_model)
    ctx.triton.wait_ready(ctx.versions_model, versions)
    if changed or missing:
        repository = ctx.settings.triton_repository
        formats = {v: triton_repository.version_format(repository, ctx.versions_model, v)[0] for v in versions}
        log.info(
            "%s: loaded %s (new: %s) in %.1f s",
            ctx.versions_model,
            ", ".join(f"v{v} [{f}]" for v, f in formats.items()),
            ", ".join(f"v{v}" for v in sorted(missing)) or "none",
            time.perf_counter() - started,
        )


def _export(ctx: CycleContext, version: int) -> None:
    """Download registry ``version`` and write it into the Triton repository."""
    import mlflow

    from champion_challenger.training.pyfunc import ludwig_dir_in, serving_dir_in

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{ctx.model_name}/{version}", dst_path=tmp, tracking_uri=ctx.tracking_uri
            )
        )
        downloaded = time.perf_counter()
        repository = ctx.settings.triton_repository
        triton_repository.export_version(repository, ctx.versions_model, version, ludwig_dir_in(local), serving_dir_in(local))
    served_as, reason = triton_repository.version_format(repository, ctx.versions_model, version)
    log.info(
        "v%d: downloaded in %.1f s, written to the Triton repository in %.1f s, served by %s%s",
        version,
        downloaded - started,
        time.perf_counter() - downloaded,
        served_as,
        f" ({reason})" if reason else "",
    )
