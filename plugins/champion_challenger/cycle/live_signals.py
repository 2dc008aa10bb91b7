"""A served version's live signals, judged against the watch's limits: what the post-promotion watch and the
progressive canary both read.

Serving signals are Triton's per-version counters since a baseline (error rate, mean latency); the
label signal is ``watch.label_metric`` of the version's logged live predictions joined with the labels
that arrived since (its answers as champion, or its mirrored answers as challenger).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import numpy as np

from champion_challenger import tags
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.evidence import labelled_rows
from champion_challenger.evaluation.shadow_evidence import pair_with_labels
from champion_challenger.metrics import metric_value
from champion_challenger.policy.watch import WatchFindings, label_findings, serving_findings
from champion_challenger.serving.capture import read_captures
from champion_challenger.serving.triton_metrics import VersionTraffic, fetch_traffic
from champion_challenger.task import encode_labels, stack_scores


def version_traffic(ctx: CycleContext, version: int) -> VersionTraffic:
    """Triton's cumulative counters of one version (zeros when it has served nothing)."""
    return fetch_traffic(ctx.triton_metrics_url, ctx.versions_model).get(version, VersionTraffic())


def live_findings(
    ctx: CycleContext,
    version: int,
    baseline: dict[str, float] | None,
    labels_since: datetime,
    role: Literal["champion", "challenger"] = "champion",
) -> tuple[VersionTraffic, WatchFindings]:
    """``version``'s requests since ``baseline`` and the watch's findings on them and on its labelled live predictions.

    Returns:
        The traffic since the baseline, and what was observed with the limits crossed.
    """
    traffic = version_traffic(ctx, version).since(baseline)
    findings = serving_findings(traffic.requests, traffic.error_rate, traffic.mean_latency_ms, ctx.config.watch)
    return traffic, findings + label_signal(ctx, version, labels_since, role)


def label_signal(
    ctx: CycleContext, version: int, since: datetime, role: Literal["champion", "challenger"] = "champion"
) -> WatchFindings:
    """``watch.label_metric`` of ``version``'s live predictions in ``role`` since ``since``, joined with labels
    that arrived, against its offline value (nothing until ``watch.min_labelled_rows``)."""
    metric = ctx.config.watch.label_metric
    captures = read_captures(ctx.capture_dir, ctx.model_name, since=since)
    captures = captures[captures[f"{role}_version"] == version]
    paired = pair_with_labels(captures, labelled_rows(ctx), ctx.schema, [], ctx.classes)
    y = encode_labels(ctx.task, paired[ctx.schema.target], ctx.classes)
    if len(paired) < 2 or (ctx.task == "binary" and len(np.unique(y)) < 2):
        return WatchFindings()
    live = metric_value(metric, y, stack_scores(paired[role], ctx.task), task=ctx.task)
    tag = ctx.client.get_model_version(ctx.model_name, str(version)).tags.get(tags.metric(metric))
    return label_findings(live, len(paired), None if tag is None else float(tag), ctx.config.watch)
