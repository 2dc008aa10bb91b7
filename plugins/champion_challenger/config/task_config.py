"""The pipeline config's task: read from the candidates' Ludwig output feature, its metric defaults
filled in, and every metric setting checked to fit it (used by :class:`~champion_challenger.config.pipeline.PipelineConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from champion_challenger.config.sections import DecisionConfig, TrainingConfig, WatchConfig, read_yaml
from champion_challenger.errors import ConfigError
from champion_challenger.task import ONLINE_LOSSES, TASK_DEFAULTS, TaskKind, metrics_for, task_of_output


def with_task_defaults(data: dict[str, Any], task: TaskKind) -> dict[str, Any]:
    """``data`` (a raw pipeline config) with the metric keys it leaves out set for ``task``: the
    task's primary metric and guardrails; the selection and watch metrics follow the primary metric."""
    defaults = TASK_DEFAULTS[task]
    sections = {name: _as_dict(data.get(name)) for name in ("training", "decision", "watch")}
    decision = sections["decision"]
    decision.setdefault("primary_metric", defaults["primary_metric"])
    decision.setdefault("guardrails", dict(defaults["guardrails"]))
    decision["online"] = {"loss": defaults["online_loss"], **_as_dict(decision.get("online"))}
    sections["training"].setdefault("selection_metric", decision["primary_metric"])
    sections["watch"].setdefault("label_metric", decision["primary_metric"])
    return {**data, **sections}


def _as_dict(section: Any) -> dict[str, Any]:
    if isinstance(section, BaseModel):
        return section.model_dump(exclude_unset=True)
    return dict(section) if isinstance(section, dict) else {}


def metric_problems(task: TaskKind, decision: DecisionConfig, training: TrainingConfig, watch: WatchConfig) -> list[str]:
    """Each metric setting of a pipeline of ``task`` that does not fit it, naming the key and the valid metrics."""
    valid, guardrails = metrics_for(task), metrics_for(task, guardrail=True)
    named = {
        "decision.primary_metric": (decision.primary_metric, valid),
        "training.selection_metric": (training.selection_metric, valid),
        "watch.label_metric": (watch.label_metric, valid),
        "decision.online.loss": (decision.online.loss, ONLINE_LOSSES[task]),
        **{f"decision.guardrails.{m}": (m, guardrails) for m in decision.guardrails},
    }
    return [
        f"{key}: {value!r} does not fit a {task} target; use one of {', '.join(allowed)}"
        for key, (value, allowed) in named.items()
        if value not in allowed
    ]


def detect_task(candidates: dict[str, Path], target: str, source: Path) -> TaskKind:
    """The task of the pipeline ``source``: the type of the Ludwig output feature named ``target``, the same
    in every candidate (``candidates``: name → Ludwig YAML).

    Only the candidates' YAML is read (no Ludwig import); Ludwig's own schema check comes later.

    Raises:
        ConfigError: a candidate has no single output feature named ``data.target``, its type is not
            binary, category or number, or two candidates disagree (names the files).
    """

    found: dict[str, TaskKind] = {}
    for name, path in candidates.items():
        outputs = read_yaml(path).get("output_features")
        if not isinstance(outputs, list) or len(outputs) != 1 or not isinstance(outputs[0], dict):
            raise ConfigError(f"{path}: output_features must be exactly one feature named {target!r}")
        output = outputs[0]
        if output.get("name") != target:
            raise ConfigError(
                f"{path}: output_features[0].name is {output.get('name')!r}, but data.target in {source} is {target!r}"
            )
        task = task_of_output(str(output.get("type")))
        if task is None:
            raise ConfigError(
                f"{path}: output_features[0].type {output.get('type')!r} is not supported; use binary (binary "
                "classification), category (multiclass) or number (regression)"
            )
        found[f"{name} ({path.name})"] = task
    if len(set(found.values())) > 1:
        raise ConfigError(
            f"{source}: the candidates train different tasks: "
            + ", ".join(f"{name}: {task}" for name, task in found.items())
            + "; every candidate must have the same output feature type"
        )
    return next(iter(found.values()))
